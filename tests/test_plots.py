"""Plots build on Agg and their axes hold what they should (no pixel comparisons)."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from ldarviz.logos import background_frequencies, boundary_site_counts, plot_boundary_logo, plot_motif_logo, pwm_frame  # noqa: E402
from ldarviz.motifs import load_motifs  # noqa: E402
from ldarviz.plots import (  # noqa: E402
    plot_ablation, plot_compression_over_training, plot_profiles, plot_ratio_sweep, plot_token_lengths,
    read_metrics, read_results,
)
from ldarviz.profiles import profile_from_matrix  # noqa: E402
from ldarviz.provenance import make_provenance, read_table, sidecar_path, write_table  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data"
FASTA = DATA / "athal_chr1_1000000_1200000.fa"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def results_csv(tmp_path):
    rows = []
    for task, base in (("H3K4me1", 0.5), ("splice", 0.9)):
        for variant, shift in (("learned_ratio4", 0.05), ("fixed_ratio4", 0.0), ("learned_ratio2", 0.02)):
            for fold, noise in enumerate((-0.01, 0.0, 0.01)):
                rows.append((task, variant, fold, "mcc", base + shift + noise))
                rows.append((task, variant, fold, "accuracy", 0.99))
    path = tmp_path / "results.csv"
    pd.DataFrame(rows, columns=["task", "variant", "fold", "metric", "value"]).to_csv(path, index=False)
    return path


def _metrics_file(path, slope, with_list=True):
    with open(path, "w") as handle:
        for step in range(1, 51):
            record = {"step": step, "ratio_loss": 1.0 / step}
            value = 1.0 + slope * step
            if with_list:
                record["compression"] = [value, 2.0]
            else:
                record["compression_stage0"] = value
            handle.write(json.dumps(record) + "\n")
    return path


def test_ablation_bars_hold_fold_means_and_sds(results_csv, tmp_path):
    results = read_results(results_csv)
    fig = plot_ablation(results, "mcc", save_path=tmp_path / "ablation.png")
    ax = fig.axes[0]
    heights = sorted(round(p.get_height(), 6) for p in ax.patches)
    assert heights == sorted([0.55, 0.5, 0.52, 0.95, 0.9, 0.92])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["H3K4me1", "splice"]
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"learned_ratio4", "fixed_ratio4", "learned_ratio2"}
    error_segments = [c for c in ax.collections if len(c.get_segments())]
    lengths = np.concatenate([[abs(s[1][1] - s[0][1]) for s in c.get_segments()] for c in error_segments])
    np.testing.assert_allclose(lengths, 0.02, atol=1e-9)  # mean ± SD, SD of (-0.01, 0, 0.01) = 0.01
    meta = json.loads(Image.open(tmp_path / "ablation.png").text["Description"])
    assert str(results_csv) in meta["inputs"]
    assert sidecar_path(tmp_path / "ablation.png").is_file()


def test_ratio_sweep_reads_ratio_from_variant_names(results_csv):
    fig = plot_ratio_sweep(read_results(results_csv), "mcc", family="learned")
    ax = fig.axes[0]
    assert len(ax.containers) == 2  # one errorbar series per task
    x, y = ax.containers[0].lines[0].get_data()
    assert list(np.asarray(x, dtype=float)) == [2.0, 4.0]
    np.testing.assert_allclose(np.asarray(y, dtype=float), [0.52, 0.55])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["H3K4me1", "splice"]
    import re

    from ldarviz.plots import RATIO_PATTERN

    assert re.search(RATIO_PATTERN, "ratio=2.5").group(1) == "2.5"  # ldarnet ablate's naming
    assert re.search(RATIO_PATTERN, "router=fixed") is None
    with pytest.raises(ValueError, match="no variant carries"):
        plot_ratio_sweep(read_results(results_csv), "mcc", pattern=r"zzz(\d+)")


def test_compression_over_training_both_log_formats(tmp_path):
    with_loss = _metrics_file(tmp_path / "a.jsonl", 0.06)
    without = _metrics_file(tmp_path / "b.jsonl", 0.01, with_list=False)
    fig, ax = plt.subplots()
    out = plot_compression_over_training({"with ratio loss": with_loss, "without": without}, target=4.0, ax=ax)
    assert out is fig
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["with ratio loss", "without", "target 4"]
    np.testing.assert_allclose(lines[0].get_ydata()[-1], 1 + 0.06 * 50)
    assert read_metrics(with_loss)["compression_stage1"].eq(2.0).all()


def test_bad_inputs_name_file_and_line(tmp_path):
    bad = tmp_path / "m.jsonl"
    bad.write_text('{"step": 1}\n{not json\n')
    with pytest.raises(ValueError, match=r"m.jsonl, line 2: not valid JSON"):
        read_metrics(bad)
    csv = tmp_path / "r.csv"
    csv.write_text("task,variant,fold,metric,value\nt,v,0,mcc,0.5\nt,v,1,mcc,oops\n")
    with pytest.raises(ValueError, match=r"r.csv, line 3: value 'oops'"):
        read_results(csv)
    csv.write_text("task,variant,value\n")
    with pytest.raises(ValueError, match="missing column"):
        read_results(csv)


def test_profile_plot_draws_each_set_with_a_band():
    rng = np.random.default_rng(0)
    tables = []
    for name, bump in (("true", 0.5), ("gc_matched", 0.0)):
        m = rng.random((100, 21)) * 0.2
        m[:, 10] += bump
        tables.append(profile_from_matrix(m, n_boot=50).assign(set=name, motif_id="TBP"))
    profiles = pd.concat(tables)
    fig = plot_profiles(profiles, motif_id="TBP")
    ax = fig.axes[0]
    data_lines = [line for line in ax.get_lines() if line.get_label() in ("true", "gc_matched")]
    assert len(data_lines) == 2 and len(ax.collections) == 2
    x, y = data_lines[0].get_data()
    assert x[np.argmax(y)] == 0
    assert ax.get_title() == "TBP"


def test_token_length_plot_lines_per_context():
    table = pd.DataFrame({"tokenizer": "learned", "context": ["CDS", "CDS", "intron"], "length": [3, 4, 8],
                          "count": [3, 1, 5], "fraction": [0.75, 0.25, 1.0]})
    fig = plot_token_lengths(table, "learned", max_length=10)
    ax = fig.axes[0]
    lines = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    assert lines["CDS"][2] == 0.75 and lines["intron"][7] == 1.0 and len(lines["CDS"]) == 10
    with pytest.raises(ValueError, match="no rows for tokenizer"):
        plot_token_lengths(table, "bpe")


def test_logos(tmp_path):
    pwm = load_motifs(["MA0108"])["MA0108.3_TBP"]
    assert pwm_frame(pwm).shape == (7, 4)
    fig = plot_motif_logo(pwm, title="TBP", save_path=tmp_path / "tbp.pdf")
    ax = fig.axes[0]
    assert ax.get_title() == "TBP" and len(ax.patches) >= 7
    assert (tmp_path / "tbp.pdf").stat().st_size > 0
    from ldarviz.sequences import sequence_source

    lengths, fetch = sequence_source(FASTA)
    name = next(iter(lengths))
    seq = fetch(name, 0, lengths[name])
    mask = np.zeros(len(seq), dtype=bool)
    starts = [k for k in range(10, len(seq) - 10) if seq[k:k + 2] == "GT"]
    mask[starts] = True  # a toy router cutting before every GT
    counts = boundary_site_counts({name: mask}, FASTA, flank=4)
    assert counts.attrs["n_sites"] == len(starts)
    assert counts.loc[0, "G"] == len(starts) and counts.loc[1, "T"] == len(starts)
    bg = background_frequencies(FASTA)
    assert abs(bg.sum() - 1) < 1e-9
    fig = plot_boundary_logo(counts, background=bg)
    ax = fig.axes[0]
    assert ax.get_xlim()[0] < -4 < 3 < ax.get_xlim()[1]


def test_table_round_trip_keeps_provenance(tmp_path):
    table = pd.DataFrame({"a": [1, 2]})
    table.attrs["provenance"] = make_provenance(seed=7, inputs=[FASTA], window=200)
    path = write_table(table, tmp_path / "t.csv")
    back = read_table(path)
    assert back.attrs["provenance"]["seed"] == 7
    assert back.attrs["provenance"]["parameters"]["window"] == 200
    assert len(back.attrs["provenance"]["inputs"][str(FASTA)]) == 64


def test_compression_over_training_draws_the_routers_own_rate_where_the_log_has_it(tmp_path):
    log = tmp_path / "metrics.jsonl"
    rows = [{"step": s, "compression": [2.4]} for s in (1, 2, 3, 4)]
    rows[1]["reliance"] = {"compression_unmasked": [3.9]}
    rows[3]["reliance"] = {"compression_unmasked": [4.1]}
    rows[2]["reliance"] = {"intact": 1.3}  # a record without the rate (older logs): skipped
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    fig, ax = plt.subplots()
    plot_compression_over_training({"run": log}, target=4.0, ax=ax)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["run", "run: router's own rate", "target 4"]
    own = ax.get_lines()[1]
    np.testing.assert_allclose(own.get_xdata(), [2, 4])
    np.testing.assert_allclose(own.get_ydata(), [3.9, 4.1])
    assert own.get_color() == ax.get_lines()[0].get_color()
