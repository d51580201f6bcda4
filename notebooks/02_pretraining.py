# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Pretraining: loss and compression curves
#
# LDARNet is pretrained with masked-language modelling (predict 15% of bases from the rest) plus a
# **ratio loss** that pulls the router towards one boundary every `target_ratio` bases. This
# notebook first reads the training log of the shipped checkpoint (`metrics.jsonl`, one line per
# optimiser step), then runs a short pretraining of the tiny test model on the bundled real
# sequences so you can watch the same quantities live.

# %% tags=["parameters"]
checkpoint = None  # model folder (its metrics.jsonl, if any, is drawn); None: the shipped checkpoint
fasta = ["../data/athal_chr1_1000000_1200000.fa", "../data/scer_chrI.fa", "../data/celegans_chrX_5000000_5200000.fa"]
out_dir = "../reports/notebooks/02_pretraining"
seed = 0
device = "cpu"
steps = 20  # optimiser steps of the live run
seq_len = 256
batch_size = 4
held_out = "chrX_5000000_5200000"  # the live run's validation record (C. elegans), for path reliance

# %%
from pathlib import Path

import matplotlib.pyplot as plt

import ldarviz
from ldarviz.plots import last_step, plot_loss, plot_training_run, read_metrics
from ldarviz.provenance import make_provenance, save_figure
from ldarviz.workbench import display_path, write_summary

ldarviz.set_reproducible(seed)  # one thread, deterministic kernels, seeded: the same numbers on every run
out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
loaded = ldarviz.load_model(checkpoint, seed=seed, device=device)  # a missing checkpoint stops the notebook here
print("model:", loaded.label)
log = loaded.path / "metrics.jsonl" if loaded.trained else None
has_log = log is not None and log.is_file()
print(f"training log: {display_path(log)}" if has_log else "training log: none beside the weights (no curves to show)")

# %% [markdown]
# ## Figure 1: the shipped run
#
# **How to read it.** Left: total loss and its MLM part per optimiser step (natural-log units; 1.386 =
# log 4 is a model that guesses bases uniformly, slightly less is what base composition alone gives).
# Right: realised compression (input length / number of chunks) against the target (dashed). The
# line is the rate on the training windows as the model saw them, masked; with mask protection every
# [MASK] is a boundary whatever the router says, so that line sits below the target. The dots, where
# the log has path-reliance records, are the router's own rate on held-out windows with nothing
# masked: the rate the model shows at inference. Logs of earlier attempts kept beside the weights
# (`<label>_metrics.jsonl`) are drawn too, on a log axis so that a collapse to one chunk per window
# shows.

# %%
summary = loaded.provenance()
if has_log:
    fig = plot_training_run(loaded.path, save_path=out / "shipped_run.png",
                            provenance=make_provenance(model=loaded, inputs=[log], seed=seed))
    plt.close(fig)
    summary["shipped"] = last_step(log)
    display(fig)
summary

# %% [markdown]
# ## Does the model use its chunks? Path reliance
#
# Each chunking stage hands the decoder two routes: the dechunked chunk/backbone path and the
# encoder's residual skip. Zeroing one and re-measuring the held-out MLM loss says how much the
# model relies on it (`ldarnet.training.evaluate_reliance`; `reliance.json` beside the checkpoint,
# written by the script its model card names). Two baselines that use no model put the numbers on a
# scale: the base composition of the masked targets, and a table predicting a base from its ±3
# neighbours counted on the training windows. A model whose boundaries matter pays for losing its
# chunk path; one that predicts through its skip barely notices, and its boundary profiles then
# describe a router the loss ignores.

# %%
import json

import pandas as pd

from ldarnet.training import reliance_rows, reliance_verdict

reliance_file = loaded.path / "reliance.json" if loaded.trained else None
if reliance_file is not None and reliance_file.is_file():
    reliance = json.loads(reliance_file.read_text())
    summary["reliance"] = {"verdict": reliance_verdict(reliance), "record": display_path(reliance_file)}
    print(f"{reliance['windows']} held-out windows, {reliance['masked_tokens']:,} masked bases "
          f"({reliance.get('command', 'command not recorded')})")
    print(reliance_verdict(reliance))
    display(pd.DataFrame(reliance_rows(reliance)).round(4))
else:
    print("no reliance.json beside the weights: measure it with ldarnet.training.evaluate_reliance "
          "(or `ldarnet pretrain --reliance-every K` while training)")

# %% [markdown]
# ## A short live run
#
# `ldarnet.training.pretrain` is the function behind `ldarnet pretrain`: random windows from the
# FASTA files (windows with too many N skipped, reverse-complemented half the time), MLM masking,
# AdamW with a warmup-stable-decay schedule, atomic checkpoints and a `metrics.jsonl` log. Here it
# trains `ldarnet-tiny` for a few steps with the C. elegans record held out, and measures path
# reliance on held-out windows at its last step (`reliance_every`), as `ldarnet pretrain
# --reliance-every K` logs it; the numbers are a smoke test, not a trained model.

# %%
import shutil

from ldarnet.training import pretrain

shutil.rmtree(out / "live_run", ignore_errors=True)  # a fresh live run each time (pretrain refuses to overwrite one)
result = pretrain(config="ldarnet-tiny", fasta=fasta, out=out / "live_run", steps=steps, batch_size=batch_size,
                  seq_len=seq_len, checkpoint_every=steps, seed=seed, device=device, progress=False,
                  val_records=[held_out], val_windows=8, reliance_every=steps, reliance_windows=8)
live = read_metrics(out / "live_run" / "metrics.jsonl")
live_reliance = json.loads((out / "live_run" / "metrics.jsonl").read_text().splitlines()[-1])["reliance"]
print(reliance_verdict(live_reliance))
fig = plot_loss(live, columns=("mlm_loss",), title="ldarnet-tiny, live run")
save_figure(fig, out / "live_run.png", make_provenance(inputs=fasta, seed=seed, steps=steps))
plt.close(fig)
summary["live_run"] = {"steps": int(live["step"].iloc[-1]), "first_mlm_loss": float(live["mlm_loss"].iloc[0]),
                       "last_mlm_loss": float(live["mlm_loss"].iloc[-1]),
                       "reliance_verdict": reliance_verdict(live_reliance)}
summary["figures"] = ["shipped_run.png", "live_run.png"] if has_log else ["live_run.png"]
_ = write_summary(out, summary)
fig
