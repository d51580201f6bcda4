"""Tests for ldarviz.motifs: JASPAR/MEME loading and FIMO scanning on both strands."""

from pathlib import Path

import numpy as np
import pytest

from ldarviz.motifs import (
    CONSENSUS_MOTIFS, DEFAULT_RELEASE, HIT_COLUMNS, iupac_pwm, load_motifs, scan_motifs, shuffle_columns,
)
from ldarviz.sequences import sequence_source

# the default set includes Inr, which cannot reach p < 1e-4 (tested on its own below)
pytestmark = pytest.mark.filterwarnings(r"ignore:motif\(s\) Inr:UserWarning")

DATA = Path(__file__).resolve().parents[1] / "data"
ATHAL = DATA / "athal_chr1_1000000_1200000.fa"


@pytest.fixture(scope="module")
def athal_text():
    lengths, fetch = sequence_source(ATHAL)
    name = next(iter(lengths))
    return name, fetch(name, 0, lengths[name])


def _revcomp(seq):
    return seq[::-1].translate(str.maketrans("ACGT", "TGCA"))


def test_default_motifs_resolve_offline_with_pinned_release():
    motifs = load_motifs()
    assert DEFAULT_RELEASE == "JASPAR2024"
    assert set(motifs) == {"MA0108.3_TBP", "MA0060.4_NFYA", "MA0502.3_NFYB", "MA0079.5_SP1", "Kozak", "Inr"}
    for pwm in motifs.values():
        assert pwm.shape[0] == 4
        np.testing.assert_allclose(pwm.sum(axis=0), 1.0)
    # the most likely base of each TBP column spells its consensus
    assert "".join("ACGT"[i] for i in motifs["MA0108.3_TBP"].argmax(axis=0)) == "TATAAAA"
    assert set(load_motifs(["MA0108.2"], release="JASPAR2020")) == {"MA0108.2_TBP"}


def test_unknown_inputs_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="MA9999.*not in JASPAR2024"):
        load_motifs(["MA9999"])
    with pytest.raises(ValueError, match="release 'JASPAR1999'"):
        load_motifs(["MA0108"], release="JASPAR1999")
    with pytest.raises(ValueError, match="not a JASPAR ID"):
        load_motifs(["TATA"])
    with pytest.raises(ValueError, match=r"shape \(4, w\)"):
        load_motifs({"bad": np.ones((3, 5))})
    bad = tmp_path / "bad.meme"
    bad.write_text("MEME version 4\n\nnothing here\n")
    with pytest.raises(ValueError, match="bad.meme: no MOTIF entries"):
        load_motifs(bad)


def test_meme_file_round_trip(tmp_path):
    from memelite.io import write_meme

    jaspar = load_motifs(["MA0079"])
    path = tmp_path / "sp1.meme"
    write_meme(str(path), {"MA0079.5 SP1": jaspar["MA0079.5_SP1"]})
    from_file = load_motifs(path)
    np.testing.assert_allclose(from_file["MA0079.5_SP1"], jaspar["MA0079.5_SP1"], atol=1e-5)


def test_iupac_and_column_shuffle():
    pwm = iupac_pwm(CONSENSUS_MOTIFS["Kozak"])
    assert pwm.shape == (4, 10)
    assert pwm[:, 3].argsort()[-2:].tolist() in ([0, 2], [2, 0])  # R = A or G
    shuffled = shuffle_columns({"k": pwm}, seed=1)["k_colshuf"]
    assert not np.allclose(shuffled, pwm)
    key = lambda m: sorted(map(tuple, np.round(m.T, 6)))  # noqa: E731
    assert key(shuffled) == key(pwm)


def test_planted_hits_on_both_strands_have_forward_coordinates(athal_text):
    name, text = athal_text
    background = text[20000:21000]
    site = "TATAAAAG"
    planted = background[:100] + site + background[108:600] + _revcomp(site) + background[608:]
    hits = scan_motifs({"x": planted}, motifs=["MA0108"], pvalue=1e-4)
    assert list(hits.columns) == HIT_COLUMNS
    plus = hits[(hits["strand"] == "+") & (hits["start"] == 100)]
    minus = hits[(hits["strand"] == "-") & (hits["end"] == 608)]
    assert len(plus) == 1 and len(minus) == 1
    assert plus["end"].item() == 107 and minus["start"].item() == 601
    assert (hits["pvalue"] < 1e-4).all()
    assert _revcomp(planted[601:608]) == "TATAAAA"
    assert hits.attrs["provenance"]["jaspar_release"] == "JASPAR2024"
    only_forward = scan_motifs({"x": planted}, motifs=["MA0108"], pvalue=1e-4, both_strands=False)
    assert set(only_forward["strand"]) == {"+"}


def test_chunked_scan_equals_single_pass_and_fasta_equals_dict(athal_text):
    name, text = athal_text
    whole = scan_motifs(ATHAL, pvalue=1e-4)
    assert len(whole) > 50
    assert whole.attrs["provenance"]["inputs"][str(ATHAL)]
    chunked = scan_motifs({name: text}, pvalue=1e-4, chunk_size=7_919)
    assert whole.drop_duplicates().shape == whole.shape
    np.testing.assert_array_equal(whole.to_numpy(), chunked.to_numpy())
    # every reported hit reads as a strong match of its PWM on its strand
    pwms = load_motifs()
    for row in whole.sample(20, random_state=0).itertuples():
        seq = text[row.start:row.end]
        seq = _revcomp(seq) if row.strand == "-" else seq
        idx = ["ACGT".index(b) for b in seq]
        log_odds = np.log2(pwms[row.motif_id][idx, np.arange(len(idx))] + 1e-4) + 2
        assert abs(log_odds.sum() - row.score) < 0.5


def test_unreachable_threshold_warns():
    from ldarviz.motifs import best_pvalue

    inr = load_motifs(["Inr"])["Inr"]
    assert best_pvalue(inr) == pytest.approx(128 / 4 ** 7)
    with pytest.warns(UserWarning, match=r"Inr \(best p = 0.0078\) cannot reach p < 0.0001"):
        scan_motifs({"x": "CCATTCC" * 20}, motifs=["Inr"], pvalue=1e-4)
    hits = scan_motifs({"x": "GGGG" + "CCATTCC" + "GGGG"}, motifs=["Inr"], pvalue=0.01)
    assert ((hits["start"] == 4) & (hits["strand"] == "+")).any()


@pytest.mark.parametrize("kwargs, argument", [
    ({"sequences": None}, "sequences: got None"),
    ({"sequences": {}}, "sequences: no sequence"),
    ({"sequences": {"s": ""}}, "sequences: no sequence"),
    ({"sequences": "no/such/file.fa"}, "sequences: no FASTA file"),
    ({"motifs": None}, "motifs: got None"),
    ({"motifs": []}, "motifs: empty"),
    ({"motifs": {}}, "motifs: empty"),
    ({"motifs": ["MA9999"]}, "motifs: motif 'MA9999' is not in JASPAR2024"),
    ({"motifs": ["TATA"]}, "motifs: motif 'TATA': not a JASPAR ID"),
    ({"motifs": 5}, "motifs: expected"),
    ({"pvalue": 0}, "pvalue: must be a number in"),
    ({"pvalue": 1.5}, "pvalue: must be a number in"),
    ({"pvalue": "1e-4"}, "pvalue: must be a number in"),
    ({"pvalue": None}, "pvalue: must be a number in"),
    ({"pvalue": True}, "pvalue: must be a number in"),
    ({"both_strands": "yes"}, "both_strands"),
    ({"chunk_size": 0}, "chunk_size"),
])
def test_scan_motifs_names_the_bad_argument(kwargs, argument):
    args = {"sequences": {"s": "ACGTTATAAAAGGC" * 10}, "motifs": ["Kozak"], "pvalue": 1e-4, **kwargs}
    with pytest.raises(ValueError, match=argument):
        scan_motifs(args.pop("sequences"), **args)
