"""Tests for ldarviz.landmarks and ldarviz.promoters: the three landmark statistics on hand-made
boundaries with known answers, promoter windows and start-codon frames from a hand-made GFF3."""

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ldarviz.extract import extract_boundaries
from ldarviz.landmarks import landmark_matrix, landmark_offsets, landmark_stats, motif_landmarks, landmark_table, plot_landmark_stats
from ldarviz.promoters import in_regions, promoter_windows, start_codon_windows
from ldarviz.stats import beats_controls

from toy_boundaries import KmerStartModel

W = 8  # motif width in the hand-made examples


def sites_at(starts, strand="+", seq_id="s"):
    starts = np.asarray(starts)
    return pd.DataFrame({"seq_id": seq_id, "start": starts, "end": starts + W, "strand": strand, "motif_id": "m"})


def background(length=20_000, rate=0.25, seed=1):
    return np.random.default_rng(seed).random(length) < rate


def stats_of(boundaries, sites, **kw):
    m = landmark_matrix(boundaries, sites, W, radius=60)
    return landmark_stats(m, W, radius=60, n_perm=999, **kw).set_index("statistic")


STARTS = np.arange(200, 19_600, 250)


def test_offsets_by_hand():
    off = landmark_offsets(8, flank=3)
    assert off["start"].tolist() == [0] and off["inside"].tolist() == list(range(1, 8))
    assert off["flanks"].tolist() == [-3, -2, -1, 9, 10, 11]  # the end cut (offset 8) is in neither
    with pytest.raises(ValueError, match="width"):
        landmark_offsets(1)


def test_matrix_reads_the_minus_strand_backwards():
    b = {"s": np.zeros(300)}
    b["s"][[100, 108]] = 1  # cuts before base 100 (start of + hit) and 108 (its end)
    plus = landmark_matrix(b, sites_at([100]), W, radius=20)
    assert plus.shape == (1, 2 * 20 + W + 1) and plus[0, 20] == 1 and plus[0, 20 + W] == 1
    minus = landmark_matrix(b, sites_at([100], strand="-"), W, radius=20)
    assert minus[0, 20] == 1 and minus[0, 20 + W] == 1  # a - hit [100, 108) starts at the cut 108


def test_boundaries_exactly_at_motif_starts_make_the_start_statistic_significant():
    b = {"s": background()}
    b["s"][STARTS] = True
    st = stats_of(b, sites_at(STARTS))
    assert st.loc["start", "observed"] == 1.0 and st.loc["start", "pvalue"] < 0.01
    assert st.loc["start", "enrichment"] > 3
    assert st.loc["inside", "pvalue"] > 0.05 and st.loc["flanks", "pvalue"] > 0.05


def test_no_boundaries_inside_motifs_makes_avoidance_significant():
    b = {"s": background()}
    for s in STARTS:
        b["s"][s + 1: s + W] = False
    st = stats_of(b, sites_at(STARTS))
    assert st.loc["inside", "observed"] == 0 and st.loc["inside", "pvalue"] < 0.01
    assert st.loc["inside", "alternative"] == "less" and st.loc["inside", "enrichment"] == 0
    assert st.loc["start", "pvalue"] > 0.05


def test_boundaries_in_the_flanks_and_nothing_in_plain_noise():
    b = {"s": background()}
    for s in STARTS:
        b["s"][[s - 3, s + W + 2]] = True
    st = stats_of(b, sites_at(STARTS), flank=5)
    assert st.loc["flanks", "pvalue"] < 0.01 and st.loc["start", "pvalue"] > 0.05
    noise = stats_of({"s": background(seed=7)}, sites_at(STARTS))
    assert (noise["pvalue"] > 0.01).all()
    assert np.allclose(noise["enrichment"], 1, atol=0.3)


def test_same_answer_on_the_minus_strand():
    b = {"s": background()}
    b["s"][STARTS + W] = True  # the cut before the first base of a - hit [s, s+W) is s+W
    st = stats_of(b, sites_at(STARTS, strand="-"))
    assert st.loc["start", "pvalue"] < 0.01


GFF = """##gff-version 3
s\tt\tgene\t1001\t2000\t.\t+\t.\tID=g1
s\tt\tmRNA\t1001\t2000\t.\t+\t.\tID=t1;Parent=g1
s\tt\texon\t1001\t2000\t.\t+\t.\tID=e1;Parent=t1
s\tt\tCDS\t1101\t1900\t.\t+\t0\tID=c1;Parent=t1
s\tt\tgene\t5001\t6000\t.\t-\t.\tID=g2
s\tt\tmRNA\t5001\t6000\t.\t-\t.\tID=t2;Parent=g2
s\tt\texon\t5001\t6000\t.\t-\t.\tID=e2;Parent=t2
s\tt\tCDS\t5101\t5900\t.\t-\t0\tID=c2;Parent=t2
"""


@pytest.fixture
def gff(tmp_path):
    path = tmp_path / "toy.gff3"
    path.write_text(GFF)
    return path


def test_promoter_windows_are_strand_aware(gff):
    win = promoter_windows(gff).set_index("transcript_id")
    # + TSS at 1000: [700, 1050); - TSS at 5999 (0-based last base): 300 upstream is to the right
    assert tuple(win.loc["t1", ["start", "end", "tss"]]) == (700, 1050, 1000)
    assert tuple(win.loc["t2", ["start", "end", "tss"]]) == (5950, 6300, 5999)
    clipped = promoter_windows(gff, upstream=2000, lengths={"s": 6100}).set_index("transcript_id")
    assert clipped.loc["t1", "start"] == 0 and clipped.loc["t2", "end"] == 6100


def test_start_codon_windows_frame_the_kozak_consensus(gff):
    win = start_codon_windows(gff).set_index("transcript_id")
    # + CDS starts at 1100: A of ATG at 1100, window [1094, 1104); - CDS ends at 5900: A at 5899
    assert tuple(win.loc["t1", ["start", "end", "codon_start"]]) == (1094, 1104, 1100)
    assert tuple(win.loc["t2", ["start", "end", "codon_start"]]) == (5896, 5906, 5897)
    # the - window read on the minus strand is 6 bases before the A and 4 from it
    seq = "".join(np.random.default_rng(0).choice(list("ACGT"), 6000))
    seq = seq[:5897] + "CAT" + seq[5900:]  # ATG on the minus strand at [5897, 5900)
    frame = seq[5896:5906][::-1].translate(str.maketrans("ACGT", "TGCA"))
    assert frame[6:9] == "ATG"


def test_in_regions_inside_outside_and_strand():
    regions = pd.DataFrame({"seq_id": ["s", "s"], "start": [100, 500], "end": [200, 600], "strand": ["+", "-"]})
    hits = pd.DataFrame({"seq_id": "s", "start": [110, 195, 300, 510, 510], "end": [118, 203, 308, 518, 518],
                         "strand": ["+", "+", "+", "+", "-"]})
    assert in_regions(hits, regions).index.tolist() == [0, 3, 4]
    assert in_regions(hits, regions, inside=False).index.tolist() == [2]  # 195..203 straddles: neither
    assert in_regions(hits, regions, stranded=True).index.tolist() == [0, 4]
    assert in_regions(hits, regions, stranded=True, inside=False).index.tolist() == [2, 3]
    assert in_regions(hits.assign(seq_id="other"), regions, inside=False).index.tolist() == [0, 1, 2, 3, 4]


def test_motif_landmarks_on_a_toy_model_that_cuts_at_the_motif():
    """A model that cuts where TATAAAA starts: the start statistic beats the controls inside the
    regions, and every set has the three statistics."""
    rng = np.random.default_rng(3)
    seq = list(rng.choice(list("ACGT"), 24_000))
    starts = np.arange(500, 23_500, 800)
    for s in starts:
        seq[s:s + 7] = list("TATAAAA")
    genome = {"chr": "".join(seq)}
    model = KmerStartModel("TATAAAA")
    extract = partial(extract_boundaries, model, window=4096, overlap=256, batch_size=4)
    boundaries = extract(genome)
    pwm = np.full((4, 7), 0.01)
    for k, base in enumerate("TATAAAA"):
        pwm["ACGT".index(base), k] = 0.97
    from ldarviz.motifs import scan_motifs

    hits = scan_motifs(genome, {"TATA": pwm}, pvalue=1e-4)
    regions = pd.DataFrame({"seq_id": "chr", "start": starts[::2] - 100, "end": starts[::2] + 100, "strand": "+"})
    profiles, stats = motif_landmarks(boundaries, hits, genome, regions=regions, boundary_fn=extract, motifs={"TATA": pwm},
                                      radius=60, n_perm=499, n_boot=50, max_planted=50)
    assert set(stats["set"]) >= {"true", "outside", "gc_matched", "planted_shuffle"}
    assert (stats.groupby("set").size() == 3).all()
    true = stats[stats["set"] == "true"].set_index("statistic")
    assert true.loc["start", "n_sites"] == len(starts[::2]) and true.loc["start", "observed"] == 1.0
    verdicts = beats_controls(stats, by=["motif_id", "statistic"], controls=["gc_matched"],
                              compare=["planted_shuffle", "outside"]).set_index("statistic")
    assert verdicts.loc["start", "beats_controls"] and "planted_shuffle" in verdicts.loc["start", "also_in"]
    assert not verdicts.loc["flanks", "beats_controls"]
    assert set(profiles["offset"]) == set(range(-60, 60 + 7 + 1))
    assert "motif_landmarks" in str(stats.attrs["provenance"]["parameters"])


def test_motif_landmarks_rejects_bad_arguments():
    hits = sites_at([100]).assign(pvalue=1e-5)
    with pytest.raises(ValueError, match="controls: unknown"):
        motif_landmarks({"s": np.zeros(500)}, hits, {"s": "A" * 500}, controls=["nope"])
    with pytest.raises(ValueError, match="boundary_fn"):
        motif_landmarks({"s": np.zeros(500)}, hits, {"s": "A" * 500}, controls=["planted_shuffle"])


def test_plot_landmark_stats_draws_one_bar_per_motif_and_set():
    import matplotlib

    matplotlib.use("Agg")
    rows = []
    for motif in ("MA1_TBP", "MA2_SP1"):
        for name, e, p in (("true", 0.5, 0.001), ("gc_matched", 1.0, 0.5)):
            rows.append({"motif_id": motif, "set": name, "statistic": "inside", "enrichment": e, "pvalue": p})
    fig = plot_landmark_stats(pd.DataFrame(rows), "inside")
    ax = fig.axes[0]
    assert len(ax.patches) == 4 and [t.get_text() for t in ax.get_xticklabels()] == ["TBP", "SP1"]
    assert sorted(round(p.get_height(), 2) for p in ax.patches) == [0.5, 0.5, 1.0, 1.0]
    assert sum(t.get_text() == "*" for t in ax.texts) == 2
    with pytest.raises(ValueError, match="statistic"):
        plot_landmark_stats(pd.DataFrame(rows), "middle")


def test_landmark_table_has_one_row_per_motif_and_set():
    rows = [{"motif_id": "m", "set": name, "statistic": stat, "enrichment": e, "pvalue": 0.5, "n_sites": n}
            for name, e, n in (("true", 0.8, 10), ("gc_matched", 1.0, 9)) for stat in ("start", "inside", "flanks")]
    t = landmark_table(pd.DataFrame(rows))
    assert t.loc[("m", "true"), "inside enrichment"] == 0.8 and t.loc[("m", "gc_matched"), "n_sites"] == 9
    assert list(t.columns) == ["n_sites", "start enrichment", "start p", "inside enrichment", "inside p",
                               "flanks enrichment", "flanks p"]
