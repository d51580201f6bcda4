"""Two CPU processes under torchrun (gloo) train in lock-step: identical weights on both ranks."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
YEAST = ROOT / "data" / "scer_chrI.fa"

WORKER = """
import sys
import torch.distributed as dist
from safetensors.torch import save_file
from ldarnet.training import pretrain

out = sys.argv[1]
summary = pretrain(config="ldarnet-tiny", fasta=[{fasta!r}], out=out, steps=3, batch_size=4, seq_len=64,
                   checkpoint_every=3, seed=5, lr=3e-3, threads=1, progress=False, val_windows=0)
state = {{k: v.detach().contiguous() for k, v in summary["model"].state_dict().items()}}
save_file(state, f"{{out}}/rank{{summary['rank']}}.safetensors")
"""


@pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                    reason="torch.distributed with gloo is not available")
def test_two_gloo_ranks_hold_identical_weights(tmp_path):
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER.format(fasta=str(YEAST)))
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(worker), str(out)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rank0, rank1 = load_file(out / "rank0.safetensors"), load_file(out / "rank1.safetensors")
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
    # the weights moved, and rank 0 wrote one run folder for both
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert rows[-1]["tokens"] == 3 * 4 * 64
    run = json.loads((out / "run.json").read_text())
    assert run["world_size"] == 2 and run["micro_batch"] * run["grad_accum"] == 2
    checkpointed = load_file(out / "checkpoints" / "step-00000003" / "model.safetensors")
    assert all(torch.equal(checkpointed[k], rank0[k]) for k in rank0)
    from ldarnet import LDARNet, LDARNetConfig

    torch.manual_seed(5)
    fresh = LDARNet(LDARNetConfig.preset("ldarnet-tiny")).state_dict()
    assert not torch.equal(fresh["stage.encoder.blocks.0.mixer.in_proj.weight"],
                           rank0["stage.encoder.blocks.0.mixer.in_proj.weight"])
