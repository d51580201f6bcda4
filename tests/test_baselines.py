"""Baselines beside fine-tuning: k-mer counts, the linear probe, shared folds, and a recipe that learns."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
import torch

from ldarnet.finetune import load_csv
from ldarnet.finetune import compare as compare_module
from ldarnet.finetune.baselines import frozen_features, kmer_baseline, kmer_counts, linear_probe
from ldarnet.finetune.compare import RECIPES, compare_variants, recipe
from ldarnet.finetune.folds import FoldSplit, fold_splits


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def planted_motif_task(n: int = 200, length: int = 48, motif: str = "TATAATGCGC", seed: int = 0) -> pd.DataFrame:
    """Half the sequences carry ``motif`` at a random position, the other half are random without it."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        while True:
            seq = "".join(rng.choice(list("ACGT"), size=length))
            if motif not in seq:
                break
        label = i % 2
        if label:
            at = int(rng.integers(0, length - len(motif) + 1))
            seq = seq[:at] + motif + seq[at + len(motif):]
        rows.append((seq, label))
    return pd.DataFrame(rows, columns=["sequence", "label"])


def test_kmer_counts_match_a_hand_computed_matrix(tmp_path):
    csv = tmp_path / "toy.csv"
    csv.write_text("sequence,label\nACGTA,1\nacnGT,0\nAAAA,1\nA,0\n")
    table = load_csv(csv)
    counts = kmer_counts(table["sequence"].tolist(), 2)
    expected = np.zeros((4, 16))
    # ACGTA: AC CG GT TA (A=0 C=1 G=2 T=3, first base most significant)
    expected[0, [1, 6, 11, 12]] = 0.25
    # acnGT: AC and GT (the k-mers across N are skipped), case ignored
    expected[1, [1, 11]] = 0.5
    # AAAA: AA three times
    expected[2, 0] = 1.0
    # A: no 2-mer at all -> a zero row
    np.testing.assert_allclose(counts, expected)
    np.testing.assert_allclose(kmer_counts(["ACGT"], 1), [[0.25, 0.25, 0.25, 0.25]])
    assert kmer_counts(["ACGTACGT"], 3).shape == (1, 64)
    with pytest.raises(ValueError, match="k=0"):
        kmer_counts(["ACGT"], 0)


def test_kmer_baseline_learns_a_planted_motif_and_picks_c_on_validation():
    table = planted_motif_task(200, motif="GGGCCCGGGC")
    splits = fold_splits(table["label"].to_numpy(), 3, seed=0)
    rows = kmer_baseline(table, splits, task="motif", k=5)
    mcc = rows.loc[rows["metric"] == "mcc", "value"]
    assert len(mcc) == 3 and mcc.min() >= 0.7  # measured 0.79-0.91 (seed 0)
    assert set(rows.loc[rows["metric"] == "C", "value"]) <= {0.01, 0.1, 1.0, 10.0, 100.0}
    assert rows["variant"].unique().tolist() == ["kmer-5"]


def _tiny_classifier(random_seed: int = 0):
    from ldarnet.config import LDARNetConfig
    from ldarnet.heads import LDARNetForSequenceClassification
    from ldarnet.model import LDARNet

    torch.manual_seed(random_seed)
    return LDARNetForSequenceClassification(LDARNet(LDARNetConfig.preset("ldarnet-tiny")), 2)


def test_frozen_features_are_the_head_input_and_are_cached(tmp_path):
    from ldarnet.heads import pool

    model = _tiny_classifier()
    seqs = ["ACGTACGTAC", "GGGCCCAT", "TTTTAAAACC"]
    cache = tmp_path / "features.npy"
    features = frozen_features(model, seqs, batch_size=2, cache=cache)
    assert features.shape == (3, 32) and cache.exists()
    from ldarnet.vocab import batch_encode
    ids, mask = batch_encode(seqs)
    with torch.no_grad():
        hidden = model.backbone(ids, mask).hidden_states
        expected = pool(hidden, mask.bool(), "mean")
    np.testing.assert_allclose(features, expected.numpy(), rtol=1e-4, atol=1e-5)
    np.save(cache, np.full((3, 32), 7.0, dtype=np.float32))  # a cache of the right shape is read, not recomputed
    assert (frozen_features(model, seqs, cache=cache) == 7.0).all()
    labels = np.array([0, 1, 0])
    assert linear_probe(np.eye(3), labels, [], task="t").empty


@pytest.mark.slow  # 40 s under load (two tiny models trained one epoch per fold); the CLI test checks n_test too
def test_every_variant_sees_exactly_the_same_folds(monkeypatch):
    table = planted_motif_task(60, length=24, motif="GGGCCC")
    labels = table["label"].to_numpy()
    splits = fold_splits(labels, 3, valid_fraction=0.2, seed=1)
    seen: dict[str, list] = {}

    def spy(function, name_of):
        def wrapped(*args, **kwargs):
            given = next(a for a in [*args, kwargs.get("splits")]
                         if isinstance(a, (list, tuple)) and a and isinstance(a[0], FoldSplit))
            seen[name_of(kwargs)] = [(s.train.tolist(), s.valid.tolist(), s.test.tolist()) for s in given]
            return function(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(compare_module, "cross_validate", spy(compare_module.cross_validate, lambda kw: kw["variant"]))
    monkeypatch.setattr(compare_module, "kmer_baseline", spy(compare_module.kmer_baseline, lambda kw: f"kmer-{kw['k']}"))
    monkeypatch.setattr(compare_module, "linear_probe", spy(compare_module.linear_probe, lambda kw: "linear-probe"))
    # and the fine-tuned arms really score the given test rows
    from ldarnet.finetune import crossval
    scored = []
    original_predict = crossval.predict_logits
    monkeypatch.setattr(crossval, "predict_logits", lambda model, ids, mask, **kw: (
        scored.append(ids.clone()), original_predict(model, ids, mask, **kw))[1])

    results = compare_variants(table, splits, task="motif", make_model=lambda fold: _tiny_classifier(0),
                               make_random=lambda fold: _tiny_classifier(1), kmer_sizes=(3, 4),
                               training=dict(lr=1e-3, batch_size=16, max_epochs=1, patience=1))
    assert set(seen) == {"pretrained", "random-init", "linear-probe", "kmer-3", "kmer-4"}
    reference = [(s.train.tolist(), s.valid.tolist(), s.test.tolist()) for s in splits]
    for name, folds in seen.items():
        assert folds == reference, name
    for train, valid, test in reference:  # disjoint, and the test sets partition the rows
        assert not (set(train) & set(valid) or set(train) & set(test) or set(valid) & set(test))
    assert sorted(sum((t for _, _, t in reference), [])) == list(range(len(table)))
    from ldarnet.vocab import batch_encode
    ids, _ = batch_encode(table["sequence"].tolist())
    test_calls = [x for x in scored if x.shape[0] in {len(t) for _, _, t in reference}]
    assert any(torch.equal(x, ids[torch.as_tensor(reference[0][2])]) for x in test_calls)
    assert list(results.columns) == ["task", "variant", "fold", "metric", "value"]
    assert results["variant"].unique().tolist()[:2] == ["pretrained", "random-init"]
    per_variant = results[results["metric"] == "n_test"].pivot(index="fold", columns="variant", values="value")
    assert (per_variant.nunique(axis=1) == 1).all()


def test_recipes_and_overrides():
    assert recipe("paper")["batch_size"] == 128 and recipe("paper")["patience"] == 5
    assert recipe("paper")["schedule"] == "constant"
    assert recipe("default", lr=5e-4, patience=None)["lr"] == 5e-4
    assert recipe("default")["patience"] == RECIPES["default"]["patience"]
    with pytest.raises(ValueError, match="--protocol"):
        recipe("fast")


def test_default_pooling_follows_the_starting_point(tmp_path):
    """pooling "auto": mean when a checkpoint's weights are fine-tuned, max for the random-init arm."""
    from ldarnet.config import LDARNetConfig
    from ldarnet.finetune import classifier_factory, resolve_pooling
    from ldarnet.model import LDARNet

    assert RECIPES["default"]["pooling"] == "auto" and RECIPES["paper"]["pooling"] == "mean"
    assert resolve_pooling("auto", pretrained=True) == "mean"
    assert resolve_pooling("auto", pretrained=False) == "max"
    assert resolve_pooling("first", pretrained=True) == "first"  # an explicit choice is kept
    torch.manual_seed(0)
    LDARNet(LDARNetConfig.preset("ldarnet-tiny")).save_pretrained(tmp_path / "ckpt")
    loaded = classifier_factory(num_labels=2, checkpoint=tmp_path / "ckpt", pooling="auto")
    random = classifier_factory(num_labels=2, checkpoint=tmp_path / "ckpt", random_init=True, pooling="auto")
    from_config = classifier_factory(num_labels=2, config="ldarnet-tiny")
    assert loaded(0).pooling == loaded.pooling == "mean"
    assert random(0).pooling == random.pooling == "max"
    assert from_config(0).pooling == "max"
    assert classifier_factory(num_labels=2, checkpoint=tmp_path / "ckpt", pooling="max")(0).pooling == "max"


@pytest.mark.slow
def test_default_recipe_learns_a_planted_motif_from_random_weights():
    """200 sequences, motif vs no motif: ldarnet-tiny from random weights, the default recipe, 6 epochs.

    Slow: 24 s to 100 s measured on the shared 2-core machine under load 15 (one fold, 135 training sequences).
    """
    from ldarnet.finetune import classifier_factory, cross_validate

    table = planted_motif_task(200)
    plan = recipe("default", max_epochs=6)
    pooling = plan.pop("pooling")
    make = classifier_factory(num_labels=2, config="ldarnet-tiny", pooling=pooling)
    splits = fold_splits(table["label"].to_numpy(), 4, seed=0, max_folds=1)
    rows = cross_validate(make, table, task="motif", variant="tiny", splits=splits,
                          **{k: plan[k] for k in ("lr", "batch_size", "max_epochs", "patience")},
                          schedule=plan["schedule"], warmup_fraction=plan["warmup_fraction"],
                          head_lr_scale=plan["head_lr_scale"])
    mcc = rows.loc[rows["metric"] == "mcc", "value"].iloc[0]
    assert mcc >= 0.9, rows


def _tidy(task: str, values: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([(task, variant, fold, "mcc", v) for variant, vs in values.items() for fold, v in enumerate(vs)],
                        columns=["task", "variant", "fold", "metric", "value"])


def test_baseline_verdict_says_where_the_pretrained_model_loses_to_kmers():
    from ldarnet.finetune import baseline_verdict

    results = pd.concat([
        _tidy("loses", {"pretrained": [0.5, 0.6], "random-init": [0.1, 0.2], "linear-probe": [0.7, 0.7],
                        "kmer-3": [0.4, 0.4], "kmer-6": [0.7, 0.8]}),
        _tidy("wins", {"pretrained": [0.9, 0.8], "random-init": [0.5, 0.5], "linear-probe": [0.6, 0.6],
                       "kmer-3": [0.6, 0.7], "kmer-4": [0.2, 0.3]}),
    ])
    table = baseline_verdict(results).set_index("task")
    assert table.loc["loses", "best_kmer"] == "kmer-6" and table.loc["loses", "loses_to_kmer"]
    assert table.loc["loses", "margin"] == pytest.approx(0.55 - 0.75)
    assert table.loc["loses", "folds_ahead"] == 0 and table.loc["wins", "folds_ahead"] == 2  # paired by fold
    assert "ahead on 0 of 2 folds" in table.loc["loses", "verdict"]
    assert "LOSES to k-mer" in table.loc["loses", "verdict"] and "linear probe does better" in table.loc["loses", "verdict"]
    assert not table.loc["wins", "loses_to_kmer"] and "beats every k-mer" in table.loc["wins", "verdict"]
    assert table.loc["wins", "pretrained_sd"] == pytest.approx(np.std([0.9, 0.8], ddof=1))
    with pytest.raises(ValueError, match="no kmer-k rows"):
        baseline_verdict(_tidy("x", {"pretrained": [0.5]}))


def test_defaults_within_tolerance_of_the_best_grid_point():
    from ldarnet.finetune import defaults_within

    grid = pd.concat([_tidy("a", {"0.0003-mean": [0.70], "0.003-max": [0.76], "0.001-mean": [0.6]}),
                      _tidy("b", {"0.0003-mean": [0.50], "0.003-max": [0.54]})])
    table = defaults_within(grid, "0.0003-mean").set_index("task")
    assert table.loc["a", "best"] == "0.003-max" and table.loc["a", "gap"] == pytest.approx(0.06)
    assert not table.loc["a", "within"] and table.loc["b", "within"]
    with pytest.raises(ValueError, match="no grid point"):
        defaults_within(grid, "0.01-mean")


def test_defaults_within_takes_the_default_from_the_acceptance_run_on_the_grids_folds():
    from ldarnet.finetune import defaults_within

    grid = _tidy("a", {"0.001-mean": [0.60, 0.70]})  # folds 0 and 1
    accepted = _tidy("a", {"pretrained": [0.66, 0.70, 0.10], "kmer-6": [0.9, 0.9, 0.9]})  # fold 2 is not in the grid
    table = defaults_within(grid, "0.0003-mean", default_rows=accepted[accepted["variant"] == "pretrained"])
    row = table.set_index("task").loc["a"]
    assert row["folds"] == 2 and row["default_mcc"] == pytest.approx(0.68) and row["best"] == "0.0003-mean"
    uneven = pd.concat([grid, _tidy("a", {"0.0001-mean": [0.9]})])  # one fold only
    with pytest.raises(ValueError, match="different folds"):
        defaults_within(uneven, "0.0003-mean", default_rows=accepted[accepted["variant"] == "pretrained"])


def test_defaults_within_tests_the_gap_against_fold_noise():
    from ldarnet.finetune import defaults_within

    grid = _tidy("a", {"0.0003-mean": [0.50, 0.60, 0.40, 0.55], "0.001-mean": [0.70, 0.40, 0.60, 0.55]})
    row = defaults_within(grid, "0.0003-mean").iloc[0]
    assert row["best"] == "0.001-mean" and row["gap"] == pytest.approx(0.05)
    assert 0.2 < row["pvalue"] < 1  # differences +0.2, -0.2, +0.2, 0: no consistent gain
