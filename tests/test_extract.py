"""Tiled boundary extraction: tiling plan, stitching, streaming writers, input errors and the CLI."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ldarnet.genome import (
    Segment, check_tiling, default_tiling, iter_boundaries, plan_windows, read_regions, sequence_source, whole_records, write_tracks,
)
from ldarnet import encode
from ldarnet.genome.tiling import track_values
from ldarnet.outputs import BoundaryOutput
from ldarviz.extract import extract_boundaries


class ToyRouter(torch.nn.Module):
    """A stand-in with a known receptive field: p_t depends only on bases t - radius .. t + radius.

    Off-window and padded positions read as 0, as zero padding would. p_0 = 1 (the forced
    boundary), pads get p = 0, and every other p is below 0.9, so a leaked window start shows.
    """

    def __init__(self, radius: int = 2):
        super().__init__()
        self.radius = radius
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.calls = 0

    def forward(self, *args, **kwargs):
        raise AssertionError("boundary extraction must not run the full forward")

    def extract_boundaries(self, input_ids, attention_mask=None):
        self.calls += 1
        valid = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
        x = torch.where(valid, input_ids + 1, 0).double()
        kernel = 7.0 ** torch.arange(2 * self.radius + 1, dtype=torch.double)
        mixed = torch.nn.functional.conv1d(x[:, None], kernel[None, None], padding=self.radius)[:, 0]
        prob = (torch.frac(mixed * 0.1373) * 0.9).float()
        prob[:, 0] = 1.0
        prob = torch.where(valid, prob, 0.0)
        mask = prob > 0.5
        return [BoundaryOutput(prob, mask, mask.sum(1))]


DATA_FASTA = Path(__file__).resolve().parents[1] / "data" / "athal_chr1_1000000_1200000.fa"


@functools.cache
def athal() -> str:
    """200 kb of real, soft-masked Arabidopsis chr1 from the project's data/ (see data/README.md)."""
    from ldarnet.genome import open_fasta

    with open_fasta(DATA_FASTA, quiet=True) as fasta:
        name = next(iter(fasta.keys()))
        return str(fasta[name][:])


def real_dna(rng: np.random.Generator, n: int) -> str:
    """``n`` consecutive bases of real sequence, from a random place in the slice."""
    start = int(rng.integers(0, len(athal()) - n))
    return athal()[start:start + n]


def single_pass(model, seq: str) -> np.ndarray:
    with torch.inference_mode():
        stage = model.extract_boundaries(encode(seq)[None])[0]
    # stored as every track is: float16 that keeps the model's p > 0.5 decisions
    return track_values(stage.boundary_prob[0].numpy(), stage.boundary_mask[0].numpy())


# -- the tiling plan ---------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(length=st.integers(1, 5000), window=st.integers(3, 600), overlap_frac=st.floats(0.0, 0.99))
def test_plan_covers_every_base_once_and_keeps_cores_away_from_edges(length, window, overlap_frac):
    overlap = min(window - 1, max(2, int(window * overlap_frac)))
    plan = plan_windows(length, window, overlap)
    start, end, core_start, core_end = plan.T
    assert core_start[0] == 0 and core_end[-1] == length
    assert np.array_equal(core_start[1:], core_end[:-1])
    assert (core_end > core_start).all()
    assert (start >= 0).all() and (end <= length).all()
    assert (start <= core_start).all() and (core_end <= end).all()
    if length > window:
        assert ((end - start) == window).all()
        assert (end[:-1] - start[1:] >= overlap).all()
        inner_left = core_start[1:] - start[1:]  # distance from a non-sequence-start window edge
        inner_right = end[:-1] - core_end[:-1]
        assert (inner_left >= overlap // 2).all() and (inner_right >= overlap // 2).all()
    else:
        assert plan.tolist() == [[0, length, 0, length]]


@pytest.mark.parametrize("window, overlap, batch, message", [
    (100, 1, 1, "overlap=1"), (100, 100, 1, "window=100"), (100, 10, 0, "batch_size=0"), (100.0, 10, 1, "window must be an integer"),
])
def test_bad_tiling_parameters_are_refused(window, overlap, batch, message):
    with pytest.raises(ValueError, match=message):
        check_tiling(window, overlap, batch)


def test_default_tiling_keeps_bases_beyond_the_outer_attention_reach():
    from ldarnet import LDARNet, LDARNetConfig

    proxy = LDARNet(LDARNetConfig.preset("ldarnet-proxy"))
    assert default_tiling(proxy) == {"window": 32768, "overlap": 2048, "batch_size": 1}  # reach 1023 each side
    tiny = LDARNet(LDARNetConfig.preset("ldarnet-tiny"))
    assert default_tiling(tiny) == {"window": 4096, "overlap": 64, "batch_size": 2}  # reach 31
    global_attention = LDARNet(LDARNetConfig.preset("ldarnet-tiny", window_size=[-1, -1]))
    assert default_tiling(global_attention)["overlap"] == 2048
    assert default_tiling(ToyRouter())["overlap"] == 2048
    # a router centred over +-512 positions reads encoder outputs 512 further: the overlap grows by twice that
    moving = LDARNet(LDARNetConfig.preset("ldarnet-proxy", router_centering=True, router_centering_span=512))
    assert default_tiling(moving) == {"window": 49152, "overlap": 3072, "batch_size": 1}
    whole = LDARNet(LDARNetConfig.preset("ldarnet-proxy", router_centering=True))  # mean over the whole window
    assert default_tiling(whole)["overlap"] == 2048  # no overlap makes tiles exact: the fallback


# -- stitching with a model of known receptive field ---------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(lengths=st.lists(st.integers(1, 600), min_size=1, max_size=3), window=st.integers(24, 200),
       batch=st.integers(1, 5), seed=st.integers(0, 1000))
def test_stitched_equals_one_pass_when_overlap_covers_the_receptive_field(lengths, window, batch, seed):
    rng = np.random.default_rng(seed)
    model = ToyRouter(radius=3)
    seqs = {f"s{k}": real_dna(rng, n) for k, n in enumerate(lengths)}
    got = extract_boundaries(model, seqs, window=window, overlap=8, batch_size=batch)
    for name, seq in seqs.items():
        assert got[name].dtype == np.float16 and got[name].shape == (len(seq),)
        np.testing.assert_array_equal(got[name], single_pass(model, seq))


def test_forced_window_start_never_leaks_and_forward_is_never_called():
    model = ToyRouter(radius=0).train()
    seq = real_dna(np.random.default_rng(0), 2000)
    prob = extract_boundaries(model, {"x": seq}, window=64, overlap=2, batch_size=3)["x"]
    assert model.calls > 5
    assert model.training  # its train/eval mode is given back
    assert np.flatnonzero(prob == 1.0).tolist() == [0]


def test_all_n_windows_are_computed_once_and_equal_a_direct_pass():
    rng = np.random.default_rng(1)
    seq = real_dna(rng, 300) + "N" * 5000 + real_dna(rng, 300)
    model = ToyRouter(radius=3)
    prob = extract_boundaries(model, {"x": seq, "allN": "n" * 3000}, window=256, overlap=32, batch_size=1)
    np.testing.assert_array_equal(prob["x"], single_pass(model, seq))
    np.testing.assert_array_equal(prob["allN"], single_pass(model, "N" * 3000))
    n_windows = len(plan_windows(len(seq), 256, 32)) + len(plan_windows(3000, 256, 32))
    assert model.calls < n_windows - 20  # the ~30 all-N windows after the first ran no model call


# -- writers -------------------------------------------------------------------------------------------
def parse_bed(path):
    rows = [line.rstrip("\n").split("\t") for line in open(path)]
    return [(r[0], int(r[1]), int(r[2]), *r[3:]) for r in rows]


def test_bedgraph_and_chunks_cover_every_base_exactly_once(tmp_path):
    rng = np.random.default_rng(2)
    seqs = {"chrA": real_dna(rng, 2345), "chrB": real_dna(rng, 12) + "NNN", "chrC": "N" * 900 + real_dna(rng, 77)}
    model = ToyRouter(radius=2)
    lengths, fetch = sequence_source(seqs)
    probs, masks = extract_boundaries(model, seqs, window=200, overlap=20, batch_size=2, return_mask=True)
    summary = write_tracks(iter_boundaries(model, whole_records(lengths), fetch, window=200, overlap=20,
                                           batch_size=2, progress=False), tmp_path / "sub" / "out")
    assert summary["bases"] == sum(lengths.values()) and summary["segments"] == 3
    graph, chunks = parse_bed(summary["bedgraph"]), parse_bed(summary["chunks_bed"])
    assert summary["chunks"] == len(chunks)
    for name, n in lengths.items():
        track = np.full(n, np.nan, dtype=np.float32)
        covered = np.zeros(n, dtype=int)
        for chrom, start, end, value in (r for r in graph if r[0] == name):
            covered[start:end] += 1
            track[start:end] = np.float16(value)
        assert (covered == 1).all()
        np.testing.assert_array_equal(track.astype(np.float16), probs[name])
        spans = [(s, e) for chrom, s, e in chunks if chrom == name]
        starts = [s for s, _ in spans]
        assert starts == sorted(set(np.flatnonzero(masks[name]).tolist()) | {0})
        assert [e for _, e in spans] == starts[1:] + [n]
    values = [r[3] for r in graph]
    assert all(v == np.format_float_positional(np.float16(v), trim="-") for v in values)  # shortest float16 text
    assert len(graph) < sum(lengths.values())  # runs of equal values (the N run) are merged
    assert not list(tmp_path.glob("sub/*.tmp"))


def test_regions_become_their_own_sequences(tmp_path):
    rng = np.random.default_rng(3)
    seqs = {"chr1": real_dna(rng, 1000), "chr2": real_dna(rng, 500)}
    bed = tmp_path / "r.bed"
    bed.write_text("# comment\ntrack name=x\nchr1\t100\t350\tfirst\n\nchr2 0 500\nchr1\t350\t360\n")
    model = ToyRouter(radius=1)
    got = extract_boundaries(model, seqs, regions=bed, window=64, overlap=8)
    assert list(got) == ["chr1:100-350", "chr2:0-500", "chr1:350-360"]
    np.testing.assert_array_equal(got["chr1:100-350"], single_pass(model, seqs["chr1"][100:350]))
    assert got["chr1:350-360"][0] == 1.0  # a region start is a sequence start
    as_list = extract_boundaries(model, seqs, regions=[("chr1", 100, 350)], window=64, overlap=8)
    np.testing.assert_array_equal(as_list["chr1:100-350"], got["chr1:100-350"])


@pytest.mark.parametrize("content, message", [
    ("chr1\t10\n", "line 1: expected at least 3 columns"),
    ("chr1\t0\t5\nchr1\tten\t20\n", "line 2: start and end must be integers"),
    ("chr9\t0\t5\n", "line 1: record 'chr9' is not in the FASTA"),
    ("chr1\t50\t40\n", "line 1: region 50-40 is not within record 'chr1'"),
    ("chr1\t0\t101\n", "line 1: region 0-101"),
    ("chr1\t0\t50\nchr1\t40\t60\n", "line 1 and .*bad.bed line 2: regions chr1:0-50 and chr1:40-60 overlap"),
    ("chr1\t0\t50\nchr1\t0\t50\n", "line 1 and .*bad.bed line 2: .* overlap"),
    ("# nothing\n", "has no regions"),
])
def test_bad_bed_lines_name_the_file_and_line(tmp_path, content, message):
    bed = tmp_path / "bad.bed"
    bed.write_text(content)
    with pytest.raises(ValueError, match=message) as info:
        read_regions(bed, {"chr1": 100})
    assert "bad.bed" in str(info.value)


def test_region_lists_are_checked_like_bed_lines():
    lengths = {"chr1": 100}
    assert read_regions([("chr1", 5, 10), ["chr1", "20", "30"]], lengths) == [
        Segment("chr1:5-10", "chr1", 5, 10), Segment("chr1:20-30", "chr1", 20, 30)]
    with pytest.raises(ValueError, match="regions item 1: region 90-120"):
        read_regions([("chr1", 5, 10), ("chr1", 90, 120)], lengths)
    assert len(read_regions([("chr1", 5, 10), ("chr1", 5, 10)], lengths, allow_overlap=True)) == 2


def test_bad_sequences_give_clear_errors(tmp_path):
    model = ToyRouter()
    with pytest.raises(ValueError, match="record 'x' position 7: invalid nucleotide 'Z'"):
        extract_boundaries(model, {"x": "ACGTACGZ"}, window=64, overlap=8)
    with pytest.raises(ValueError, match="FASTA file not found"):
        extract_boundaries(model, tmp_path / "missing.fa")
    with pytest.raises(ValueError, match="must be a str"):
        extract_boundaries(model, {"x": b"ACGT"})
    with pytest.raises(ValueError, match="record 'chrX' is not in the FASTA"):
        (tmp_path / "r.bed").write_text("chrX\t0\t4\n")
        extract_boundaries(model, {"chr1": "ACGT"}, regions=tmp_path / "r.bed")


def test_fasta_path_and_pyfaidx_inputs_agree(tmp_path):
    import pyfaidx

    rng = np.random.default_rng(4)
    seqs = {"a": real_dna(rng, 333), "b": real_dna(rng, 61).lower()}
    fasta = tmp_path / "g.fa"
    fasta.write_text("".join(f">{k} description\n" + "\n".join(v[i:i + 60] for i in range(0, len(v), 60)) + "\n" for k, v in seqs.items()))
    model = ToyRouter()
    from_dict = extract_boundaries(model, seqs, window=100, overlap=10)
    from_path = extract_boundaries(model, fasta, window=100, overlap=10)
    from_faidx = extract_boundaries(model, pyfaidx.Fasta(str(fasta)), window=100, overlap=10)
    for name in seqs:
        np.testing.assert_array_equal(from_dict[name], from_path[name])
        np.testing.assert_array_equal(from_dict[name], from_faidx[name])


def test_segments_are_placed_on_their_record():
    lengths, fetch = sequence_source({"c": "ACGTACGTAC"})
    pieces = list(iter_boundaries(ToyRouter(), [Segment("c:2-9", "c", 2, 9)], fetch, window=4, overlap=2, progress=False))
    assert pieces[0].start == 2 and sum(len(p.prob) for p in pieces) == 7
    assert [p.start for p in pieces] == sorted(p.start for p in pieces)


# -- the real model ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    from ldarnet import LDARNet, LDARNetConfig

    torch.manual_seed(0)
    return LDARNet(LDARNetConfig.preset("ldarnet-tiny")).eval()


def test_real_model_batched_short_sequences_equal_single_window_passes(tiny):
    rng = np.random.default_rng(5)
    seqs = {f"s{n}": real_dna(rng, n) for n in (1, 2, 37, 300, 511, 512)}
    seqs["withN"] = real_dna(rng, 100) + "N" * 150 + real_dna(rng, 40)
    got = extract_boundaries(tiny, seqs, window=512, overlap=64, batch_size=3)
    for name, seq in seqs.items():
        want = single_pass(tiny, seq)
        assert got[name].dtype == np.float16 and got[name].shape == want.shape
        np.testing.assert_allclose(got[name].astype(np.float32), want.astype(np.float32), rtol=0, atol=1e-3)
        assert got[name][0] == 1.0


def test_real_model_tiled_matches_one_long_window_away_from_edges(tiny):
    rng = np.random.default_rng(6)
    seq = real_dna(rng, 3 * 510 + 2)  # three 512-bp windows overlap by exactly 2 bp
    want = single_pass(tiny, seq).astype(np.float32)
    tiled = extract_boundaries(tiny, {"x": seq}, window=512, overlap=128, batch_size=2)["x"].astype(np.float32)
    np.testing.assert_allclose(tiled, want, rtol=0, atol=1e-3)  # every base is >= 64 bp from a window edge
    # the edge effect is real: with a 2-bp overlap, bases next to window edges drift further
    assert len(plan_windows(len(seq), 512, 2)) == 3
    ragged = extract_boundaries(tiny, {"x": seq}, window=512, overlap=2, batch_size=2)["x"].astype(np.float32)
    assert np.abs(ragged - want).max() > 2e-3


def test_cli_writes_tracks_for_a_saved_checkpoint(tiny, tmp_path, capsys):
    from ldarnet.cli import main

    rng = np.random.default_rng(7)
    records = {"chr1": real_dna(rng, 1500), "chr2": "NNNN" + real_dna(rng, 90)}
    fasta = tmp_path / "genome.fa"
    fasta.write_text("".join(f">{k}\n{v}\n" for k, v in records.items()))
    tiny.save_pretrained(tmp_path / "ckpt")
    out = tmp_path / "res" / "genome"
    code = main(["boundaries", "--checkpoint", str(tmp_path / "ckpt"), "--fasta", str(fasta), "--out", str(out),
                 "--window", "512", "--overlap", "64", "--no-progress"])
    assert code == 0
    graph = parse_bed(f"{out}.bedgraph")
    chunks = parse_bed(f"{out}.chunks.bed")
    want = extract_boundaries(tiny, records, window=512, overlap=64)
    for name, seq in records.items():
        covered = np.zeros(len(seq), dtype=int)
        track = np.zeros(len(seq), dtype=np.float16)
        for _, s, e, v in (r for r in graph if r[0] == name):
            covered[s:e] += 1
            track[s:e] = np.float16(v)
        assert (covered == 1).all()
        np.testing.assert_array_equal(track, want[name])
        spans = [(s, e) for c, s, e in chunks if c == name]
        assert spans[0][0] == 0 and spans[-1][1] == len(seq)
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    import json

    record = json.loads(open(f"{out}.json").read())
    assert record["bases"] == 1594 and record["chunks"] == len(chunks) and len(record["checkpoint_sha256"]) == 64
    assert "chunks" in capsys.readouterr().out

    bed = tmp_path / "regions.bed"
    bed.write_text("chr1\t10\t200\nchr3\t0\t5\n")
    code = main(["boundaries", "--checkpoint", str(tmp_path / "ckpt"), "--fasta", str(fasta), "--bed", str(bed),
                 "--out", str(tmp_path / "bad"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "regions.bed line 2: record 'chr3' is not in the FASTA" in err
    assert not list(tmp_path.glob("bad*"))
    code = main(["boundaries", "--checkpoint", str(tmp_path / "ckpt"), "--fasta", str(fasta), "--out", str(tmp_path / "bad"),
                 "--overlap", "1", "--no-progress"])
    assert code == 2 and "overlap=1 must be at least 2" in capsys.readouterr().err
    code = main(["boundaries", "--checkpoint", str(tmp_path / "ckpt"), "--fasta", str(fasta), "--out", str(tmp_path / "bad"),
                 "--threads", "0", "--no-progress"])
    assert code == 2 and "--threads 0 must be at least 1" in capsys.readouterr().err
    assert not list(tmp_path.glob("bad*"))


TRAINED = Path(os.environ.get("LDARNET_TEST_CHECKPOINT", Path(__file__).resolve().parents[1] / "checkpoints" / "ldarnet-proxy-multispecies"))


@pytest.mark.slow
@pytest.mark.skipif(not (TRAINED / "model.safetensors").exists(), reason="no trained ldarnet-proxy checkpoint here")
def test_trained_model_default_tiling_matches_one_long_window():
    from ldarnet import LDARNet

    model = LDARNet.from_pretrained(TRAINED).eval()
    seq = athal()[40_000:160_000]  # 120 kb: three default windows of 49,152 bp (the shipped model's)
    with torch.inference_mode():
        whole = model.extract_boundaries(encode(seq)[None])[0]
    probs, masks = extract_boundaries(model, {"x": seq}, return_mask=True)
    np.testing.assert_allclose(probs["x"].astype(np.float32), whole.boundary_prob[0].numpy(), rtol=0, atol=1e-3)
    assert (masks["x"] != whole.boundary_mask[0].numpy()).sum() <= 2  # only a p within float error of 0.5 may flip


@pytest.mark.slow
def test_boundaries_killed_mid_run_leaves_no_final_file_and_a_rerun_cleans_up(tiny, tmp_path):
    """SIGKILL a real `ldarnet boundaries` while it writes; the rerun into the same prefix removes the
    dead run's temporaries and writes complete outputs."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from ldarnet.cli import main

    tiny.save_pretrained(tmp_path / "ckpt")
    rng = np.random.default_rng(11)
    lengths = {"chr1": 150_000, "chr2": 60_000}
    fasta = tmp_path / "genome.fa"
    fasta.write_text("".join(f">{name}\n{real_dna(rng, n)}\n" for name, n in lengths.items()))
    out = tmp_path / "tracks" / "run"
    argv = ["boundaries", "--checkpoint", str(tmp_path / "ckpt"), "--fasta", str(fasta), "--out", str(out),
            "--window", "512", "--overlap", "64", "--batch-size", "1", "--threads", "1", "--no-progress"]
    proc = subprocess.Popen([sys.executable, "-m", "ldarnet.cli", *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
    partial = out.parent / f".run.bedgraph.{proc.pid}.partial"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if partial.exists() and partial.stat().st_size > 0:
            break
        time.sleep(0.02)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()[-1000:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = sorted(p.name for p in out.parent.iterdir())
    assert partial.name in left and partial.stat().st_size > 0  # data only under a hidden temporary name
    assert not any(name in left for name in ("run.bedgraph", "run.chunks.bed", "run.json"))

    assert main(argv) == 0
    names = sorted(p.name for p in out.parent.iterdir())
    assert names == ["run.bedgraph", "run.chunks.bed", "run.json"]
    covered = {name: 0 for name in lengths}
    for line in (out.parent / "run.bedgraph").read_text().splitlines():
        chrom, start, end, _ = line.split("\t")
        covered[chrom] += int(end) - int(start)
    assert covered == lengths
    assert json.loads((out.parent / "run.json").read_text())["bases"] == sum(lengths.values())


def test_sigterm_during_boundaries_removes_the_temporaries(tiny, tmp_path):
    """SIGTERM is turned into a clean exit (143): the writer's cleanup runs, nothing is left behind."""
    import os
    import signal
    import threading
    import time

    from ldarnet.cli import main

    tiny.save_pretrained(tmp_path / "ckpt")
    rng = np.random.default_rng(12)
    fasta = tmp_path / "genome.fa"
    fasta.write_text(f">chr1\n{real_dna(rng, 150_000)}\n")
    out = tmp_path / "tracks" / "run"
    partial = out.parent / f".run.bedgraph.{os.getpid()}.partial"

    def terminate_once_writing() -> None:  # only while the writer runs, i.e. while the command's handler is set
        for _ in range(6000):
            if partial.exists():
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.01)

    timer = threading.Thread(target=terminate_once_writing, daemon=True)
    previous = signal.getsignal(signal.SIGTERM)
    timer.start()
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(["boundaries", "--checkpoint", str(tmp_path / "ckpt"), "--fasta", str(fasta), "--out", str(out),
                  "--window", "512", "--overlap", "64", "--batch-size", "1", "--threads", "1", "--no-progress"])
    finally:
        timer.join()
    assert exit_info.value.code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) == previous
    # no temporary stays; the finished parts are kept on purpose, so the same command resumes (test_shard.py)
    assert sorted(p.name for p in out.parent.iterdir()) == ["run.parts"]
    assert all(p.name == "plan.json" or p.name.startswith("part-") for p in (out.parent / "run.parts").iterdir())
