"""The boundary inspector: the pure HTML rendering, the static track, and the widget's callbacks."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from ldarnet import LDARNet, LDARNetConfig, batch_encode
from ldarnet.genome import open_fasta
from ldarviz import extract_boundaries
from ldarviz.inspector import (
    chunk_intervals, clean_sequence, forward_interval, motif_cuts, plot_boundary_track, render_html,
)
from ldarviz.inspector_widget import boundary_inspector, boundary_probabilities
from ldarviz.motifs import iupac_pwm
from toy_boundaries import KmerStartModel, kmer_boundaries

DATA = Path(__file__).resolve().parents[1] / "data"
FASTA = DATA / "athal_chr1_1000000_1200000.fa"
RECORD = "NC_003070.9_1000000_1200000"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return LDARNet(LDARNetConfig.preset("ldarnet-tiny")).eval()


def chunk_spans(page: str) -> list[tuple[int, int, int, str]]:
    """(index, forward start, forward end, bases) of every chunk span in a rendered page."""
    out = []
    for m in re.finditer(r'<span class="ldar-chunk[^"]*" data-chunk="(\d+)" data-start="(\d+)" data-end="(\d+)"[^>]*>(.*?)</span>(?=<span class="ldar-chunk|</div>)', page):
        out.append((int(m[1]), int(m[2]), int(m[3]), re.sub(r"<[^>]+>", "", m[4])))
    return out


def n_boundaries(page: str) -> int:
    return int(re.search(r'data-boundaries="(\d+)"', page)[1])


# -- pure functions ------------------------------------------------------------------------------

def test_chunk_intervals_rule_is_strictly_greater_and_first_base_always_starts():
    probs = np.array([0.1, 0.9, 0.5, 0.51, 0.0, 1.0])
    assert chunk_intervals(probs, 0.5).tolist() == [[0, 1], [1, 3], [3, 5], [5, 6]]
    assert chunk_intervals(probs, 1.0).tolist() == [[0, 6]]
    assert chunk_intervals(probs, 0.0).tolist() == [[0, 1], [1, 2], [2, 3], [3, 5], [5, 6]]
    assert chunk_intervals(np.zeros(0), 0.5).shape == (0, 2)
    with pytest.raises(ValueError, match="1-D"):
        chunk_intervals(np.zeros((2, 2)))


def test_forward_interval_maps_reverse_display_back_to_the_forward_strand():
    assert forward_interval(2, 5, length=10, offset=100) == (102, 105)
    # displayed RC bases 2..4 are forward bases 7..5 of the region
    assert forward_interval(2, 5, length=10, offset=100, reverse=True) == (105, 108)
    assert forward_interval(0, 10, length=10, offset=100, reverse=True) == (100, 110)


def test_render_html_chunks_tile_the_sequence_with_forward_coordinates():
    seq = "ACGTACGTAC"
    probs = np.array([1.0, 0.2, 0.7, 0.1, 0.9, 0.3, 0.3, 0.6, 0.0, 0.0])
    page = render_html(seq, probs, threshold=0.5, offset=1000, record="chrZ")
    spans = chunk_spans(page)
    assert n_boundaries(page) == len(spans) == 4
    assert "".join(s[3] for s in spans) == seq
    assert [(s[1], s[2]) for s in spans] == [(1000, 1002), (1002, 1004), (1004, 1007), (1007, 1010)]
    assert "chrZ:1000-1010" in page and "ldar-detail" not in page
    assert page.count('class="ldar-boundary"') == 4
    # a higher threshold merges chunks; the pure function reflects it
    assert n_boundaries(render_html(seq, probs, threshold=0.65)) == 3
    assert n_boundaries(render_html(seq, probs, threshold=0.95)) == 1


def test_render_html_selected_chunk_shows_its_bases_and_coordinates():
    seq = "AAAACCCGGT"
    probs = np.array([1, 0, 0, 0, 1, 0, 0, 1, 0, 1], dtype=float)
    page = render_html(seq, probs, selected=1, offset=50, record="r1")
    detail = re.search(r'<div class="ldar-detail".*?</div>', page)[0]
    assert "chunk 1 of 4" in detail and "r1:[54, 57)" in detail and "<code>CCC</code>" in detail
    assert 'data-chunk="1" data-start="54" data-end="57"' in page
    assert page.count("ldar-selected") == 1
    with pytest.raises(ValueError, match="out of range"):
        render_html(seq, probs, selected=4)


def test_render_html_reverse_complement_reports_forward_coordinates():
    rc = "ACCGGGTTTT"  # reverse complement of the region AAAACCCGGT at [50, 60)
    probs = np.array([1, 0, 0, 1, 0, 0, 0, 0, 0, 0], dtype=float)
    page = render_html(rc, probs, selected=0, offset=50, reverse=True, record="r1")
    spans = chunk_spans(page)
    assert [(s[1], s[2], s[3]) for s in spans] == [(57, 60, "ACC"), (50, 57, "GGGTTTT")]
    assert 'data-strand="-"' in page and "r1:[57, 60)" in page


def test_render_html_marks_motif_hits_on_the_displayed_strand():
    seq = "GGTATAAAAGG"
    probs = np.zeros(len(seq))
    hits = pd.DataFrame({"start": [102], "end": [109], "strand": ["+"], "motif_id": ["TBP"], "pvalue": [1e-5]})
    page = render_html(seq, probs, hits=hits, offset=100)
    underlined = re.findall(r'<u class="ldar-motif" data-motif="TBP"[^>]*>([ACGT]+)</u>', page)
    assert underlined == ["TATAAAA"]
    assert page.count('class="ldar-motif-band"') == 1 and 'x="2"' in page
    rc_page = render_html("CCTTTTATACC", probs, hits=hits, offset=100, reverse=True)
    assert re.findall(r'data-motif="TBP"[^>]*>([ACGT]+)</u>', rc_page) == ["TTTTATA"]
    # hits outside the region are left out rather than drawn off the track
    far = hits.assign(start=500, end=507)
    assert "ldar-motif" not in render_html(seq, probs, hits=far, offset=100)


def test_render_html_rejects_bad_input_and_escapes_names():
    with pytest.raises(ValueError, match="shape"):
        render_html("ACGT", np.zeros(3))
    with pytest.raises(ValueError, match="threshold"):
        render_html("ACGT", np.zeros(4), threshold=1.5)
    page = render_html("ACGT", np.zeros(4), record="<b>x</b>")
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page


def test_clean_sequence_reads_fasta_text_and_names_bad_letters():
    assert clean_sequence(">seq1 desc\nACGT nn\n 12 acgtRY\n") == "ACGTnnacgtRY"
    with pytest.raises(ValueError, match=r"'X' at base 2"):
        clean_sequence("ACXGT")


def test_plot_boundary_track_draws_chunk_starts_motifs_and_marks(tmp_path):
    probs = np.array([1.0, 0.1, 0.8, 0.2, 0.6, 0.0])
    hits = pd.DataFrame({"start": [11], "end": [14], "strand": ["+"], "motif_id": ["TBP"], "pvalue": [1e-5]})
    fig, ax = plt.subplots()
    out = plot_boundary_track(probs, threshold=0.5, hits=hits, offset=10, marks={"TSS": 13}, ax=ax,
                              save_path=tmp_path / "track.png", title="demo")
    assert out is fig
    assert ax.get_xlim() == (10, 16)
    starts = [seg[0][0] for seg in ax.collections[1].get_segments()]
    assert starts == [10, 12, 14]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "TBP" in labels and any("chunk start" in t for t in labels)
    assert any(t.get_text() == "TSS" for t in ax.texts)
    assert (tmp_path / "track.png").stat().st_size > 0


# -- model-facing -------------------------------------------------------------------------------

def test_boundary_probabilities_known_answer_short_and_tiled():
    toy = KmerStartModel("TATAAAA")
    seq = open_fasta(FASTA)[RECORD][0:3000].seq.upper()
    expected = kmer_boundaries({"s": seq})["s"].astype(np.float32)
    assert expected.sum() >= 3  # position 0 plus TATA boxes in the slice
    np.testing.assert_array_equal(boundary_probabilities(toy, seq), expected)
    long = open_fasta(FASTA)[RECORD][0:30000].seq.upper()  # several windows of the default tiling
    np.testing.assert_array_equal(boundary_probabilities(toy, long), kmer_boundaries({"s": long})["s"].astype(np.float32))


def test_the_widget_reads_boundaries_through_the_one_extraction_path(tiny):
    seq = open_fasta(FASTA)[RECORD][5000:5240].seq
    got = boundary_probabilities(tiny, seq)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, extract_boundaries(tiny, {"x": seq})["x"].astype(np.float32))


def test_widget_threshold_sweep_follows_the_model(tiny):
    box = boundary_inspector(tiny, FASTA, record=RECORD, start=5000, length=240, motifs=None)
    c = box.controls
    seq = open_fasta(FASTA)[RECORD][5000:5240].seq
    ids, mask = batch_encode([seq])
    with torch.no_grad():
        stage = tiny.extract_boundaries(ids, mask)[0]
    assert n_boundaries(c.view.value) == int(stage.boundary_mask.sum())  # 0.5 is the model's own rule
    model_prob = extract_boundaries(tiny, {"s": seq})["s"]  # the values the widget shows (float16, as every analysis)
    np.testing.assert_allclose(model_prob, stage.boundary_prob[0].numpy(), atol=1e-3)
    counts = []
    for t in np.linspace(0.0, 1.0, 11):
        c.threshold.value = float(t)
        page = c.view.value
        counts.append(n_boundaries(page))
        assert counts[-1] == len(chunk_intervals(model_prob, t)) == len(chunk_spans(page))
        assert c.chunk.max == counts[-1] - 1
        assert "".join(s[3] for s in chunk_spans(page)) == seq
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1] == 1


def test_widget_chunk_picking_reverse_toggle_and_motifs():
    toy = KmerStartModel("TATAAAA")
    fa = open_fasta(FASTA)
    text = fa[RECORD][0:20000].seq.upper()
    at = text.index("TATAAAA")
    start = max(0, at - 40)
    box = boundary_inspector(toy, fa, record=RECORD, start=start, length=120, motifs={"TATA": iupac_pwm("TATAAAA")},
                             pvalue=1e-3)
    c = box.controls
    forward = chunk_spans(c.view.value)
    assert at in [s[1] for s in forward]  # the toy cuts where the TATA box starts
    assert "TATA" in re.findall(r'data-motif="([^"]+)"', c.view.value)
    c.chunk.value = 1
    detail = re.search(r'<div class="ldar-detail".*?</div>', c.view.value)[0]
    s1 = forward[1]
    assert f"[{s1[1]}, {s1[2]})" in detail and f"<code>{fa[RECORD][s1[1]:s1[2]].seq}</code>" in detail
    c.reverse.value = True
    backward = chunk_spans(c.view.value)
    assert 'data-strand="-"' in c.view.value
    # the toy reads the box as TTTTATA on the reverse strand and cuts after it: at the same forward position
    assert at in [s[2] for s in backward]
    assert sorted((s[1], s[2]) for s in backward)[0][0] == start
    c.motifs.value = ()
    assert "ldar-motif" not in c.view.value


def test_widget_explains_the_selected_cut_with_an_attribution_logo():
    toy = KmerStartModel("TATAAAA")
    fa = open_fasta(FASTA)
    text = fa[RECORD][0:20000].seq.upper()
    at = text.index("TATAAAA")
    start = max(0, at - 40)
    box = boundary_inspector(toy, fa, record=RECORD, start=start, length=120, motifs=None)
    c = box.controls
    starts = [s[1] for s in chunk_spans(c.view.value)]
    c.chunk.value = starts.index(at)  # the chunk the toy starts at the TATA box
    assert not c.attribution.value
    c.explain.click()
    assert box.state["attribution"] == at - start  # shown coordinates
    assert bytes(c.attribution.value).startswith(b"\x89PNG")


def test_widget_pasted_sequence_and_user_errors_show_a_message(tiny):
    box = boundary_inspector(tiny, None, sequence=">mine\nACGTACGTTTGACA\n", motifs=None)
    c = box.controls
    assert box.state["record"] == "pasted" and "pasted:0-14" in c.view.value
    c.sequence.value = "ACGT?"
    assert "ldar-error" in c.view.value and "'?' at base 4" in c.view.value and not box.state
    c.threshold.value = 0.7  # no state: nothing to draw, and no exception
    c.sequence.value = ""
    assert "no FASTA" in c.view.value
    region = boundary_inspector(tiny, FASTA, start=199_990, length=50, motifs=None)
    assert region.state["sequence"] and len(region.state["sequence"]) == 10  # clipped at the record end
    region.controls.start.value = 10**9
    assert "past the end" in region.controls.view.value
    with pytest.raises(ValueError, match="no record 'chrNope'"):
        boundary_inspector(tiny, FASTA, record="chrNope", motifs=None)


def test_motif_cuts_counts_starts_strictly_inside_hits():
    probs = np.zeros(20)
    probs[[5, 8, 15]] = 0.9  # chunks start at 0, 5, 8, 15
    hits = pd.DataFrame({"start": [104, 114], "end": [110, 118]})  # record coordinates, offset 100
    cuts = motif_cuts(probs, hits, offset=100, tss=109)
    # inside = positions 5..9 and 15..17: starts 5 and 8 and 15 cut through motifs, 0 does not
    assert (cuts.length, cuts.n_chunks, cuts.n_motif_hits, cuts.starts_inside_motifs) == (20, 4, 2, 3)
    assert cuts.expected_inside_motifs == pytest.approx(8 / 19 * 3)
    assert cuts.mean_chunk_length == 5.0 and cuts.mean_boundary_prob == pytest.approx(2.7 / 20)
    assert cuts.nearest_start_to_tss == -1  # start 108 is the closest to the TSS at 109
    assert cuts.rounded(2)["expected_inside_motifs"] == round(8 / 19 * 3, 2)
    none = motif_cuts(probs, hits.iloc[:0], offset=100)
    assert none.starts_inside_motifs == 0 and none.expected_inside_motifs == 0 and none.nearest_start_to_tss is None
    with pytest.raises(ValueError, match="at least one base"):
        motif_cuts(np.zeros(0), None)

