"""Fine-tune a checkpoint on one labeled task within a time budget, beside its baselines on the same
folds, and report held-out MCC and fine-tuning throughput (bp/s) side by side, as JSON.

Variants (one process, one after the other, the same stratified folds): the checkpoint fine-tuned
with a recipe (``--protocol default`` or ``paper``), the same architecture from random weights,
the frozen checkpoint as a linear probe (features computed once), and k-mer logistic regression
for k = 3..6. ``--minutes`` is shared by the two fine-tuned variants. ``--n`` subsamples the task
(stratified) so that a run fits a busy CPU. Throughput: bases of the training share times epochs
run, over the fold's training wall time (validation passes included), plus forward-only bp/s of
the frozen-feature pass.

    python bench/bench_finetune.py --checkpoint checkpoints/ldarnet-proxy-multispecies --minutes 10
    python bench/bench_finetune.py --checkpoint CKPT --n 200 --folds 2 --epochs 3 --bf16

``--throughput`` instead times optimiser steps only (AdamW, fwd+bwd at batch 16, the default
recipe's pooling per arm) and forward-only batches, per sequence length, as bp/s of wall time and
bp per CPU-second (``time.process_time``: on a shared machine the wall figure is load-bound), with
the load average; the result is merged into ``--out`` under the key ``throughput``:

    OMP_NUM_THREADS=1 python bench/bench_finetune.py --checkpoint checkpoints/ldarnet-proxy-multispecies \
        --throughput --threads 1
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from ldarnet import atomic_write_json  # noqa: E402
from ldarnet.finetune import classifier_factory, encode_sequences, load_csv  # noqa: E402
from ldarnet.finetune.compare import compare_variants, recipe  # noqa: E402
from ldarnet.finetune.folds import fold_splits  # noqa: E402
from ldarnet.finetune.load import check_labels  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="folder with model.safetensors + config.json")
    p.add_argument("--csv", default=str(ROOT / "data" / "ecoli_sigma70_promoters.csv"))
    p.add_argument("--sequence-column")
    p.add_argument("--label-column")
    p.add_argument("--n", type=int, help="stratified subsample of this many sequences")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--max-folds", type=int, help="run only the first N folds (more time for each)")
    p.add_argument("--minutes", type=float, default=10.0, help="wall-time budget of the fine-tuned variants (default: 10)")
    p.add_argument("--protocol", choices=("default", "paper"), default="default")
    p.add_argument("--epochs", type=int)
    p.add_argument("--patience", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (worth it only with native CPU bf16)")
    p.add_argument("--threads", type=int, help="torch threads (on a busy shared machine 1 can beat 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--throughput", action="store_true", help="time fine-tuning steps only (see above)")
    p.add_argument("--lengths", default="81,200", help="--throughput: sequence lengths (default: 81,200)")
    p.add_argument("--steps", type=int, default=6, help="--throughput: timed steps per arm and length (default: 6)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "finetune.json"))
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.throughput:
        return throughput(args)

    table = load_csv(args.csv, sequence_column=args.sequence_column, label_column=args.label_column)
    if args.n:
        keep, _ = train_test_split(np.arange(len(table)), train_size=args.n, stratify=table["label"],
                                   random_state=args.seed)
        table = table.iloc[np.sort(keep)].reset_index(drop=True)
    num_labels = check_labels(table["label"].to_numpy(), where=args.csv)
    plan = recipe(args.protocol, lr=args.lr, batch_size=args.batch_size, max_epochs=args.epochs, patience=args.patience)
    pooling = plan.pop("pooling")
    splits = fold_splits(table["label"].to_numpy(), args.folds, seed=args.seed, max_folds=args.max_folds)
    flags = Path("/proc/cpuinfo").read_text().split("flags", 2)[1].split("\n", 1)[0] if Path("/proc/cpuinfo").exists() else ""
    record = {
        "benchmark": "fine-tuning beside its baselines on the same folds: held-out MCC and bp/s",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "checkpoint": str(args.checkpoint), "csv": str(args.csv), "n_sequences": len(table),
        "mean_length": float(table["sequence"].str.len().mean()), "folds": args.folds, "max_folds": args.max_folds,
        "minutes": args.minutes, "protocol": args.protocol, "recipe": plan | {"pooling": pooling},
        "bf16": args.bf16, "cpu_native_bf16": any(f in flags.split() for f in ("avx512_bf16", "amx_bf16")),
        "seed": args.seed, "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "machine": platform.machine(), "torch": torch.__version__, "load_average_before": os.getloadavg(),
    }
    make = classifier_factory(num_labels=num_labels, checkpoint=args.checkpoint, pooling=pooling)
    make_random = classifier_factory(num_labels=num_labels, checkpoint=args.checkpoint, random_init=True, pooling=pooling)
    training = {k: plan[k] for k in ("lr", "batch_size", "max_epochs", "patience", "schedule", "warmup_fraction",
                                     "head_lr_scale")}
    started = time.monotonic()
    rows = compare_variants(table, splits, task=Path(args.csv).stem, make_model=make, make_random=make_random,
                            training=training, deadline=started + 60 * args.minutes, seed=args.seed, bf16=args.bf16,
                            log=lambda line: print(line, file=sys.stderr, flush=True))
    record["wall_seconds"] = round(time.monotonic() - started, 1)
    lengths = table["sequence"].str.len().to_numpy()
    wide = rows.pivot_table(index=["variant", "fold"], columns="metric", values="value")
    variants = {}
    for name in rows["variant"].unique():
        part = wide.loc[name]
        entry = {"mcc_mean": float(part["mcc"].mean()),
                 "mcc_std": float(part["mcc"].std(ddof=1)) if len(part) > 1 else None,
                 "auroc_per_fold": part["auroc"].round(4).tolist(),
                 "mcc_per_fold": part["mcc"].round(4).tolist(), "auroc_mean": float(part["auroc"].mean()),
                 "train_seconds": part["train_seconds"].round(2).tolist()}
        if name == "linear-probe":  # its time is the frozen forward over every sequence plus the logistic fits
            entry["features_bp_per_s_lower_bound"] = float(lengths.sum() / part["train_seconds"].sum())
        if "epochs" in part and part["epochs"].notna().all():
            train_bp = np.array([lengths[s.train].sum() for s in splits[: len(part)]])
            entry["epochs"] = part["epochs"].tolist()
            entry["finetune_bp_per_s"] = float((train_bp * part["epochs"].to_numpy()).sum() / part["train_seconds"].sum())
        variants[name] = entry
    record["variants"] = variants
    record["load_average_after"] = os.getloadavg()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, record)
    for name, entry in variants.items():
        speed = f", {entry['finetune_bp_per_s']:.0f} bp/s" if "finetune_bp_per_s" in entry else ""
        print(f"{name:<14} MCC {entry['mcc_mean']:.3f}{speed}", file=sys.stderr)
    return 0


def throughput(args) -> int:
    """Fine-tuning and forward throughput of the pretrained and random-init arms, merged into ``args.out``."""
    import json

    flags = Path("/proc/cpuinfo").read_text().split("flags", 2)[1].split("\n", 1)[0] if Path("/proc/cpuinfo").exists() else ""
    native_bf16 = any(f in flags.split() for f in ("avx512_bf16", "amx_bf16"))
    batch = args.batch_size or recipe("default")["batch_size"]
    rng = np.random.default_rng(args.seed)
    arms = {"pretrained": classifier_factory(num_labels=2, checkpoint=args.checkpoint),
            "random-init": classifier_factory(num_labels=2, checkpoint=args.checkpoint, random_init=True)}
    record = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "checkpoint": str(args.checkpoint),
              "batch_size": batch, "timed_steps": args.steps, "torch_threads": torch.get_num_threads(),
              "cpu_count": os.cpu_count(), "machine": platform.machine(), "torch": torch.__version__,
              "cpu_native_bf16": native_bf16,
              "bf16": "measured with --bf16" if args.bf16 else
                      "not measured: no native bf16 on this CPU (AVX2); autocast emulates it, slower than fp32",
              "compile": "not measured: CPU-only shared machine without native bf16; left for a machine where it is a fast path",
              "load_average_before": os.getloadavg(), "rows": []}
    for name, make in arms.items():
        for length in map(int, args.lengths.split(",")):
            torch.manual_seed(args.seed)
            model = make(0)
            optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
            seqs = ["".join(rng.choice(list("ACGT"), length)) for _ in range(batch)]
            ids, mask = encode_sequences(seqs)
            labels = torch.as_tensor(rng.integers(0, 2, batch))
            autocast = torch.autocast("cpu", dtype=torch.bfloat16) if args.bf16 else contextlib.nullcontext()

            def step() -> None:
                with autocast:
                    loss = torch.nn.functional.cross_entropy(model(ids, mask).float(), labels)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)

            step()  # warm-up: allocator and first-call costs
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(args.steps):
                step()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            model.eval()
            fwall, fcpu = time.perf_counter(), time.process_time()
            with torch.no_grad(), autocast:
                for _ in range(args.steps):
                    model(ids, mask)
            fwall, fcpu = time.perf_counter() - fwall, time.process_time() - fcpu
            bp = batch * length * args.steps
            row = {"arm": name, "pooling": make.pooling, "length": length,
                   "finetune_bp_per_s_wall": round(bp / wall, 1), "finetune_bp_per_cpu_s": round(bp / cpu, 1),
                   "forward_bp_per_s_wall": round(bp / fwall, 1), "forward_bp_per_cpu_s": round(bp / fcpu, 1),
                   "load_average": os.getloadavg()[0]}
            record["rows"].append(row)
            print(row, file=sys.stderr, flush=True)
    record["load_average_after"] = os.getloadavg()
    out = Path(args.out)
    merged = json.loads(out.read_text()) if out.exists() else {}
    merged["throughput"] = record
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, merged)
    return 0


if __name__ == "__main__":
    sys.exit(main())
