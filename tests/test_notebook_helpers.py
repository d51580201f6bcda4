"""Functions the notebooks call instead of carrying logic in cells: sampling, run plots, reproducibility."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from ldarviz import set_reproducible, stratified_sample
from ldarviz.plots import last_step, plot_loss, plot_training_run


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_stratified_sample_is_balanced_capped_and_seeded():
    table = pd.DataFrame({"label": [0] * 10 + [1] * 4, "x": range(14)})
    picked = stratified_sample(table, "label", total=6, seed=1)
    assert picked["label"].value_counts().to_dict() == {0: 3, 1: 3}
    assert list(picked.index) == list(range(6))
    assert picked.equals(stratified_sample(table, "label", total=6, seed=1))
    assert not picked.equals(stratified_sample(table, "label", total=6, seed=2))
    capped = stratified_sample(table, "label", per_group=100, seed=0)  # the smallest class caps it
    assert capped["label"].value_counts().to_dict() == {0: 4, 1: 4}
    assert set(capped["x"][capped.label == 1]) == {10, 11, 12, 13}
    # the same draw as pandas' own stratified sample (so committed notebook subsets did not change)
    expected = table.groupby("label").sample(n=3, random_state=1).reset_index(drop=True)
    assert picked.equals(expected)
    for kwargs, message in (({}, "exactly one"), ({"total": 4, "per_group": 2}, "exactly one"),
                            ({"total": 1}, "at least 1")):
        with pytest.raises(ValueError, match=message):
            stratified_sample(table, "label", **kwargs)
    with pytest.raises(ValueError, match="no column 'kind'"):
        stratified_sample(table, "kind", total=4)


def _log(path, losses, compression):
    rows = [{"step": i + 1, "tokens": 1000 * (i + 1), "loss": l, "mlm_loss": l - 0.1, "ratio_loss": 0.1,
             "compression": [c]} for i, (l, c) in enumerate(zip(losses, compression))]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_plot_training_run_draws_losses_compression_target_and_earlier_attempts(tmp_path):
    _log(tmp_path / "metrics.jsonl", [1.5, 1.4, 1.3], [3.0, 3.5, 4.0])
    _log(tmp_path / "collapsed_metrics.jsonl", [1.5, 1.45], [10.0, 200.0])
    (tmp_path / "config.json").write_text(json.dumps({"target_ratio": [4]}))
    fig = plot_training_run(tmp_path, save_path=tmp_path / "run.png")
    left, right = fig.axes
    assert [l.get_label() for l in left.lines] == ["loss", "MLM loss"]
    np.testing.assert_allclose(left.lines[0].get_ydata(), [1.5, 1.4, 1.3])
    assert [l.get_label() for l in right.lines] == ["this run", "collapsed", "target 4"]
    assert right.get_yscale() == "log" and (tmp_path / "run.png").is_file()
    assert last_step(tmp_path / "metrics.jsonl") == {"steps": 3, "tokens": 3000, "loss": 1.3,
                                                     "mlm_loss": pytest.approx(1.2), "compression": 4.0}
    with pytest.raises(FileNotFoundError, match="no metrics.jsonl"):
        plot_training_run(tmp_path / "elsewhere")
    fig = plot_loss(tmp_path / "metrics.jsonl", columns=("mlm_loss",), title="live")
    assert fig.axes[0].get_title() == "live" and len(fig.axes[0].lines) == 1
    with pytest.raises(ValueError, match="no val_loss"):
        plot_loss(tmp_path / "metrics.jsonl", columns=("val_loss",))


def test_set_reproducible_fixes_threads_and_seeds():
    before = torch.get_num_threads()
    try:
        assert set_reproducible(4, threads=1) == {"seed": 4, "threads": 1, "deterministic": True}
        assert torch.get_num_threads() == 1 and torch.are_deterministic_algorithms_enabled()
        a = (torch.rand(3), np.random.rand())
        set_reproducible(4, threads=1)
        b = (torch.rand(3), np.random.rand())
        assert torch.equal(a[0], b[0]) and a[1] == b[1]
        with pytest.raises(ValueError, match="threads=0"):
            set_reproducible(0, threads=0)
    finally:
        torch.set_num_threads(before)
        torch.use_deterministic_algorithms(False)


def test_weights_behind_says_whether_committed_runs_used_the_loaded_model(tmp_path):
    from ldarviz.provenance import weights_behind

    runs = []
    for k, sha in enumerate(["a" * 64, "a" * 64]):
        runs.append(tmp_path / f"r{k}.json")
        runs[-1].write_text(json.dumps({"checkpoint_sha256": sha}))
    assert weights_behind(runs, "a" * 64).endswith("(the same model)")
    line = weights_behind(runs, "b" * 64)
    assert "runs used weights aaaaaaaaaaaa;" in line and "bbbbbbbbbbbb (a different model" in line
    (tmp_path / "mixed.json").write_text(json.dumps({"checkpoint_sha256": "b" * 64}))
    assert "a different model" in weights_behind([*runs, tmp_path / "mixed.json"], "b" * 64)
    (tmp_path / "bare.json").write_text("{}")
    with pytest.raises(ValueError, match="bare.json: no checkpoint_sha256"):
        weights_behind([tmp_path / "bare.json"], "a" * 64)
    with pytest.raises(ValueError, match="no run.json"):
        weights_behind([], "a" * 64)
