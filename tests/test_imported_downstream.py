"""Everything downstream accepts a checkpoint imported from the public LDARNet code (issue 10, item 5).

The model is the parity fixture of tests/data/public_ldarnet/ (written by the public code, see the
README there), imported with ``ldarnet import-public`` into a temporary folder. What sets it apart
from our own checkpoints: ``dechunk_reverse_gate="own"``, a widening inner level, attention windows
that differ per level, and an ``import.json`` beside the weights. Each test runs one consumer on it and
checks that what the consumer shows is what the imported model computes.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from ldarnet import LDARNet, batch_encode
from ldarnet.cli import main
from ldarnet.genome import open_fasta

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "data" / "public_ldarnet"
FASTA = ROOT / "data" / "athal_chr1_1000000_1200000.fa"
RECORD = "NC_003070.9_1000000_1200000"


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("public") / "tiny-public"
    assert main(["import-public", str(FIXTURE / "ldarnet_tiny_public.pt"), str(out)]) == 0
    assert (out / "import.json").is_file()  # the record sits beside the weights every consumer reads
    return out


@pytest.fixture(scope="module")
def model(imported) -> LDARNet:
    return LDARNet.from_pretrained(imported).eval()


def _stage0(model, seq: str):
    ids, mask = batch_encode([seq])
    with torch.no_grad():
        return model.extract_boundaries(ids, mask)[0]


def test_load_model_keeps_the_imported_conventions_and_reproduces_the_reference(imported):
    import ldarviz

    loaded = ldarviz.load_model(str(imported))
    assert loaded.trained and len(loaded.sha256) == 64 and loaded.path == imported
    assert loaded.model.config.dechunk_reverse_gate == "own"  # their convention survives the notebook loader
    ref = load_file(FIXTURE / "reference_outputs.safetensors")
    ids = ref["single.input_ids"]
    with torch.no_grad():
        out = loaded.model(ids, torch.ones_like(ids))
    assert (out.logits - ref["single.logits"]).abs().max().item() <= 1e-4
    assert int(out.boundaries[0].lengths[0]) == int(ref["single.lengths"][0])


def test_boundaries_command_writes_the_imported_models_cuts(imported, model, tmp_path):
    seq = open_fasta(FASTA)[RECORD][20_000:23_000].seq.upper()
    fasta = tmp_path / "region.fa"
    fasta.write_text(f">region\n{seq}\n")
    prefix = tmp_path / "out" / "region"
    assert main(["boundaries", "--checkpoint", str(imported), "--fasta", str(fasta), "--out", str(prefix),
                 "--threads", "1", "--no-progress"]) == 0
    record = json.loads(prefix.with_suffix(".json").read_text())
    assert record["bases"] == len(seq) and record["checkpoint_sha256"]
    chunks = pd.read_csv(prefix.with_suffix(".chunks.bed"), sep="\t", header=None, comment="#")
    assert chunks[1].iloc[0] == 0 and chunks[2].iloc[-1] == len(seq)
    # 3 kb fit one window: the chunk starts are the model's own decisions on the whole region
    stage = _stage0(model, seq)
    starts = set(np.flatnonzero(stage.boundary_mask[0].numpy()).tolist()) | {0}
    assert set(chunks[1].tolist()) == starts and 1 < len(starts) < len(seq)


def test_inspector_shows_the_imported_models_boundaries(model):
    from ldarviz.inspector import chunk_intervals
    from ldarviz.inspector_widget import boundary_inspector

    box = boundary_inspector(model, FASTA, record=RECORD, start=5000, length=240, motifs=None)
    page = box.controls.view.value
    seq = open_fasta(FASTA)[RECORD][5000:5240].seq
    stage = _stage0(model, seq)
    shown = int(re.search(r'data-boundaries="(\d+)"', page)[1])
    assert shown == int(stage.boundary_mask.sum()) == len(chunk_intervals(box.state["probs"]))
    np.testing.assert_allclose(box.state["probs"], stage.boundary_prob[0].numpy(), atol=1e-3)
    spans = re.findall(r'data-chunk="\d+" data-start="(\d+)" data-end="(\d+)"', page)
    assert len(spans) == shown and int(spans[0][0]) == 5000 and int(spans[-1][1]) == 5240


def test_finetune_command_trains_a_classifier_from_the_imported_weights(imported, tmp_path):
    from ldarnet.finetune import load_csv, save_csv

    table = load_csv(ROOT / "data" / "ecoli_sigma70_promoters.csv")
    subset = table.groupby("label").head(6).assign(sequence=lambda t: t["sequence"].str[30:54])
    csv = save_csv(subset.drop(columns="source"), tmp_path / "ecoli.csv")
    out = tmp_path / "ft"
    assert main(["finetune", "--checkpoint", str(imported), "--csv", str(csv), "--folds", "3", "--max-folds", "1",
                 "--epochs", "1", "--batch-size", "4", "--baselines", "none", "--threads", "1", "--out", str(out),
                 "--quiet"]) == 0
    results = pd.read_csv(out / "results.csv")
    assert results["variant"].unique().tolist() == ["pretrained"]
    assert results.loc[results["metric"] == "epochs", "value"].iloc[0] == 1
    assert np.isfinite(results.loc[results["metric"] == "val_loss", "value"].iloc[0])
    record = json.loads((out / "run.json").read_text())
    assert record["num_labels"] == 2


def test_float16_tracks_keep_the_models_decisions_next_to_one_half():
    # the imported fixture has router probabilities within float16 rounding of 0.5 (0.500233 in bases 5000-5240), which
    # a float16 track stored as exactly 0.5: the inspector then showed one cut fewer than the model made
    from ldarnet.genome.tiling import track_values

    prob = np.array([0.50012, 0.4999, 0.5, 0.9, 0.1, 0.50012], dtype=np.float32)
    mask = prob > 0.5
    mask[-1] = False  # the stored value follows the model's mask, not a re-thresholding
    values = track_values(prob, mask)
    assert values.dtype == np.float16
    np.testing.assert_array_equal(values > 0.5, mask)
    np.testing.assert_allclose(values, prob, atol=5e-4)


def test_workbench_passes_paths_relative_to_where_it_runs(tmp_path, monkeypatch):
    # the notebooks run in their own folder, so `-p checkpoint checkpoints/x` from the repository root
    # (the README's command for an imported model) must reach them as an absolute path
    from ldarviz.workbench import resolve_paths

    (tmp_path / "checkpoints" / "x").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    got = resolve_paths({"checkpoint": "checkpoints/x", "fasta": "../data/only-from-notebooks.fa",
                         "annotation": None, "seed": 3})
    assert got["checkpoint"] == str((tmp_path / "checkpoints" / "x").resolve())
    assert got["fasta"] == "../data/only-from-notebooks.fa" and got["annotation"] is None and got["seed"] == 3
    (tmp_path / "untrained").mkdir()
    assert resolve_paths({"checkpoint": "untrained"})["checkpoint"] == "untrained"


@pytest.mark.slow  # a notebook kernel in a subprocess: 43 s for the notebook at load ~10, 7 min at load 12+
def test_a_notebook_runs_end_to_end_on_an_imported_checkpoint(tmp_path):
    """The README's route for the paper's model, on the tiny fixture: import into checkpoints/, then the
    workbench with a relative -p checkpoint from the folder it runs in. 01 is the cheapest notebook that
    loads the model and shows its cuts (03 does the same through the same loader, ~10x longer)."""
    import subprocess
    import sys

    import ldarviz
    from ldarviz.inspector import chunk_intervals
    from ldarviz.inspector_widget import boundary_probabilities

    assert main(["import-public", str(FIXTURE / "ldarnet_tiny_public.pt"), str(tmp_path / "checkpoints" / "tiny")]) == 0
    done = subprocess.run([sys.executable, "-m", "ldarviz.workbench", "--notebooks", str(ROOT / "notebooks"),
                           "--out", "reports", "--only", "01", "--no-html", "--quiet", "--run-id", "imported",
                           "-p", "checkpoint", "checkpoints/tiny"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=1200,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads((tmp_path / "reports" / "imported" / "run.json").read_text())["notebooks"][0]
    assert record["status"] == "ok" and (tmp_path / "reports" / "imported" / "01_quickstart" / "01_quickstart.ipynb").is_file()
    summary = record["summary"]
    loaded = ldarviz.load_model(tmp_path / "checkpoints" / "tiny")
    assert summary["trained"] and summary["checkpoint_sha256"] == loaded.sha256
    # the notebook's numbers are the imported model's: recompute its chunk count on the region it shows
    chrom, span = summary["region"].rsplit(":", 1)
    start, end = map(int, span.split("-"))
    probs = boundary_probabilities(loaded.model, open_fasta(FASTA)[chrom][start:end].seq)
    assert summary["n_chunks"] == len(chunk_intervals(probs)) and summary["length"] == end - start
    assert 1 < summary["n_chunks"] < end - start
