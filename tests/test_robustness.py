"""Robustness of tokenizations to random SNVs: Jaccard identities, exact mutation counts, the table and plot."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from toy_boundaries import KmerStartModel  # noqa: E402

from ldarviz.robustness import (boundary_jaccard, learned_starts, mutate, plot_robustness, robustness_table,  # noqa: E402
                                stride_starts, token_jaccard)


def _windows(n=12, length=300, seed=3):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), length)) + "TATAAAA" + "GC" * 20 for _ in range(n)]


def test_jaccard_of_a_sequence_with_itself_is_one():
    seq = _windows(1)[0]
    starts = learned_starts(KmerStartModel())([seq])[0]
    assert boundary_jaccard(starts, starts) == 1.0
    assert token_jaccard(seq, starts, seq, starts) == 1.0
    assert boundary_jaccard([], []) == 1.0
    assert boundary_jaccard([0, 4], [0, 5]) == pytest.approx(1 / 3)


def test_mutate_changes_exactly_the_requested_number_of_bases():
    seq = _windows(1, length=2000)[0]
    for rate in (0.001, 0.01, 0.05):
        copy = mutate(seq, rate, np.random.default_rng(0))
        assert len(copy) == len(seq)
        assert sum(a != b for a, b in zip(seq, copy)) == round(rate * len(seq))
    assert mutate("NNNN", 0.5, np.random.default_rng(0)) == "NNNN"


def test_fixed_tokenizers_keep_boundaries_but_lose_tokens():
    windows = _windows()
    table = robustness_table(windows, {"stride 4": stride_starts(4), "toy router": learned_starts(KmerStartModel())},
                             rates=(0.0, 0.05), n_boot=200)
    stride = table[table["tokenizer"] == "stride 4"].set_index("rate")
    assert (stride["boundary_jaccard"] == 1.0).all()
    assert stride.loc[0.0, "token_jaccard"] == 1.0 and stride.loc[0.05, "token_jaccard"] < 1.0
    toy = table[table["tokenizer"] == "toy router"].set_index("rate")
    assert toy.loc[0.0, "boundary_jaccard"] == 1.0
    assert (table["boundary_lo"] <= table["boundary_jaccard"]).all() and (table["boundary_jaccard"] <= table["boundary_hi"]).all()
    fig = plot_robustness(table)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["stride 4", "toy router"]
    assert ax.get_xscale() == "log"
    plt.close(fig)
