"""The shipping step of issue 11 (results/mlm-options-proxy/ship.py): archive, replace, card, refusal.

Two tiny pretraining runs on the yeast slice in data/ stand in for the shipped model and its successor.
"""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from ldarnet import LDARNetConfig
from ldarnet.training import pretrain

ROOT = Path(__file__).resolve().parents[1]
YEAST = str(ROOT / "data" / "scer_chrI.fa")


def _ship_module():
    spec = importlib.util.spec_from_file_location("ship", ROOT / "results" / "mlm-options-proxy" / "ship.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(out: Path, alpha: float, steps: int) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    bed = out.parent / "val.bed"
    bed.write_text("BK006935.2\t100000\t140000\n")
    pretrain(config=LDARNetConfig.preset("ldarnet-tiny", ratio_loss_weight=alpha), fasta=[YEAST], out=out, steps=steps, batch_size=2, seq_len=64,
             checkpoint_every=steps, seed=0, lr=1e-3, threads=1, progress=False, val_regions=str(bed),
             val_windows=4, reliance_every=steps, reliance_windows=4)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("ship")
    old = _run(base / "old" / "run", 1.0, 2)
    for name in ("metrics.jsonl", "eval.json"):  # the shipped folder's own files, as in checkpoints/
        assert (old / name).exists()
    (old / "reliance.json").write_text(json.dumps(json.loads((old / "eval.json").read_text())["reliance"]))
    (old / "MODEL_CARD.md").write_text("# the old card\n")
    return old, _run(base / "new" / "run", 0.03, 3)


def test_shipping_archives_the_old_model_and_refuses_a_failing_one(runs, tmp_path):
    old, new = runs
    ship = _ship_module()
    dest = tmp_path / "shipped"
    shutil.copytree(old, dest, ignore=shutil.ignore_patterns("checkpoints"))
    before = sorted(p.name for p in dest.iterdir())
    # a tiny 3-step model misses the bar (its loss is above the baselines): nothing is replaced
    with pytest.raises(SystemExit, match="shipping check failed"):
        ship.main([str(new), "--dest", str(dest), "--windows", "4"])
    assert sorted(p.name for p in dest.iterdir()) == before and not (dest / "history").exists()
    # forced through: the old files move to history/ (weights included), the new ones take their place
    ship.main([str(new), "--dest", str(dest), "--windows", "4", "--ship-failing"])
    archived = dest / "history" / "alpha1-2steps"
    assert (archived / "model.safetensors").read_bytes() == (old / "model.safetensors").read_bytes()
    assert (dest / "model.safetensors").read_bytes() == (new / "model.safetensors").read_bytes()
    assert json.loads((dest / "run.json").read_text())["steps"] == 3
    old_card = (archived / "MODEL_CARD.md").read_text()
    assert old_card.startswith("> **Archived.**") and old_card.endswith("# the old card\n")
    assert f'from_pretrained("{archived}")' in old_card  # outside the repository: the path as given
    card = (dest / "MODEL_CARD.md").read_text()
    assert "**FAIL**" in card and "history/alpha1-2steps/" in card
    reliance = json.loads((dest / "reliance.json").read_text())
    assert reliance["windows"] == 4 and "stride_cost" in reliance["stages"][0]
    assert "| `model.safetensors` |" in card  # the file table hashes the shipped files
    # shipping the same run twice is refused before anything moves
    with pytest.raises(SystemExit, match="already holds this run's weights"):
        ship.main([str(new), "--dest", str(dest), "--windows", "4", "--ship-failing"])
    assert sorted(p.name for p in (dest / "history").iterdir()) == ["alpha1-2steps"]
    # the card can be rewritten from the shipped files alone; it still reports the failed checks (exit 1)
    (dest / "MODEL_CARD.md").unlink()
    assert ship.main(["--dest", str(dest), "--card-only"]) == 1 and "**FAIL**" in (dest / "MODEL_CARD.md").read_text()
