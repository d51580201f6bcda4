"""Boundary attribution on a toy router whose p is 1 exactly where TATAAAA starts (tests/toy_boundaries.py)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from toy_boundaries import KmerStartModel  # noqa: E402

from ldarviz.attribution import boundary_attribution, plot_attribution  # noqa: E402

KMER = "TATAAAA"


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_attribution_of_a_kmer_start_is_the_kmer_and_nothing_else():
    seq = "GCGCGCGCGCGC" + KMER + "GCGCGCGCGCGC"  # k-mer at [12, 19); no reverse complement anywhere
    flank = 9
    attr = boundary_attribution(KmerStartModel(KMER), seq, [12], flank=flank, context=4, batch_size=16)
    assert attr.reference.tolist() == [1.0]
    # every substitution inside the k-mer breaks it (Δp = -1), every one outside leaves p alone
    inside = (attr.offsets >= 0) & (attr.offsets < len(KMER))
    ref = np.array([[seq[12 + o] == b for o in attr.offsets] for b in "ACGT"])
    assert np.all(attr.delta[0][:, inside][~ref[:, inside]] == -1.0)
    assert np.all(attr.delta[0][ref] == 0.0)
    assert np.all(attr.delta[0][:, ~inside] == 0.0)
    np.testing.assert_array_equal(attr.importance("mean")[0], inside.astype(float))
    np.testing.assert_array_equal(attr.importance("max")[0], inside.astype(float))
    np.testing.assert_array_equal(attr.support()[0], inside.astype(float))
    # no-op substitutions skipped: 3 edits per position, 16 per call, plus the reference call
    assert attr.n_edits == 3 * (2 * flank + 1)
    assert attr.model_calls == 1 + int(np.ceil(attr.n_edits / 16))


def test_one_substitution_creating_the_kmer_is_the_only_positive_effect():
    seq = "GCGCGCGCGC" + "TATAAAC" + "GCGCGCGCGC"  # one base away from the k-mer at [10, 17)
    attr = boundary_attribution(KmerStartModel(KMER), seq, [10], flank=8, context=0)
    assert attr.reference.tolist() == [0.0]
    table = attr.table()
    hit = table[table["delta"] != 0]
    assert hit[["position", "ref", "alt", "delta"]].values.tolist() == [[16, "C", "A", 1.0]]
    mean, top = attr.importance("mean")[0], attr.importance("max")[0]
    assert mean[attr.offsets == 6][0] == pytest.approx(1 / 3) and top[attr.offsets == 6][0] == 1.0
    assert np.count_nonzero(mean) == 1


def test_nearby_targets_share_the_model_calls_and_edges_are_nan():
    seq = KMER + "GCGC" + KMER + "GCGCG"
    attr = boundary_attribution(KmerStartModel(KMER), seq, [0, 11], flank=5, context=10, batch_size=1000)
    assert attr.model_calls == 2  # one reference call, one call for every edit of the union of spans
    assert np.isnan(attr.delta[0][:, :5]).all()  # offsets -5..-1 of target 0 are off the sequence
    assert np.isnan(attr.importance("mean")[0][:5]).all()
    assert np.nanmax(np.abs(attr.delta[0])) == 0.0  # base 0 always starts a chunk: no substitution moves it
    assert attr.importance("max")[1][5:12].tolist() == [1.0] * 6 and attr.importance("max")[1][:5].max() == 0.0


def test_plot_attribution_draws_the_logo_under_the_track():
    seq = "GCGCGCGCGCGC" + KMER + "GCGCGCGCGCGC"
    attr = boundary_attribution(KmerStartModel(KMER), seq, [12], flank=6, context=0)
    probs = np.zeros(len(seq))
    probs[12] = 1.0
    fig = plot_attribution(attr, 0, probs=probs, offset=1000, title="toy")
    track, logo = fig.axes
    assert logo.get_xlim() == pytest.approx((1000 + 6 - 0.5, 1000 + 18 + 0.5))
    assert logo.get_ylim()[1] >= 0.99  # the k-mer's letters stand one unit tall
    assert track.get_ylabel() == "p(boundary)"
    fig2, ax = plt.subplots()
    assert plot_attribution(attr, 0, ax=ax) is fig2


def test_targets_off_the_sequence_are_an_error():
    with pytest.raises(ValueError, match="target positions"):
        boundary_attribution(KmerStartModel(KMER), "ACGT" * 5, [20])


def test_attribution_figure_is_one_call_for_a_viewer():
    from ldarviz import attribution_figure

    seq = "GCGCGCGCGCGC" + KMER + "GCGCGCGCGCGC"
    probs = np.zeros(len(seq))
    probs[12] = 1.0
    fig = attribution_figure(KmerStartModel(KMER), seq, 12, flank=4, context=8, probs=probs, offset=100)
    assert len(fig.axes) == 2 and fig.axes[1].get_xlim() == pytest.approx((108 - 0.5, 116 + 0.5))
