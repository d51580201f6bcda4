"""The heavy half of notebook 08 (MergeDNA beside LDARNet), run once per model and cached here.

    OMP_NUM_THREADS=1 .venv/bin/python results/mergedna-proxy/side_by_side.py \
        --model ldarnet=checkpoints/ldarnet-proxy-multispecies/history/alpha1-400steps --model mergedna=checkpoints/mergedna-proxy

For each model (loaded with ``ldarviz.load_model``, so either kind through the same seam):

1. its boundaries over the annotated Arabidopsis slice (``data/athal_chr1_1000000_1200000.fa``) go
   into the track store ``results/mergedna-proxy/boundary_store`` (keyed by the checkpoint's content
   hash; the notebook reads them with ``extract_boundaries(..., store=...)``);
2. fine-tuning MCC, protocol chosen for a shared 2-core CPU: a frozen-feature linear probe
   (``ldarnet.finetune.frozen_features`` + ``linear_probe``: the pooled hidden states the
   fine-tuning head sees, logistic regression with its regularisation picked on each fold's
   validation split) on a stratified subsample of each bundled task, both models on the SAME
   5 stratified folds, plus the k-mer logistic baselines on those folds. No full fine-tuning.
   Written to ``results/mergedna-proxy/side_by_side/<label>/`` with the checkpoint hash
   (``ldarviz.side_by_side.save_results``), so the notebook refuses results of other weights.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
STORE = HERE / "boundary_store"
FASTA = ROOT / "data/athal_chr1_1000000_1200000.fa"
TASKS = {"ecoli_promoters": (ROOT / "data/ecoli_sigma70_promoters.csv", "seqs", "labels"),
         "enhancers_200bp": (ROOT / "data/enhancers_200bp.csv", "sequence", "label")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, metavar="LABEL=CHECKPOINT")
    parser.add_argument("--per-task", type=int, default=1000, help="examples drawn (stratified) from each task")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-probe", action="store_true", help="only fill the boundary store")
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.chdir(ROOT)  # paths in records are repository-relative

    import ldarviz
    from ldarnet.finetune import classifier_factory, fold_splits, frozen_features, kmer_baseline, linear_probe, load_csv
    from ldarviz import extract_boundaries
    from ldarviz.side_by_side import save_results

    command = "OMP_NUM_THREADS=1 .venv/bin/python results/mergedna-proxy/side_by_side.py " + " ".join(
        shlex.quote(a) for a in sys.argv[1:])
    tasks = {}
    for task, (csv, seq_col, label_col) in TASKS.items():
        table = load_csv(csv, sequence_column=seq_col, label_column=label_col)
        table = ldarviz.stratified_sample(table, "label", total=args.per_task, seed=args.seed).reset_index(drop=True)
        labels = np.asarray(table["label"], dtype=np.int64)
        tasks[task] = (table, labels, fold_splits(labels, args.folds, seed=args.seed))
    for spec in args.model:
        label, _, path = spec.partition("=")
        loaded = ldarviz.load_model(path, seed=args.seed)
        load0, wall0, cpu0 = os.getloadavg(), time.perf_counter(), time.process_time()
        extract_boundaries(loaded.model, str(FASTA.relative_to(ROOT)), store=str(STORE.relative_to(ROOT)))
        timing = {"boundaries_wall_s": time.perf_counter() - wall0, "boundaries_cpu_s": time.process_time() - cpu0}
        print(f"[{label}] boundaries in the store ({timing['boundaries_wall_s']:.0f} s)", flush=True)
        record = HERE / "side_by_side" / label / "record.json"
        if args.skip_probe or (record.is_file() and json.loads(record.read_text()).get("checkpoint_sha256") == loaded.sha256):
            continue  # the cached probe is of these very weights
        rows = []
        for task, (table, labels, splits) in tasks.items():
            t0, c0 = time.perf_counter(), time.process_time()
            features = frozen_features(classifier_factory(num_labels=2, checkpoint=path)(-1), table["sequence"].tolist())
            rows.append(linear_probe(features, labels, splits, task=task, seed=args.seed))
            for k in (4, 6):
                rows.append(kmer_baseline(table, splits, task=task, k=k, seed=args.seed))
            timing[f"{task}_wall_s"], timing[f"{task}_cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
            mcc = rows[-3].query("metric == 'mcc'")["value"]
            print(f"[{label}] {task}: linear-probe MCC {mcc.mean():.3f} +- {mcc.std():.3f} "
                  f"({timing[f'{task}_wall_s']:.0f} s)", flush=True)
        save_results(HERE / "side_by_side" / label, loaded, {"probe": pd.concat(rows, ignore_index=True)},
                     command=command, per_task=args.per_task, folds=args.folds, seed=args.seed,
                     load_average_before=list(load0), load_average_after=list(os.getloadavg()), **timing)


if __name__ == "__main__":
    main()
