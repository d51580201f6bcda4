"""The small grid behind the fine-tuning defaults (results/finetune-defaults/README.md).

One task, a stratified subsample (the shared 2-core machine trains the proxy at a few hundred bp/s),
fold 1 of a 2-fold split: for each (learning rate, pooling) the pretrained proxy is fine-tuned with the
cosine recipe, and the k-mer baselines run on the same fold. Writes OUT (tidy CSV, rewritten after
every grid point, so a killed run keeps what it measured).

    python results/finetune-defaults/grid.py --csv data/ecoli_sigma70_promoters.csv --task ecoli \\
        --n 200 --out results/finetune-defaults/grid-ecoli.csv
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import train_test_split

from ldarnet.finetune import classifier_factory, cross_validate, load_csv, write_results_table
from ldarnet.finetune.baselines import kmer_baseline
from ldarnet.finetune.folds import fold_splits


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--csv", required=True)
    p.add_argument("--task", required=True)
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--checkpoint", default="checkpoints/ldarnet-proxy-multispecies")
    p.add_argument("--lrs", default="3e-4,1e-3,3e-3")
    p.add_argument("--poolings", default="mean,max")
    p.add_argument("--head-lr-scale", type=float, default=10.0)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    torch.set_num_threads(1)
    table = load_csv(args.csv)
    keep, _ = train_test_split(np.arange(len(table)), train_size=args.n, stratify=table["label"], random_state=0)
    table = table.iloc[np.sort(keep)].reset_index(drop=True)
    splits = fold_splits(table["label"].to_numpy(), 2, valid_fraction=0.15, seed=0, max_folds=1)
    rows = [kmer_baseline(table, splits, task=args.task, k=k) for k in (3, 4, 5, 6)]
    for lr in map(float, args.lrs.split(",")):
        for pooling in args.poolings.split(","):
            started = time.monotonic()
            make = classifier_factory(num_labels=2, checkpoint=args.checkpoint, pooling=pooling)
            res = cross_validate(make, table, task=args.task, variant=f"lr{lr:g}-{pooling}", splits=splits,
                                 lr=lr, batch_size=args.batch_size, max_epochs=args.epochs, patience=args.epochs,
                                 schedule="cosine", warmup_fraction=0.1, head_lr_scale=args.head_lr_scale,
                                 log=lambda line: print(line, file=sys.stderr, flush=True))
            rows.append(res)
            print(f"{args.task} lr {lr:g} {pooling}: MCC "
                  f"{res.loc[res.metric == 'mcc', 'value'].iloc[0]:.3f} in {time.monotonic() - started:.0f} s",
                  file=sys.stderr, flush=True)
            write_results_table(pd.concat(rows, ignore_index=True), args.out)
    write_results_table(pd.concat(rows, ignore_index=True), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
