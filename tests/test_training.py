"""Pretraining loop: schedule, parameter groups, SIGKILL-and-resume equivalence, checkpoint integrity, NaN stop."""

import argparse
import json
import math
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ldarnet import LDARNet, LDARNetConfig
from ldarnet.training import (TrainingDiverged, build_param_groups, latest_valid_checkpoint, plan_batches,
                              pretrain, stage_lr_multipliers, wsd_factor)
from ldarnet.commands import pretrain as train_cli
from ldarnet.training import loop

ROOT = Path(__file__).resolve().parents[1]
YEAST = str(ROOT / "data" / "scer_chrI.fa")
RUN = dict(config="ldarnet-tiny", fasta=[YEAST], steps=6, batch_size=2, seq_len=64, checkpoint_every=2,
           seed=11, lr=2e-3, threads=1, progress=False, val_windows=0)
CLI_ARGS = ["--config", "ldarnet-tiny", "--fasta", YEAST, "--steps", "6", "--batch-size", "2", "--seq-len", "64",
            "--checkpoint-every", "2", "--seed", "11", "--lr", "2e-3", "--threads", "1", "--val-windows", "0",
            "--no-progress"]
LOSS_KEYS = ("step", "tokens", "loss", "mlm_loss", "ratio_loss", "compression", "lr", "grad_norm")


def losses(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: json.loads(line)[k] for k in LOSS_KEYS} for line in lines]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "run"
    summary = pretrain(out=out, **RUN)
    return out, summary


# -- schedule and optimiser ---------------------------------------------------------------------

def test_wsd_schedule_shape():
    f = [wsd_factor(s, 100) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == 1.0  # 10 warmup steps, linear
    assert all(a < b for a, b in zip(f[:10], f[1:10]))
    assert set(f[10:80]) == {1.0}  # 70% plateau
    assert all(a > b for a, b in zip(f[80:], f[81:]))  # decaying over the last 20%
    assert f[-1] == pytest.approx(0.05)  # ends at 5% of the peak
    u = 0.5  # inverse-square-root shape in between
    assert f[89] == pytest.approx(1 / math.sqrt(1 + (1 / 0.05**2 - 1) * u))


def test_stage_multipliers_follow_eq_19():
    assert stage_lr_multipliers(LDARNetConfig.preset("ldarnet-120m")) == pytest.approx([3.0, 1.0])
    assert stage_lr_multipliers(LDARNetConfig.preset("ldarnet-proxy")) == pytest.approx([4.0, 1.0])
    assert stage_lr_multipliers(LDARNetConfig.preset("ldarnet-proxy", router=["none"])) == pytest.approx([2.0, 1.0])
    two = LDARNetConfig.preset("ldarnet-tiny", arch_layout=["m1", ["m1", ["M1"], "m1"], "m1"], d_model=[32, 48, 64],
                               d_intermediate=[0, 0, 128], target_ratio=[2.0, 3.0], router=["learned", "learned"],
                               num_heads=[2, 2, 2], rotary_emb_dim=[8, 8, 8], window_size=[31, 31, -1])
    inner = math.sqrt(3) * 64 / 48
    assert stage_lr_multipliers(two) == pytest.approx([inner * math.sqrt(2) * 48 / 32, inner, 1.0])


def test_param_groups_decay_and_learning_rates():
    model = LDARNet(LDARNetConfig.preset("ldarnet-tiny"))
    groups = build_param_groups(model, lr=1e-3, weight_decay=0.01)
    seen = [name for g in groups for name in g["names"]]
    assert sorted(seen) == sorted(n for n, _ in model.named_parameters())  # each exactly once
    by_name = {name: g for g in groups for name in g["names"]}
    for name, _ in model.named_parameters():
        g = by_name[name]
        assert g["lr"] == pytest.approx(1e-3 * (4.0 if g["level"] == 0 else 1.0))
        leaf = name.rsplit(".", 1)[-1]
        if leaf in ("A_log", "D", "dt_bias") or "bias" in leaf or "norm" in name:
            assert g["weight_decay"] == 0.0, name
    assert by_name["stage.encoder.blocks.0.mixer.in_proj.weight"]["weight_decay"] == 0.01
    assert by_name["stage.inner.backbone.blocks.0.mlp.fc1.weight"]["level"] == 1


def test_batch_plan():
    assert plan_batches(16, 1, 1024, None) == (4, 4)
    assert plan_batches(16, 2, 1024, None) == (4, 2)
    assert plan_batches(6, 1, 64, 3) == (2, 3)
    with pytest.raises(ValueError, match="grad-accum"):
        plan_batches(6, 1, 64, 4)
    with pytest.raises(ValueError, match="multiple"):
        plan_batches(3, 2, 64, None)


# -- the loop -----------------------------------------------------------------------------------

def test_reference_run_writes_what_it_promises(reference):
    out, summary = reference
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[-1]["tokens"] == 6 * 2 * 64
    for key in ("loss", "mlm_loss", "ratio_loss", "compression", "lr", "tokens_per_s"):
        assert key in rows[0]
    assert all(math.isfinite(r["loss"]) and len(r["compression"]) == 1 for r in rows)
    assert rows[-1]["lr"] == pytest.approx(2e-3 * 0.05)
    reloaded = LDARNet.from_pretrained(out)  # the final model sits in the run folder
    assert torch.equal(reloaded.lm_head.weight, summary["model"].lm_head.weight)
    kept = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert kept == ["step-00000002", "step-00000004", "step-00000006"]


def test_sigkill_and_resume_logs_the_same_losses(reference, tmp_path):
    ref_out, _ = reference
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "ldarnet.training", "pretrain", *CLI_ARGS, "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    metrics = out / "metrics.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    assert len(metrics.read_text().splitlines()) < 6
    resumed = subprocess.run(cmd + ["--resume"], cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from" in resumed.stderr
    assert losses(out) == losses(ref_out)


def test_truncated_checkpoint_is_never_loaded(reference, tmp_path):
    ref_out, _ = reference
    out = tmp_path / "run"
    # a run interrupted after step 4, whose newest checkpoint is then cut short mid-file
    shutil.copytree(ref_out, out)
    for late in ("step-00000006",):
        shutil.rmtree(out / "checkpoints" / late)
    weights = out / "checkpoints" / "step-00000004" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    (out / "checkpoints" / "step-00000003").mkdir()  # a write killed before its manifest
    (out / "checkpoints" / "step-00000003" / "model.safetensors").write_bytes(b"\0" * 100)
    (out / "checkpoints" / ".step-00000005.tmp-99999").mkdir()  # the temporary folder of a killed writer
    path, rejected = latest_valid_checkpoint(out)
    assert path.name == "step-00000002"
    assert any("step-00000004" in r and "truncated" in r for r in rejected)
    assert any("step-00000003" in r and "manifest" in r for r in rejected)
    pretrain(out=out, resume=True, **RUN)
    assert losses(out) == losses(ref_out)
    assert not (out / "checkpoints" / ".step-00000005.tmp-99999").exists()


def test_only_a_corrupt_checkpoint_means_no_resume(reference, tmp_path):
    ref_out, _ = reference
    out = tmp_path / "run"
    shutil.copytree(ref_out, out)
    for name in ("step-00000002", "step-00000004"):
        shutil.rmtree(out / "checkpoints" / name)
    state = out / "checkpoints" / "step-00000006" / "optimizer.safetensors"
    state.write_bytes(b"x" + state.read_bytes()[1:])  # same size, different bytes
    with pytest.raises(ValueError, match="no intact checkpoint.*sha256"):
        pretrain(out=out, resume=True, **RUN)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    real = loop._forward_loss
    calls = {"n": 0}

    def poisoned(model, inputs, labels, autocast):
        calls["n"] += 1
        out = real(model, inputs, labels, autocast)
        if calls["n"] == 3:  # step 3 (one micro-batch per step)
            out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(loop, "_forward_loss", poisoned)
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"loss is nan at step 3.*step-00000002"):
        pretrain(out=out, **RUN)
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step-00000002"]
    assert latest_valid_checkpoint(out)[0].name == "step-00000002"
    assert not (out / "model.safetensors").exists()


# -- bad input ----------------------------------------------------------------------------------

def test_bad_runs_are_refused_with_clear_messages(reference, tmp_path):
    ref_out, _ = reference
    with pytest.raises(ValueError, match="already holds a run"):
        pretrain(out=ref_out, **RUN)
    with pytest.raises(ValueError, match="differ.*lr"):
        pretrain(out=ref_out, resume=True, **{**RUN, "lr": 1e-3})
    with pytest.raises(ValueError, match="no run"):
        pretrain(out=tmp_path / "empty", resume=True, **RUN)
    with pytest.raises(ValueError, match="missing.fa"):
        pretrain(out=tmp_path / "x", **{**RUN, "fasta": [str(tmp_path / "missing.fa")]})
    with pytest.raises(ValueError, match="preset"):
        pretrain(out=tmp_path / "y", **{**RUN, "config": "ldarnet-huge"})
    with pytest.raises(ValueError, match="shorter"):
        pretrain(out=tmp_path / "z", **{**RUN, "seq_len": 300_000})


def test_cli_help_and_exit_codes(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="ldarnet")
    train_cli.register(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit):
        parser.parse_args(["pretrain", "--help"])
    text = capsys.readouterr().out
    for option in ("--config", "--fasta", "--weights", "--resume", "--grad-accum", "--bf16", "--val-regions"):
        assert option in text
    from ldarnet.training.__main__ import main
    code = main(["pretrain", *CLI_ARGS, "--out", str(tmp_path / "r"), "--fasta", str(tmp_path / "nope.fa")])
    assert code == 2
    assert "nope.fa" in capsys.readouterr().err


# -- held-out evaluation ------------------------------------------------------------------------

class UniformModel(torch.nn.Module):
    """Predicts every token with equal probability and keeps every position (no chunking stage)."""

    def forward(self, input_ids, attention_mask=None, labels=None):
        from ldarnet import LDARNetOutput

        logits = torch.zeros(*input_ids.shape, 7)
        logits[..., 4:] = -1e9  # N, [MASK], [PAD] never predicted: uniform over the 4 bases
        return LDARNetOutput(logits=logits, hidden_states=logits, ratio_loss=torch.zeros(()), boundaries=[])


def test_evaluation_of_a_known_predictor(tmp_path):
    from ldarnet.data import WindowCorpus
    from ldarnet.training import evaluate_mlm, frequency_baseline_loss

    assert frequency_baseline_loss([5, 5, 5, 5]) == pytest.approx(math.log(4))
    assert frequency_baseline_loss([10, 0, 0, 0]) == 0.0
    corpus = WindowCorpus([YEAST], window_length=128, val_regions=[("BK006935.2", 100_000, 120_000)], seed=2)
    result = evaluate_mlm(UniformModel(), corpus, windows=6, batch_size=4)
    assert result["mlm_loss"] == pytest.approx(math.log(4), rel=1e-6)
    assert result["baseline_loss"] < math.log(4)  # yeast is AT-rich: its composition beats uniform
    assert result["masked_tokens"] > 6 * 128 * 0.1 and result["compression"] == []
    assert list(result["per_file"]) == [YEAST]
    tiny = LDARNet(LDARNetConfig.preset("ldarnet-tiny"))
    real = evaluate_mlm(tiny, corpus, windows=4, batch_size=2)
    assert len(real["compression"]) == 1 and real["compression"][0] >= 1.0
    assert math.isfinite(real["mlm_loss"]) and tiny.training


def test_cli_router_isolation_steps_reaches_the_run_record(tmp_path):
    from ldarnet.training.__main__ import main

    args = [a if a != "6" else "2" for a in CLI_ARGS]  # two steps are enough to start and record the run
    assert main(["pretrain", *args, "--out", str(tmp_path / "r"), "--router-isolation-steps", "1"]) == 0
    assert json.loads((tmp_path / "r" / "run.json").read_text())["router_isolation_steps"] == 1
