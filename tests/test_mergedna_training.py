"""`ldarnet pretrain` trains a MergeDNA on the corpus pipeline, and the run folder loads as one."""

import json
from pathlib import Path

import pytest

from ldarnet import MergeDNA, load_pretrained
from ldarnet.training import loop

ROOT = Path(__file__).resolve().parents[1]
YEAST = str(ROOT / "data" / "scer_chrI.fa")


def test_pretrain_command_trains_a_mergedna(tmp_path, capsys):
    from ldarnet.cli import main

    bed = tmp_path / "val.bed"
    bed.write_text("BK006935.2\t200000\t230218\n")
    out = tmp_path / "run"
    code = main(["pretrain", "--config", "mergedna-tiny", "--fasta", YEAST, "--out", str(out), "--steps", "3",
                 "--batch-size", "2", "--seq-len", "64", "--checkpoint-every", "2", "--seed", "3", "--threads", "1",
                 "--val-regions", str(bed), "--val-windows", "4", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2, 3]
    for record in lines:
        assert record["ratio_loss"] == 0.0 and record["loss"] > record["mlm_loss"] > 0
        assert 1 / 0.6 <= record["compression"][0] <= 1 / 0.4  # N/L from the sampled keep, inside [0.4N, 0.6N]
    model = load_pretrained(out)
    assert isinstance(model, MergeDNA)
    ev = json.loads((out / "eval.json").read_text())
    assert ev["mlm_loss"] > 0 and ev["compression"][0] == pytest.approx(2.0, abs=0.05)  # target keep 1/2
    assert json.loads((out / "run.json").read_text())["config"]["model_kind"] == "mergedna"


def test_resolve_config_knows_mergedna_presets_and_json(tmp_path):
    cfg = loop.resolve_config("mergedna-tiny")
    cfg.to_json(tmp_path / "c.json")
    assert loop.resolve_config(str(tmp_path / "c.json")) == cfg
    with pytest.raises(ValueError, match="mergedna-proxy"):
        loop.resolve_config("mergedna-huge")


def test_boundaries_command_takes_a_mergedna_checkpoint(tmp_path):
    import torch

    from ldarnet import MergeDNAConfig
    from ldarnet.cli import main

    torch.manual_seed(0)
    MergeDNA(MergeDNAConfig.preset("mergedna-tiny")).save_pretrained(tmp_path / "m")
    fasta = tmp_path / "s.fa"
    fasta.write_text(">s\n" + "ACGTTGCAAT" * 60 + "\n")
    code = main(["boundaries", "--checkpoint", str(tmp_path / "m"), "--fasta", str(fasta), "--out", str(tmp_path / "b"),
                 "--no-progress"])
    assert code == 0
    written = [p.name for p in tmp_path.iterdir() if p.name.startswith("b")]
    assert written, sorted(p.name for p in tmp_path.iterdir())


def test_a_resumed_mergedna_run_logs_the_same_losses(tmp_path):
    """Compression draws and AMTM masks come from torch's RNG, which checkpoints carry: resume replays them."""
    import shutil

    from ldarnet.training import pretrain

    run = dict(config="mergedna-tiny", fasta=[YEAST], batch_size=2, seq_len=64, checkpoint_every=2, seed=5, lr=2e-3,
               threads=1, progress=False, val_windows=0, steps=4)
    pretrain(out=tmp_path / "full", **run)
    shutil.copytree(tmp_path / "full", tmp_path / "cut")
    shutil.rmtree(tmp_path / "cut" / "checkpoints" / "step-00000004")
    pretrain(out=tmp_path / "cut", resume=True, **run)
    read = lambda d: [json.loads(line) for line in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
    full, cut = read("full"), read("cut")
    assert [r["loss"] for r in full] == [r["loss"] for r in cut]
    assert [r["compression"] for r in full] == [r["compression"] for r in cut]
