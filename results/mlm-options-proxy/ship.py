"""Ship the finished long run as ``checkpoints/ldarnet-proxy-multispecies`` and write its model card.

    python results/mlm-options-proxy/ship.py runs/proxy-a003-50M            # the shipping step, once
    python results/mlm-options-proxy/ship.py --card-only                     # rewrite MODEL_CARD.md from its files
    python results/mlm-options-proxy/ship.py runs/proxy-a003-50M --dest /tmp/try --allow-unfinished   # dry run

Shipping builds the new folder beside the old one first (the run's weights, config and logs, path
reliance on ``--windows`` held-out windows, the card), applies issue 11's shipping checks
(``ldarnet.training.acceptance_checks``) and refuses to go on if one fails (``--ship-failing`` overrides,
and the card then says so). Only then does the shipped folder's content move to
``history/<alpha>-<steps>steps/`` (weights included, so the old model stays loadable; its card gets a
note saying where it now lives) and the new files take its place. Every number in the card is read
from those files, from the old model's archived ``reliance.json`` and from the runs kept in
``results/mlm-options-proxy/variants/``; nothing is typed in.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
DEST = ROOT / "checkpoints" / "ldarnet-proxy-multispecies"
COPIED = ("model.safetensors", "config.json", "metrics.jsonl", "eval.json", "run.json", "run_summary.json")
KEPT = ("measure_reliance.py",)  # tools of the folder, not of one model: they stay when a model is archived
# the short runs the card quotes, with what each let reach the router (README.md, "Session 4")
FAILED = [("center-on-on-iso8-lr10", "ratio loss alone for 8 steps, then the MLM loss too"),
          ("center-on-on-stride8-iso8-lr10", "stride and ratio loss alone for 8 steps, then the MLM loss too"),
          ("center-on-on-stride8-iso32-lr10", "stride for 8 steps, ratio loss alone for 32, then the MLM loss too"),
          ("center-on-on-paramsall-lr10", "projections isolated throughout, no stride warm-up")]
HELD = [("center-on-on-stride8-isoall-lr10", "stride for 8 steps, p detached from the MLM loss throughout"),
        ("center-on-on-stride8-iso8-paramsall-lr10", "this recipe in 96 steps: stride and isolation for 8, "
                                                     "projections isolated throughout")]


def _module(path: Path):
    """A script beside the checkpoint or this one, imported by path (neither folder is a package)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _measure(folder: Path, windows: int) -> dict:
    result = _module(DEST / "measure_reliance.py").measure(folder, folder / "run.json", windows)
    result["command"] = f"python checkpoints/{DEST.name}/measure_reliance.py --windows {windows}"
    return result


def archive_name(folder: Path) -> str:
    run = json.loads((folder / "run.json").read_text())
    return f"alpha{run['config']['ratio_loss_weight']:g}-{run['steps']}steps"


def _shown(path: Path) -> str:
    """``path`` relative to the repository root when it lies inside it (cards name no machine's paths)."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def archive(dest: Path) -> Path:
    """Move the shipped model's files to ``dest/history/<name>/``; its card says where it now lives."""
    target = dest / "history" / archive_name(dest)
    if target.exists():
        raise SystemExit(f"error: {target} already exists; the folder was archived before")
    note = (f"> **Archived.** This model was shipped as `{_shown(dest)}` until it was replaced by the α = 0.03 "
            f"proxy described in `{_shown(dest)}/MODEL_CARD.md`. Its files now live here: load it with "
            f'`LDARNet.from_pretrained("{_shown(target)}")`. The card below is unchanged; its `make_card.py` '
            f"is kept as it ran and no longer runs from this folder.\n\n")
    target.mkdir(parents=True)
    for item in sorted(dest.iterdir()):
        if item.name not in ("history", *KEPT):
            shutil.move(str(item), target / item.name)
    card = target / "MODEL_CARD.md"
    card.write_text(note + card.read_text())
    return target


def stage(run: Path, staging: Path, windows: int) -> None:
    staging.mkdir(parents=True)
    for name in COPIED:
        shutil.copyfile(run / name, staging / name)
    from ldarnet import atomic_write_json

    atomic_write_json(staging / "reliance.json", _measure(staging, windows))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", nargs="?", help="the finished run folder (runs/proxy-a003-50M)")
    p.add_argument("--dest", default=str(DEST), help="the shipped folder (default: %(default)s)")
    p.add_argument("--windows", type=int, default=256, help="held-out windows for reliance.json")
    p.add_argument("--card-only", action="store_true", help="only rewrite MODEL_CARD.md from the files in --dest")
    p.add_argument("--allow-unfinished", action="store_true", help="a run stopped early (dry runs only)")
    p.add_argument("--ship-failing", action="store_true", help="ship even if a shipping check fails")
    args = p.parse_args(argv)
    dest, card = Path(args.dest).resolve(), _module(HERE / "card.py")  # the card's text
    if args.card_only:
        previous = sorted((dest / "history").glob("*/run.json"))
        if not previous:
            raise SystemExit(f"error: no archived model under {dest / 'history'} to compare with")
        checks = card.write_card(dest, HERE, FAILED, HELD, previous[-1].parent)
        return 0 if all(c["passed"] for c in checks) else 1
    if not args.run:
        p.error("give the run folder, or --card-only")
    run = Path(args.run)
    summary = json.loads((run / "run_summary.json").read_text())
    if summary["stopped_early"] and not args.allow_unfinished:
        raise SystemExit(f"error: {run} stopped at step {summary['steps_done']} of {summary['steps_planned']}; "
                         "finish it first (or --allow-unfinished for a dry run)")
    if (dest / "model.safetensors").exists() and \
            (dest / "model.safetensors").read_bytes() == (run / "model.safetensors").read_bytes():
        raise SystemExit(f"error: {dest} already holds this run's weights; nothing to ship")
    if not (dest / "run.json").exists():
        raise SystemExit(f"error: {dest} holds no shipped model (run.json) to replace")
    if (dest / "history" / archive_name(dest)).exists():
        raise SystemExit(f"error: {dest / 'history' / archive_name(dest)} already exists; the folder was archived before")
    staging = dest.parent / f".{dest.name}.staging"
    if staging.exists():
        shutil.rmtree(staging)
    stage(run, staging, args.windows)
    # the old model is still in place: the card reads its numbers there and names the folder it will move to
    checks = card.write_card(staging, HERE, FAILED, HELD, dest, archive_name(dest))
    if not all(c["passed"] for c in checks) and not args.ship_failing:
        raise SystemExit(f"error: a shipping check failed (see {staging / 'MODEL_CARD.md'}); nothing was replaced")
    archived = archive(dest)
    print(f"archived the shipped model to {archived}", file=sys.stderr)
    for item in staging.iterdir():
        shutil.move(str(item), dest / item.name)
    staging.rmdir()
    card.write_card(dest, HERE, FAILED, HELD, archived)  # again in place: the file table hashes the shipped files
    print(f"shipped {run} as {dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
