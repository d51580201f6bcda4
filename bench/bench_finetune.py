"""Fine-tune a checkpoint on the E. coli sigma70 promoter set within a time budget, next to the same
architecture from random weights; held-out-fold MCC for both, as JSON.

Both models run the same protocol in the same process, one after the other: stratified k-fold
cross-validation (each fold the test set once; early stopping on a 10% validation share of the
rest), the same learning rate, batch size, seed and wall-time budget (``--minutes`` per model,
shared evenly by its folds). The acceptance target is MCC >= 0.5 on the held-out folds for the
pretrained checkpoint within 10 minutes on 2 CPU cores.

    python bench/bench_finetune.py --checkpoint checkpoints/ldarnet-proxy-multispecies --minutes 10
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from ldarnet import atomic_write_json  # noqa: E402
from ldarnet.finetune import classifier_factory, cross_validate, load_csv  # noqa: E402
from ldarnet.finetune.load import check_labels  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="folder with model.safetensors + config.json")
    p.add_argument("--csv", default=str(ROOT / "data" / "ecoli_sigma70_promoters.csv"))
    p.add_argument("--sequence-column", default="seqs")
    p.add_argument("--label-column", default="labels")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--max-folds", type=int, help="run only the first N folds (more time for each)")
    p.add_argument("--minutes", type=float, default=10.0, help="wall-time budget per model (default: 10)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--freeze-backbone", action="store_true")
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--threads", type=int, help="torch threads (on a busy shared machine 1 can beat 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-random", action="store_true", help="only the checkpoint (no random-init control)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "finetune.json"))
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    table = load_csv(args.csv, sequence_column=args.sequence_column, label_column=args.label_column)
    num_labels = check_labels(table["label"].to_numpy(), where=args.csv)
    arms = [("pretrained", False)] + ([] if args.skip_random else [("random-init", True)])
    record = {
        "benchmark": "fine-tuning on E. coli sigma70 promoters, held-out-fold MCC within a time budget",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "checkpoint": str(args.checkpoint), "csv": str(args.csv), "n_sequences": len(table),
        "folds": args.folds, "max_folds": args.max_folds, "minutes_per_model": args.minutes,
        "lr": args.lr, "batch_size": args.batch_size, "max_epochs": args.epochs, "patience": args.patience,
        "freeze_backbone": args.freeze_backbone, "bf16": args.bf16, "seed": args.seed,
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "machine": platform.machine(),
        "torch": torch.__version__, "load_average_before": os.getloadavg(), "arms": {},
    }
    for name, random_init in arms:
        make_model = classifier_factory(num_labels=num_labels, checkpoint=args.checkpoint, random_init=random_init)
        started = time.monotonic()
        rows = cross_validate(make_model, table, task="ecoli_sigma70", variant=name, folds=args.folds,
                              lr=args.lr, batch_size=args.batch_size, max_epochs=args.epochs,
                              patience=args.patience, max_folds=args.max_folds,
                              deadline=started + 60 * args.minutes, seed=args.seed,
                              log=lambda line: print(line, file=sys.stderr, flush=True),
                              freeze_backbone=args.freeze_backbone, bf16=args.bf16)
        wide = rows.pivot(index="fold", columns="metric", values="value")
        record["arms"][name] = {
            "wall_seconds": round(time.monotonic() - started, 1),
            "mcc_mean": float(wide["mcc"].mean()), "mcc_std": float(wide["mcc"].std(ddof=1)) if len(wide) > 1 else None,
            "accuracy_mean": float(wide["accuracy"].mean()), "auroc_mean": float(wide["auroc"].mean()),
            "per_fold": {col: wide[col].round(4).tolist() for col in
                         ("mcc", "accuracy", "f1", "auroc", "epochs", "steps", "train_seconds", "n_train", "n_test")},
            "load_average_after": os.getloadavg(),
        }
        print(f"{name}: MCC {record['arms'][name]['mcc_mean']:.3f} over {len(wide)} held-out fold(s) "
              f"in {record['arms'][name]['wall_seconds']:.0f} s", file=sys.stderr)
    pre = record["arms"]["pretrained"]
    record["target_mcc_ge_0_5"] = pre["mcc_mean"] >= 0.5
    if "random-init" in record["arms"]:
        record["mcc_gain_over_random_init"] = pre["mcc_mean"] - record["arms"]["random-init"]["mcc_mean"]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, record)
    print(json.dumps({k: v for k, v in record.items() if k != "arms"} |
                     {n: {k: a[k] for k in ("mcc_mean", "wall_seconds")} for n, a in record["arms"].items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
