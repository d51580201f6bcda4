"""WindowCorpus: weights, N filter, held-out data, RC on training only, determinism, clear errors."""

from pathlib import Path

import numpy as np
import pytest

from ldarnet import N_ID, encode
from ldarnet.data import IGNORE_INDEX, TRAIN, VALIDATION, WindowCorpus
from ldarnet.genome import open_fasta
from ldarnet.vocab import COMPLEMENT

DATA = Path(__file__).resolve().parents[1] / "data"
ATHAL = DATA / "athal_chr1_1000000_1200000.fa"
YEAST = DATA / "scer_chrI.fa"


def original(window_info, corpus_files):
    with open_fasta(window_info["file"], uppercase=True, quiet=True) as fa:
        return encode(fa[window_info["record"]][window_info["start"]:window_info["end"]].seq).numpy()


def unmasked(inputs, labels):
    return np.where(labels != IGNORE_INDEX, labels, inputs)


def test_windows_are_real_sequence_with_rc_half_the_time_and_deterministic():
    corpus = WindowCorpus([ATHAL, YEAST], window_length=256, seed=5)
    strands = []
    for k in range(60):
        inputs, labels, where = corpus.window(k)
        seq = original(where, None)
        if where["strand"] == "-":
            seq = COMPLEMENT.numpy()[seq][::-1]
        np.testing.assert_array_equal(unmasked(inputs, labels), seq)
        strands.append(where["strand"])
    assert 15 <= strands.count("-") <= 45
    again = WindowCorpus([ATHAL, YEAST], window_length=256, seed=5)
    a, la = corpus.batch(range(10, 20))
    b, lb = again.batch(range(10, 20))
    assert (a == b).all() and (la == lb).all()
    c, _ = WindowCorpus([ATHAL, YEAST], window_length=256, seed=6).batch(range(10, 20))
    assert not (a == c).all()


def test_sampling_weights_are_followed():
    corpus = WindowCorpus([ATHAL, YEAST], window_length=128, weights=[3, 1], seed=0)
    files = [corpus.window(k)[2]["file"] for k in range(400)]
    share = files.count(str(ATHAL)) / len(files)
    assert 0.68 < share < 0.82
    only = WindowCorpus([ATHAL, YEAST], window_length=128, weights=[0, 1], seed=0)
    assert {only.window(k)[2]["file"] for k in range(50)} == {str(YEAST)}


def test_held_out_regions_and_records_never_reach_training(tmp_path):
    bed = tmp_path / "val.bed"
    bed.write_text("# held out\nNC_003070.9_1000000_1200000\t100000\t140000\n")
    corpus = WindowCorpus([ATHAL, YEAST], window_length=512, val_regions=bed, val_records=["BK006935.2"], seed=1)
    for k in range(200):
        where = corpus.window(k)[2]
        assert where["file"] == str(ATHAL)  # the only yeast record is held out
        assert where["end"] <= 100_000 or where["start"] >= 140_000
    for k in range(20):
        inputs, labels, where = corpus.window(k, VALIDATION)
        assert where["strand"] == "+"
        if where["file"] == str(ATHAL):
            assert 100_000 <= where["start"] and where["end"] <= 140_000
        else:
            assert where["record"] == "BK006935.2"
    assert corpus.has_validation
    assert {d["file"]: d["val_bp"] for d in corpus.describe()} == {str(ATHAL): 40_000, str(YEAST): 230_218}


def test_n_rich_windows_are_skipped(tmp_path):
    seq = "ACGT" * 100 + "N" * 400 + "ACGT" * 100
    path = tmp_path / "gappy.fa"
    path.write_text(">r\n" + seq + "\n")
    corpus = WindowCorpus([path], window_length=100, max_n_fraction=0.1, seed=0)
    for k in range(100):
        inputs, labels, _ = corpus.window(k)
        assert (unmasked(inputs, labels) == N_ID).sum() <= 10


@pytest.mark.parametrize("records, kwargs, message", [
    (">r\nACGTACGT\n", dict(window_length=100), "shorter"),
    (">r\n" + "N" * 300 + "\n", dict(window_length=100, max_tries=50), "no window of 100 bp"),
    (">r\n" + "ACGT" * 50 + "\n", dict(window_length=50, weights=[1, 2]), "one per file"),
    (">r\n" + "ACGT" * 50 + "\n", dict(window_length=50, val_records=["chrZ"]), "chrZ"),
])
def test_bad_corpus_inputs_name_the_problem(tmp_path, records, kwargs, message):
    path = tmp_path / "in.fa"
    path.write_text(records)
    with pytest.raises(ValueError, match=message) as info:
        corpus = WindowCorpus([path], **kwargs)
        corpus.window(0)
    if message in ("shorter", "no window of 100 bp"):
        assert str(path) in str(info.value)


def test_bad_region_file_names_file_and_line(tmp_path):
    bed = tmp_path / "bad.bed"
    bed.write_text("r\t0\t10\nr\tten\t20\n")
    fa = tmp_path / "x.fa"
    fa.write_text(">r\n" + "ACGT" * 50 + "\n")
    with pytest.raises(ValueError, match=r"bad\.bed:2"):
        WindowCorpus([fa], window_length=20, val_regions=bed)


def test_validation_needs_held_out_data():
    corpus = WindowCorpus([YEAST], window_length=64)
    assert not corpus.has_validation
    with pytest.raises(ValueError, match="held-out"):
        corpus.window(0, VALIDATION)
    inputs, labels = corpus.batch(range(3), TRAIN)
    assert inputs.shape == labels.shape == (3, 64)
