"""Fine-tuning: loaders, metrics, early stopping, cross-validation, the grid and the CLI.

Most tests train a toy classifier (embedding -> masked mean -> linear) on real E. coli promoter
sequences from data/, because the real model is slow on a shared 2-core machine; the CLI and
checkpoint tests use the real ``ldarnet-tiny`` on a handful of short sequences.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from ldarnet.finetune import (classification_metrics, cross_validate, grid_search, hyperparameter_grid,
                              load_csv, load_fasta_classes, save_csv, train_classifier)
from ldarnet.commands import finetune as finetune_command
from ldarnet.finetune.train import encode_sequences, predict_logits

DATA = Path(__file__).resolve().parents[1] / "data"
ECOLI = DATA / "ecoli_sigma70_promoters.csv"


class ToyClassifier(nn.Module):
    """Embedding -> mean over real bases -> linear: it can learn composition (e.g. GC content) fast."""

    def __init__(self, num_labels: int = 2, width: int = 8):
        super().__init__()
        self.backbone = nn.Embedding(7, width)
        self.score = nn.Linear(width, num_labels)

    def forward(self, input_ids, attention_mask=None):
        mask = (attention_mask if attention_mask is not None else torch.ones_like(input_ids)).unsqueeze(-1).float()
        pooled = (self.backbone(input_ids) * mask).sum(1) / mask.sum(1).clamp(min=1)
        return self.score(pooled)


def make_toy(fold: int) -> nn.Module:
    return ToyClassifier()


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def ecoli() -> pd.DataFrame:
    return load_csv(ECOLI)


@pytest.fixture(scope="module")
def gc_task(ecoli) -> pd.DataFrame:
    """Real E. coli sequences labelled by a known rule: GC content above the median."""
    sample = ecoli.sample(300, random_state=1).reset_index(drop=True)
    gc = sample["sequence"].str.upper().apply(lambda s: (s.count("G") + s.count("C")) / len(s))
    return sample.assign(label=(gc > gc.median()).astype(np.int64))


def _write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- loaders -----------------------------------------------------------------------------------

def test_load_csv_reads_the_ecoli_layout(ecoli):
    assert len(ecoli) == 5720
    assert ecoli["label"].value_counts().to_dict() == {0: 2860, 1: 2860}
    assert ecoli["sequence"].str.len().eq(81).all()
    assert ecoli["source"].iloc[0].endswith(":2")  # line 1 is the header


def test_load_csv_reads_the_enhancer_layout_with_float_labels():
    table = load_csv(DATA / "enhancers_200bp.csv")
    assert table["label"].value_counts().to_dict() == {0: 1484, 1: 1484}
    assert table["sequence"].str.len().eq(200).all()


def test_load_csv_named_columns_and_tsv(tmp_path):
    path = _write(tmp_path, "id\tdna\tcls\nx\tACGTN\t1\ny\tacgu\t0\n", "t.tsv")
    table = load_csv(path, sequence_column="dna", label_column="cls")
    assert table["sequence"].tolist() == ["ACGTN", "acgu"]
    assert table["label"].tolist() == [1, 0]


@pytest.mark.parametrize("text, message", [
    ("dna,label\nACGT,1\nACGT,0\n", "no sequence column"),
    ("sequence,label\nACGT,1\nACGT,yes\n", "line 3, column 'label': label 'yes'"),
    ("sequence,label\nACGT,1\nACGT,0.5\n", "line 3, column 'label': label '0.5'"),
    ("sequence,label\nACGT,1\nACXT,0\n", "line 3, column 'sequence': invalid nucleotide 'X' at position 2"),
    ("sequence,label\nACGT,1\n,0\n", "line 3, column 'sequence': the sequence is empty"),
    ("sequence,label\nACGT,-1\nACGT,0\n", "line 2, column 'label': label -1 is negative"),
    ("sequence,label\nACGT,1\nACGT,1\n", "at least two classes"),
    ("sequence,label\nACGT,0\nACGT,2\n", "class(es) [1] never occur"),
    ("sequence,label\n", "no data lines"),
    ("sequence,label\nACGT\n", "line 2: has 1 field(s)"),
])
def test_load_csv_errors_name_file_line_and_field(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError) as err:
        load_csv(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_load_csv_missing_named_column_lists_the_header(tmp_path):
    path = _write(tmp_path, "seqs,labels\nACGT,1\nACGT,0\n")
    with pytest.raises(ValueError, match=r"no label column 'label'.*\['seqs', 'labels'\]"):
        load_csv(path, label_column="label")
    with pytest.raises(ValueError, match="cannot open"):
        load_csv(tmp_path / "absent.csv")


def test_load_fasta_classes_labels_files_in_order(tmp_path):
    neg, pos = tmp_path / "neg.fa", tmp_path / "pos.fa"
    neg.write_text(">a\nACGT\nAC\n>b\nGGGG\n")
    pos.write_text(">c\nTTTT\n")
    table = load_fasta_classes([neg, pos])
    assert table["sequence"].tolist() == ["ACGTAC", "GGGG", "TTTT"]
    assert table["label"].tolist() == [0, 0, 1]
    assert table["source"].iloc[2] == f"{pos}:c"
    bad = tmp_path / "bad.fa"
    bad.write_text(">z\nACQT\n")
    with pytest.raises(ValueError, match=r"record 'z': invalid nucleotide 'Q'"):
        load_fasta_classes([neg, bad])
    with pytest.raises(ValueError, match="at least two classes"):
        load_fasta_classes([neg])


def test_save_csv_round_trips(tmp_path, ecoli):
    subset = ecoli.groupby("label").head(5).drop(columns="source")
    out = save_csv(subset, tmp_path / "sub" / "x.csv")
    back = load_csv(out)
    assert back["sequence"].tolist() == subset["sequence"].tolist()
    assert back["label"].tolist() == subset["label"].tolist()
    assert not list((tmp_path / "sub").glob(".*part"))


# -- metrics -----------------------------------------------------------------------------------

def test_metrics_match_hand_computed_confusion_matrix():
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    predicted = np.array([1, 1, 0, 0, 0, 1, 0, 1])
    logits = np.stack([1 - predicted, predicted], axis=1).astype(float)
    tp, tn, fp, fn = 3, 3, 1, 1
    out = classification_metrics(labels, logits)
    assert out["accuracy"] == pytest.approx(6 / 8)
    assert out["mcc"] == pytest.approx((tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)))
    assert out["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    ranked = classification_metrics(labels, np.stack([np.zeros(8), np.arange(8.0)], axis=1))
    # scores 0..7 rank positives at 0,1,2,7 against negatives 3,4,5,6: 4 of 16 pairs in order
    assert ranked["auroc"] == pytest.approx(4 / 16)


def test_metrics_multiclass_and_single_class():
    labels = np.array([0, 1, 2, 2])
    logits = np.eye(3)[[0, 1, 2, 1]] * 5
    out = classification_metrics(labels, logits)
    assert out["accuracy"] == pytest.approx(0.75) and 0 < out["mcc"] < 1 and 0.5 < out["auroc"] <= 1
    assert math.isnan(classification_metrics(np.array([1, 1]), np.array([[0.0, 1.0], [1.0, 0.0]]))["auroc"])
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        classification_metrics(labels, np.zeros(4))


# -- training ----------------------------------------------------------------------------------

def _tensors(table: pd.DataFrame):
    ids, mask = encode_sequences(table["sequence"].tolist())
    return ids, mask, torch.as_tensor(table["label"].to_numpy().copy())


def test_early_stopping_restores_the_best_epoch(gc_task):
    train = _tensors(gc_task.iloc[:200])
    flipped = gc_task.iloc[200:].assign(label=lambda t: 1 - t["label"])  # validation disagrees with training
    valid = _tensors(flipped)
    torch.manual_seed(0)
    model = ToyClassifier()
    fit = train_classifier(model, train, valid, lr=0.1, batch_size=64, max_epochs=30, patience=2)
    assert fit.stopped == "patience"
    assert fit.epochs == fit.best_epoch + 2
    losses = [h["val_loss"] for h in fit.history]
    assert fit.best_val_loss == pytest.approx(min(losses))
    # the weights kept are those of the best epoch, not the last
    restored = torch.nn.functional.cross_entropy(torch.from_numpy(predict_logits(model, valid[0], valid[1])), valid[2])
    assert float(restored) == pytest.approx(fit.best_val_loss, rel=1e-5)


def test_deadline_stops_after_one_step_and_freeze_keeps_the_backbone(gc_task):
    data = _tensors(gc_task)
    torch.manual_seed(0)
    model = ToyClassifier()
    before = model.backbone.weight.detach().clone()
    head_before = model.score.weight.detach().clone()
    fit = train_classifier(model, data, data, lr=0.05, batch_size=16, max_epochs=5, patience=5,
                           deadline=time.monotonic() - 1, freeze_backbone=True)
    assert fit.stopped == "time" and fit.steps == 1 and fit.epochs == 1 and fit.history[0]["partial"]
    assert torch.equal(model.backbone.weight, before)
    assert not torch.equal(model.score.weight, head_before)


def test_training_rejects_bad_options(gc_task):
    data = _tensors(gc_task.head(8))
    with pytest.raises(ValueError, match="batch_size"):
        train_classifier(ToyClassifier(), data, data, lr=0.1, batch_size=0)
    with pytest.raises(ValueError, match="backbone"):
        train_classifier(nn.Sequential(nn.Embedding(7, 2)), data, data, lr=0.1, batch_size=4, freeze_backbone=True)


# -- cross-validation and grid ------------------------------------------------------------------

def test_cross_validation_learns_a_known_rule_on_every_fold(gc_task):
    history = []
    results = cross_validate(make_toy, gc_task, task="gc", variant="toy", folds=3, lr=0.1, batch_size=32,
                             max_epochs=8, patience=3, seed=3, history=history)
    assert list(results.columns) == ["task", "variant", "fold", "metric", "value"]
    progress = pd.DataFrame(history)  # one row per epoch of every fold
    assert sorted(progress["fold"].unique()) == [0, 1, 2] and (progress["variant"] == "toy").all()
    epochs = results[results["metric"] == "epochs"].set_index("fold")["value"]
    assert (progress.groupby("fold")["epoch"].max() == epochs).all()
    assert sorted(results["fold"].unique()) == [0, 1, 2]
    wide = results.pivot(index="fold", columns="metric", values="value")
    assert (wide["mcc"] > 0.7).all(), wide["mcc"]
    assert (wide["auroc"] > 0.9).all()
    assert wide["n_test"].sum() == len(gc_task)  # the test folds partition the data
    assert (wide["n_train"] + wide["n_test"] < len(gc_task)).all()  # a validation share is held out


def test_cross_validation_checks_fold_counts(gc_task):
    tiny = gc_task.groupby("label").head(2)
    with pytest.raises(ValueError, match="--folds 3: class"):
        cross_validate(make_toy, tiny, task="t", variant="v", folds=3)
    with pytest.raises(ValueError, match="--max-folds 0"):
        cross_validate(make_toy, gc_task, task="t", variant="v", folds=3, max_folds=0)
    with pytest.raises(ValueError, match="at least 2 folds"):
        cross_validate(make_toy, gc_task, task="t", variant="v", folds=1)


def test_hyperparameter_grid_sizes():
    assert len(hyperparameter_grid("paper")) == 36
    assert hyperparameter_grid("3x2") == [(lr, bs) for lr in (1e-5, 1e-4, 1e-3) for bs in (64, 512)]
    assert hyperparameter_grid((1, 1)) == [(1e-4, 128)] or len(hyperparameter_grid((1, 1))) == 1
    for bad in ("3by2", "10x1", "0x2"):
        with pytest.raises(ValueError):
            hyperparameter_grid(bad)


def test_grid_search_picks_the_learning_rate_that_learns(gc_task):
    grid = [(1e-6, 32), (0.1, 32)]
    best, table = grid_search(make_toy, gc_task, grid, task="gc", variant="toy", max_epochs=4, patience=2)
    assert best == (0.1, 32)
    assert set(table["metric"]) >= {"mcc", "val_loss"}
    mcc = table[table["metric"] == "mcc"].set_index("lr")["value"]
    assert mcc[0.1] > mcc[1e-6]


# -- the real model, through the CLI ------------------------------------------------------------

def _run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    finetune_command.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_finetunes_a_checkpoint_and_writes_the_tidy_table(tmp_path, ecoli):
    from ldarnet.config import LDARNetConfig
    from ldarnet.model import LDARNet

    torch.manual_seed(0)
    LDARNet(LDARNetConfig.preset("ldarnet-tiny")).save_pretrained(tmp_path / "ckpt")
    subset = ecoli.groupby("label").head(6).assign(sequence=lambda t: t["sequence"].str[30:54])
    csv = save_csv(subset.drop(columns="source"), tmp_path / "ecoli.csv")
    out = tmp_path / "run"
    code = _run_cli(["finetune", "--checkpoint", str(tmp_path / "ckpt"), "--csv", str(csv), "--folds", "3",
                     "--max-folds", "1", "--epochs", "1", "--batch-size", "4", "--protocol", "paper",
                     "--kmer-sizes", "3,4", "--out", str(out), "--quiet"])
    assert code == 0
    results = pd.read_csv(out / "results.csv")
    assert list(results.columns) == ["task", "variant", "fold", "metric", "value"]
    assert set(results["metric"]) >= {"mcc", "accuracy", "f1", "auroc", "val_loss", "train_seconds"}
    assert results["variant"].unique().tolist() == ["pretrained", "random-init", "kmer-3", "kmer-4", "linear-probe"]
    assert results["task"].iloc[0] == "ecoli" and results["fold"].unique().tolist() == [0]
    n_test = results[results["metric"] == "n_test"].groupby("variant")["value"].first()
    assert n_test.nunique() == 1  # every variant scored on the same held-out fold
    record = json.loads((out / "run.json").read_text())
    assert record["num_labels"] == 2 and record["chosen_lr"] == 1e-4 and record["protocol"] == "paper"
    assert record["recipe"]["schedule"] == "constant" and record["recipe"]["batch_size"] == 4
    assert record["recipe"]["pooling"] == {"pretrained": "mean", "random-init": "mean"}  # paper: mean for both
    assert set(record["summary_by_variant"]) == set(results["variant"])
    assert (out / "features.npy").exists()
    log = (out / "finetune.log").read_text()
    assert "fold 1/1" in log and "epoch 1:" in log and "kmer-4" in log


def test_classifier_factory_copies_the_checkpoint_or_reinitialises(tmp_path):
    from ldarnet.config import LDARNetConfig
    from ldarnet.finetune import classifier_factory
    from ldarnet.model import LDARNet

    torch.manual_seed(0)
    base = LDARNet(LDARNetConfig.preset("ldarnet-tiny"))
    base.save_pretrained(tmp_path)
    pretrained = classifier_factory(num_labels=3, checkpoint=tmp_path)(0)
    fresh = classifier_factory(num_labels=3, checkpoint=tmp_path, random_init=True)(0)
    name = "embedding.weight"
    assert torch.equal(pretrained.backbone.state_dict()[name], base.state_dict()[name])
    assert not torch.equal(fresh.backbone.state_dict()[name], base.state_dict()[name])
    assert pretrained.score.out_features == 3
    with pytest.raises(ValueError, match="checkpoint folder or a config"):
        classifier_factory(num_labels=2)


def test_cli_errors_are_value_errors(tmp_path):
    bad = _write(tmp_path, "sequence,label\nACGT,1\nAC!T,0\n")
    with pytest.raises(ValueError, match="line 3"):
        _run_cli(["finetune", "--config", "ldarnet-tiny", "--csv", str(bad), "--out", str(tmp_path / "o")])
    with pytest.raises(ValueError, match="--random-init goes with --checkpoint"):
        _run_cli(["finetune", "--config", "ldarnet-tiny", "--random-init", "--csv", str(ECOLI),
                  "--out", str(tmp_path / "o")])


def test_time_budget_is_shared_by_folds_and_scoring_time_is_held_back(gc_task, monkeypatch):
    from ldarnet.finetune import crossval

    monkeypatch.setattr(crossval.time, "monotonic", lambda: 100.0)
    assert crossval._share(None, 3, []) is None
    # 60 s left for 3 runs: 20 s each, 15% held back before any run is measured
    assert crossval._share(160.0, 3, []) == pytest.approx(100.0 + 17.0)
    # afterwards the measured overrun of scoring is held back instead
    assert crossval._share(160.0, 3, [1.0, 3.0]) == pytest.approx(100.0 + 18.0)
    assert crossval._share(160.0, 2, [1.0]) == pytest.approx(100.0 + 29.0)
    assert crossval._share(90.0, 2, []) == pytest.approx(100.0)  # past the deadline: one step each
    monkeypatch.undo()
    results = cross_validate(make_toy, gc_task, task="gc", variant="toy", folds=3, lr=0.1, batch_size=16,
                             max_epochs=5, deadline=time.monotonic() - 1)
    steps = results[results["metric"] == "steps"]["value"]
    assert steps.tolist() == [1.0, 1.0, 1.0]


def test_cli_grid_search_then_cross_validation(tmp_path, ecoli):
    subset = ecoli.groupby("label").head(6).assign(sequence=lambda t: t["sequence"].str[30:54])
    csv = save_csv(subset.drop(columns="source"), tmp_path / "ecoli.csv")
    out = tmp_path / "grid"
    assert _run_cli(["finetune", "--config", "ldarnet-tiny", "--csv", str(csv), "--folds", "2", "--max-folds", "1",
                     "--epochs", "1", "--grid", "2x1", "--baselines", "none", "--out", str(out), "--quiet"]) == 0
    grid = pd.read_csv(out / "grid.csv")
    assert sorted(grid["lr"].unique()) == [1e-5, 1e-3] and grid["batch_size"].unique().tolist() == [256]
    record = json.loads((out / "run.json").read_text())
    assert (record["chosen_lr"], record["chosen_batch_size"]) in {(1e-5, 256), (1e-3, 256)}
    results = pd.read_csv(out / "results.csv")
    assert results.loc[results["metric"] == "lr", "value"].iloc[0] == record["chosen_lr"]
    assert record["variant"] == "ldarnet-tiny"
