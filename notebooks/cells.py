"""Cell constructors for the notebook sources (``build_notebooks.py`` and ``nb_*.py``)."""

from __future__ import annotations

import textwrap

import nbformat


def md(text: str):
    return nbformat.v4.new_markdown_cell(textwrap.dedent(text).strip())


def code(text: str, *tags: str):
    cell = nbformat.v4.new_code_cell(textwrap.dedent(text).strip())
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def parameters(text: str):
    """The one cell tagged ``parameters`` that papermill overrides."""
    return code(text, "parameters")


#: the first code cell of every analysis notebook: load the model (or the labelled untrained fallback)
LOAD_MODEL = """
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ldarnet.commands.demo import DEFAULT_CHECKPOINT, load_model
from ldarviz.provenance import checkpoint_hash, make_provenance
from ldarviz.workbench import display_path, write_summary

out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
model, source = load_model(checkpoint, seed)
model = model.to(device).eval()
trained = not source.startswith("UNTRAINED")
weights = Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT
if trained:
    print(f"model: {display_path(weights)} (sha256 {checkpoint_hash(weights)[:12]})")
else:
    print(f"model: UNTRAINED ldarnet-proxy, seed {seed}: no checkpoint at {display_path(weights)}.")
    print("Its boundaries are those of random weights and say nothing about biology.")
"""
