"""open_fasta: plain, bgzip and plain-gzip FASTA, index placement, and one clear error per bad input."""

import gzip
import os
import stat
from pathlib import Path

import pytest

from ldarnet.genome import FastaError, open_fasta, record_lengths

DATA = Path(__file__).resolve().parents[1] / "data"
TWO_RECORDS = ">chrA first\nACGTACGTAC\nGTacgtNN\n>chrB\nTTTTGGGGCC\n"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("LDARNET_CACHE_DIR", str(folder))
    return folder / "fasta"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_plain_fasta_reads_0_based_half_open_and_builds_fai(tmp_path, cache):
    fa_path = write(tmp_path / "two.fa", TWO_RECORDS)
    with open_fasta(fa_path) as fa:
        assert list(fa.keys()) == ["chrA", "chrB"]
        assert fa["chrA"][0:4].seq == "ACGT"
        assert fa["chrA"][10:14].seq == "GTac"  # case kept by default (soft-masking)
        assert len(fa["chrA"]) == 18
    assert (tmp_path / "two.fa.fai").is_file()
    with open_fasta(fa_path, uppercase=True) as fa:
        assert fa["chrA"][10:14].seq == "GTAC"
    assert record_lengths(fa_path) == {"chrA": 18, "chrB": 10}


def test_plain_gzip_is_decompressed_once_into_the_cache(tmp_path, cache, capsys):
    gz = tmp_path / "two.fa.gz"
    with gzip.open(gz, "wt") as handle:
        handle.write(TWO_RECORDS)
    with open_fasta(gz) as fa:
        assert fa["chrB"][:].seq == "TTTTGGGGCC"
    assert "plain gzip" in capsys.readouterr().err
    copies = list(cache.glob("*two.fa"))
    assert len(copies) == 1
    mtime = copies[0].stat().st_mtime_ns
    with open_fasta(gz) as fa:  # second open: no message, no new copy
        assert fa["chrA"][0:2].seq == "AC"
    assert capsys.readouterr().err == ""
    assert copies[0].stat().st_mtime_ns == mtime
    assert not list(tmp_path.glob("two.fa.gz.fai"))


def test_read_only_folder_gets_its_index_in_the_cache(tmp_path, cache):
    folder = tmp_path / "ro"
    folder.mkdir()
    fa_path = write(folder / "x.fa", TWO_RECORDS)
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with open_fasta(fa_path) as fa:
            assert fa["chrA"][2:5].seq == "GTA"
        assert sorted(p.name for p in folder.iterdir()) == ["x.fa"]
        assert list(cache.glob("x.fa.*.fai"))
    finally:
        folder.chmod(stat.S_IRWXU)


def test_bundled_slice_opens():
    with open_fasta(DATA / "scer_chrI.fa", uppercase=True) as fa:
        assert len(fa["BK006935.2"]) == 230_218
        assert set(fa["BK006935.2"][1000:2000].seq) <= set("ACGTN")


@pytest.mark.parametrize("name, content, message", [
    ("missing.fa", None, "not found"),
    ("empty.fa", "", "empty"),
    ("headers.fa", ">a\n>b\n", "no sequence"),
    ("prose.fa", "hello\nworld\n", "not a valid FASTA"),
    ("ragged.fa", ">a\nACGT\nACGTACGT\nAC\n", "not a valid FASTA"),
])
def test_bad_fasta_gives_one_error_naming_the_file(tmp_path, cache, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(FastaError, match=message) as info:
        open_fasta(path)
    assert str(path) in str(info.value)
    assert not list(tmp_path.glob(".*.part"))
    if name != "headers.fa":  # headers alone index fine; only the sequence check fails
        assert not list(tmp_path.glob("*.fai"))


def test_corrupt_and_truncated_gzip_leave_nothing_behind(tmp_path, cache):
    full = gzip.compress((TWO_RECORDS * 200).encode())
    (tmp_path / "trunc.fa.gz").write_bytes(full[: len(full) // 2])
    (tmp_path / "garbage.fa.gz").write_bytes(b"\x1f\x8b\x08\x00" + os.urandom(64))
    for name in ("trunc.fa.gz", "garbage.fa.gz"):
        with pytest.raises(FastaError, match="gzip") as info:
            open_fasta(tmp_path / name, quiet=True)
        assert name in str(info.value)
    leftovers = list(cache.iterdir()) if cache.exists() else []
    assert leftovers == []


@pytest.mark.parametrize("compress", [False, True])
def test_duplicate_record_names_name_the_file_and_line(tmp_path, cache, compress):
    text = ">chr1 first\nACGTACGT\n>chr2\nAC\nGT\n>chr1 again\nGGGG\n"
    path = tmp_path / ("dup.fa.gz" if compress else "dup.fa")
    path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())
    for _ in range(2):  # building the index, then with any index already there
        with pytest.raises(FastaError, match=r"dup\.fa(\.gz)?, line 6: duplicate record name 'chr1' \(first used on line 1\)"):
            open_fasta(path, cache_dir=cache, quiet=True)
