"""``ldarnet boundaries`` in parts: 2 gloo ranks = 1 process, killed + resumed = uninterrupted, byte for byte;
the track store reads back the bedGraph's values; a different run into the same prefix is refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ldarnet.cli import main
from ldarnet.genome import TrackStore, plan_parts, whole_records
from ldarnet.genome.store import BLOCK

ROOT = Path(__file__).resolve().parents[1]
DATA_FASTA = ROOT / "data" / "athal_chr1_1000000_1200000.fa"
OUTPUTS = ("run.bedgraph", "run.chunks.bed", "run.store.npz")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A saved ldarnet-tiny (seeded random weights) and a 2-record FASTA of real Arabidopsis sequence."""
    from ldarnet import LDARNet, LDARNetConfig
    from ldarnet.genome import open_fasta

    folder = tmp_path_factory.mktemp("shard")
    torch.manual_seed(0)
    LDARNet(LDARNetConfig.preset("ldarnet-tiny")).save_pretrained(folder / "ckpt")
    with open_fasta(DATA_FASTA, quiet=True) as fasta:
        seq = str(fasta[next(iter(fasta.keys()))][:])
    fasta = folder / "genome.fa"
    fasta.write_text(f">chrA\n{seq[:30_000]}\n>chrB\n{'N' * 3000}{seq[50_000:61_000]}\n")
    return folder / "ckpt", fasta


def argv(setup, out, *extra):
    ckpt, fasta = setup
    return ["boundaries", "--checkpoint", str(ckpt), "--fasta", str(fasta), "--out", str(out), "--window", "1024",
            "--overlap", "64", "--batch-size", "2", "--part-bp", "4000", "--threads", "1", "--no-progress", "--store", *extra]


def outputs(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in OUTPUTS}


@pytest.fixture(scope="module")
def single(setup, tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "run"
    assert main(argv(setup, out)) == 0
    return out.parent


def test_parts_tile_every_segment_in_whole_batches():
    segments = whole_records({"a": 100_000, "b": 7, "c": 5_000})
    parts = plan_parts(segments, 1024, 64, 3, part_bp=10_000)
    assert [p.index for p in parts] == list(range(len(parts)))
    for k, seg in enumerate(segments):
        mine = [p for p in parts if p.segment == k]
        assert sum(p.bases for p in mine) == seg.length
        assert all(len(p.rows) % 3 == 0 for p in mine[:-1])


def test_single_process_run_and_store_agree(single):
    names = sorted(p.name for p in single.iterdir())
    assert names == sorted([*OUTPUTS, "run.json"])  # the parts folder is gone after the merge
    record = json.loads((single / "run.json").read_text())
    assert record["world_size"] == 1 and record["parts"] > 4 and record["parts_computed"] == record["parts"]
    with TrackStore(single / "run.store.npz") as store:
        assert store.meta["checkpoint_sha256"] == record["checkpoint_sha256"]
        for line in (single / "run.bedgraph").read_text().splitlines()[::97]:
            chrom, start, end, value = line.split("\t")
            got = store.prob(chrom, int(start), int(end))
            assert (got == np.float16(value)).all()
        assert store.prob("chrB", 0, 1)[0] == 1.0  # a record start is a boundary
        starts = [int(line.split("\t")[1]) for line in (single / "run.chunks.bed").read_text().splitlines()
                  if line.startswith("chrA")]
        assert np.flatnonzero(store.mask("chrA", 0, 30_000)).tolist() == starts
        with pytest.raises(ValueError, match="not inside one stored segment"):
            store.prob("chrA", 29_000, 30_001)
    assert BLOCK > 30_000


@pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                    reason="torch.distributed with gloo is not available")
def test_two_gloo_ranks_write_the_same_bytes_as_one_process(setup, single, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "ldarnet.cli",
           *argv(setup, out)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert outputs(tmp_path) == outputs(single)
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["world_size"] == 2 and record["parts_computed"] == (record["parts"] + 1) // 2  # rank 0's share


def test_killed_run_resumes_and_writes_the_same_bytes(setup, single, tmp_path):
    out = tmp_path / "run"
    args = argv(setup, out)
    proc = subprocess.Popen([sys.executable, "-m", "ldarnet.cli", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    parts = tmp_path / "run.parts"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None and len(list(parts.glob("part-*.npz"))) < 3:
        time.sleep(0.02)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()[-1000:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = len(list(parts.glob("part-*.npz")))
    assert not any((tmp_path / name).exists() for name in (*OUTPUTS, "run.json"))

    assert main(args) == 0
    assert outputs(tmp_path) == outputs(single)
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["parts_computed"] <= record["parts"] - finished  # the finished parts were not redone
    assert not parts.exists()


def test_a_different_run_into_kept_parts_is_refused(setup, tmp_path, capsys):
    out = tmp_path / "run"
    parts = tmp_path / "run.parts"
    parts.mkdir()
    (parts / "plan.json").write_text(json.dumps({"window": 2048}))
    assert main(argv(setup, out)) == 2
    assert "holds parts of a different run" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.parts"]


def test_empty_fasta_fails_before_any_work(setup, tmp_path, capsys):
    empty = tmp_path / "empty.fa"
    empty.write_text("")
    ckpt, _ = setup
    assert main(argv((ckpt, empty), tmp_path / "out" / "run")) == 2
    assert "empty" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_streamed_bigwig_equals_the_bedgraph_conversion(setup, single, tmp_path):
    """bigWig written from the pieces = bigWig converted from the bedGraph: the same value at every base."""
    pyBigWig = pytest.importorskip("pyBigWig")
    from ldarnet.genome import bedgraph_to_bigwig

    assert main(argv(setup, tmp_path / "run", "--format", "bigwig")) == 0
    converted = bedgraph_to_bigwig(single / "run.bedgraph", {"chrA": 30_000, "chrB": 14_000}, tmp_path / "converted.bw")
    with pyBigWig.open(str(tmp_path / "run.bw")) as got, pyBigWig.open(str(converted)) as want:
        assert got.chroms() == want.chroms()
        for chrom, size in want.chroms().items():
            assert got.values(chrom, 0, size) == want.values(chrom, 0, size)  # same values at every base
    assert (tmp_path / "run.chunks.bed").read_bytes() == (single / "run.chunks.bed").read_bytes()


@pytest.mark.filterwarnings("ignore:--precision bf16")
def test_bf16_autocast_part_stays_close_to_fp32():
    """bf16 autocast runs the embedding and encoder in bf16; the router stays fp32, so p moves little."""
    from ldarnet import LDARNet, LDARNetConfig
    from ldarnet.genome import Segment, sequence_source
    from ldarnet.genome.parts import compute_part

    torch.manual_seed(0)
    model = LDARNet(LDARNetConfig.preset("ldarnet-tiny")).eval()
    seq = "".join(np.random.default_rng(0).choice(list("ACGT"), 3000))
    _, fetch = sequence_source({"x": seq})
    seg = Segment("x", "x", 0, 3000)
    part = plan_parts([seg], 1024, 64, 2, part_bp=10_000)[0]
    fp32 = compute_part(model, part, seg, fetch, batch_size=2, device="cpu")
    bf16 = compute_part(model, part, seg, fetch, batch_size=2, device="cpu", precision="bf16")
    assert bf16.prob.dtype == np.float16 and len(bf16.prob) == 3000
    diff = np.abs(bf16.prob.astype(np.float32) - fp32.prob.astype(np.float32))
    assert 0 < diff.max() < 0.1  # bf16 did run (values moved) and stayed close
    assert (bf16.mask == fp32.mask).mean() > 0.95
    with pytest.raises(ValueError, match="precision"):
        compute_part(model, part, seg, fetch, batch_size=2, device="cpu", precision="fp8")
