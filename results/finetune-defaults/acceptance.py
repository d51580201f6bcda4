"""Issue 16 acceptance, resumable: 5-fold MCC of the pretrained proxy at the default recipe beside its baselines.

For one task: a stratified subsample (seed 0) of the CSV is written to ``OUT/subsample.csv``; the
5 stratified folds (10% of each training part for validation, seed 0) are fixed once; then fold by
fold every variant (pretrained at the default recipe with pooling "auto" = mean, random-init with
pooling "auto" = max, the frozen-feature linear probe, k-mer LR k = 3..6) runs on that fold and its
rows are appended to ``OUT/results.csv`` (tidy ``task, variant, fold, metric, value``) and its
per-epoch progress to ``OUT/history.csv``. A fold already in ``results.csv`` is skipped, so a killed
run is resumed by running the same command again.

``--grid`` instead fine-tunes only the pretrained proxy, on the same folds (all of them, or
``--max-folds``), for each (learning rate, pooling) in ``--lrs`` x ``--poolings`` (same recipe
otherwise), appending to ``OUT/grid.csv``; a (point, fold) already there is skipped. The default
point itself is not rerun: its rows are the acceptance run's ``pretrained`` rows.

``--variant NAME=CHECKPOINT`` instead fine-tunes another checkpoint (e.g. the MergeDNA proxy) at the
default recipe on the same folds, appending to ``OUT/variants.csv`` (resumable the same way).

    python results/finetune-defaults/acceptance.py --csv data/ecoli_sigma70_promoters.csv --task ecoli \\
        --n 100 --epochs 10 --out results/finetune-defaults/acceptance10/ecoli
"""

from __future__ import annotations

import argparse
import fcntl
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import train_test_split

from ldarnet import checkpoint_sha256
from ldarnet.finetune import classifier_factory, compare_variants, cross_validate, load_csv, recipe, save_csv
from ldarnet.finetune.folds import fold_splits
from ldarnet.io import atomic_write_json


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--csv", required=True)
    p.add_argument("--task", required=True)
    p.add_argument("--n", type=int, help="stratified subsample size (default: all rows)")
    p.add_argument("--checkpoint", default="checkpoints/ldarnet-proxy-multispecies")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--max-folds", type=int, help="run folds 1..N only (more later by rerunning with a larger N)")
    p.add_argument("--epochs", type=int, default=3, help="epoch cap (the recipe's default is 10)")
    p.add_argument("--grid", action="store_true", help="the lr x pooling grid on the same folds instead")
    p.add_argument("--variant", help="NAME=CHECKPOINT: fine-tune another checkpoint on the same folds instead")
    p.add_argument("--lrs", default="1e-4,3e-4,1e-3")
    p.add_argument("--poolings", default="mean,max")
    p.add_argument("--skip", default="", help="grid points to skip, e.g. '0.0003-mean' (taken from the acceptance run)")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = load_csv(args.csv)
    if args.n and args.n < len(table):
        keep, _ = train_test_split(np.arange(len(table)), train_size=args.n, stratify=table["label"], random_state=0)
        table = table.iloc[np.sort(keep)].reset_index(drop=True)
    if not (out / "subsample.csv").exists():
        save_csv(table, out / "subsample.csv")
    splits = fold_splits(table["label"].to_numpy(), args.folds, valid_fraction=0.1, seed=0)
    plan = recipe("default", max_epochs=args.epochs)
    plan.pop("pooling")  # "auto": resolved per arm by classifier_factory
    mode = "grid" if args.grid else "variants" if args.variant else "run"
    log_file = open(out / f"{mode}.log", "a")

    def log(line: str) -> None:
        stamp = f"{time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.1f} {line}"
        print(stamp, file=log_file, flush=True)
        print(stamp, file=sys.stderr, flush=True)

    variant_record = {}
    if args.variant:
        name, _, path = args.variant.partition("=")
        if not path:
            raise SystemExit(f"--variant wants NAME=CHECKPOINT, got {args.variant!r}")
        variant_record = {"variant": name, "variant_checkpoint": path, "variant_checkpoint_sha256": checkpoint_sha256(path)}
    atomic_write_json(out / f"{mode}.json", {
        "task": args.task, "csv": args.csv, "n_sequences": len(table), "subsample_seed": 0,
        "checkpoint": args.checkpoint, "checkpoint_sha256": checkpoint_sha256(args.checkpoint), **variant_record,
        "folds": args.folds, "epoch_cap": args.epochs, "recipe": plan,
        "pooling": "auto (pretrained: mean, random-init: max)", "torch_threads": 1,
        "splits": [{"fold": s.fold, "train": s.train.tolist(), "valid": s.valid.tolist(), "test": s.test.tolist()}
                   for s in splits]})
    if args.grid:
        return grid(args, table, splits[: args.max_folds], plan, out, log)
    if args.variant:
        return variant(args, table, splits[: args.max_folds], plan, out, log)
    results_path, history_path = out / "results.csv", out / "history.csv"
    done = set(pd.read_csv(results_path)["fold"]) if results_path.exists() else set()
    make = classifier_factory(num_labels=2, checkpoint=args.checkpoint, pooling="auto")
    make_random = classifier_factory(num_labels=2, checkpoint=args.checkpoint, random_init=True, pooling="auto")
    log(f"{args.task}: {len(table)} sequences, pooling {make.pooling} (pretrained) / {make_random.pooling} "
        f"(random-init), recipe {plan}; folds done {sorted(done)}")
    for split in splits[: args.max_folds]:
        if split.fold in done:
            continue
        history: list[dict] = []
        rows = compare_variants(table, [split], task=args.task, make_model=make, make_random=make_random,
                                training=plan, feature_cache=out / "features.npy", log=log, history=history)
        _append(results_path, rows)
        _append(history_path, pd.DataFrame(history))
    log(f"{args.task}: folds 1..{len(splits[: args.max_folds])} of {len(splits)} done")
    return 0


def grid(args, table, splits, plan, out, log) -> int:
    path = out / "grid.csv"
    skip = {s for s in args.skip.split(",") if s}
    for lr in map(float, args.lrs.split(",")):
        for pooling in args.poolings.split(","):
            name = f"{lr:g}-{pooling}"
            if name in skip:
                continue
            make = classifier_factory(num_labels=2, checkpoint=args.checkpoint, pooling=pooling)
            _cross_validate_resumable(path, make, table, args.task, name, splits, plan | {"lr": lr}, log)
    log(f"{args.task}: grid done")
    return 0


def variant(args, table, splits, plan, out, log) -> int:
    name, _, checkpoint = args.variant.partition("=")
    make = classifier_factory(num_labels=2, checkpoint=checkpoint, pooling="auto")
    log(f"{args.task}: variant {name} from {checkpoint}, pooling {make.pooling}")
    _cross_validate_resumable(out / "variants.csv", make, table, args.task, name, splits, plan, log)
    log(f"{args.task}: variant {name} done")
    return 0


def _cross_validate_resumable(path, make, table, task, name, splits, training, log) -> None:
    """One fold at a time, appended as it finishes; folds of ``name`` already in ``path`` are skipped."""
    done = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=["variant", "fold"])
    finished = set(done.loc[done["variant"] == name, "fold"])
    for split in splits:
        if split.fold in finished:
            continue
        rows = cross_validate(make, table, task=task, variant=name, splits=[split], log=log, **training)
        _append(path, rows)


def _append(path: Path, rows: pd.DataFrame) -> None:
    """Old rows + new rows, written atomically (a kill leaves the previous complete file) and under an
    exclusive lock, so that several processes (e.g. one per grid point) can append to one table."""
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            rows = pd.concat([pd.read_csv(path), rows], ignore_index=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        rows.to_csv(tmp, index=False)
        os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
