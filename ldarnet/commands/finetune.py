"""``ldarnet finetune``: cross-validated fine-tuning of a checkpoint on one labeled task (:mod:`ldarnet.finetune`)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


DESCRIPTION = """\
Fine-tune an LDARNet checkpoint with a classification head on one labeled task, with stratified
k-fold cross-validation (each fold is the held-out test set once; early stopping on a validation
share of the rest), and write the tidy table OUT/results.csv with columns
task, variant, fold, metric, value (metrics: mcc, accuracy, f1, auroc on the test fold, plus the
training record: val_loss, epochs, best_epoch, steps, train_seconds, lr, batch_size, n_train, n_test).

With --grid, the learning rate and batch size are first chosen by validation MCC over the paper's
learning-rate x batch-size grid (OUT/grid.csv), then used for every fold.
OUT/run.json records the options, the model and the wall time; OUT/finetune.log the progress."""

EPILOG = """\
examples:
  ldarnet finetune --checkpoint checkpoints/ldarnet-proxy-multispecies --csv data/ecoli_sigma70_promoters.csv \\
      --sequence-column seqs --label-column labels --folds 5 --out runs/ecoli
  ldarnet finetune --checkpoint CKPT --random-init --csv data/enhancers_200bp.csv --folds 5 --out runs/enh-random
  ldarnet finetune --config ldarnet-tiny --fasta-class negatives.fa positives.fa --folds 3 --epochs 2 --out runs/toy"""


def register(subparsers) -> None:
    p = subparsers.add_parser("finetune",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    model = p.add_argument_group("model")
    source = model.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", metavar="DIR", help="folder with model.safetensors + config.json")
    source.add_argument("--config", metavar="PRESET_OR_JSON",
                        help="an architecture (preset name or config JSON) trained from random weights")
    model.add_argument("--random-init", action="store_true",
                       help="use only the checkpoint's config, with fresh random weights (the no-pretraining control)")
    model.add_argument("--pooling", choices=("mean", "max", "first"), default="mean", help="default: mean")
    model.add_argument("--conjoin-rc", action="store_true",
                       help="average the logits of each sequence and its reverse complement")
    model.add_argument("--freeze-backbone", action="store_true", help="train only the classification head")
    data = p.add_argument_group("data")
    inputs = data.add_mutually_exclusive_group(required=True)
    inputs.add_argument("--csv", metavar="FILE", help="labeled CSV/TSV (header line; labels 0..K-1)")
    inputs.add_argument("--fasta-class", metavar="FASTA", nargs="+",
                        help="one FASTA per class; the k-th file's records get label k (Genomic Benchmarks layout)")
    data.add_argument("--sequence-column", metavar="C",
                      help="sequence column (default: the first of sequence, sequences, seq, seqs)")
    data.add_argument("--label-column", metavar="C", help="label column (default: the first of label, labels, class, y)")
    data.add_argument("--task", help="task name in the results (default: the input file's stem)")
    data.add_argument("--variant", help="variant name in the results (default: pretrained, random-init or the config)")
    cv = p.add_argument_group("training and cross-validation")
    cv.add_argument("--folds", type=int, default=5, help="k of the stratified k-fold split (default: 5)")
    cv.add_argument("--max-folds", type=int, help="run only the first N folds (the test sets stay the 1/k splits)")
    cv.add_argument("--valid-fraction", type=float, default=0.1,
                    help="share of each training part held out for early stopping (default: 0.1)")
    cv.add_argument("--epochs", type=int, default=10, help="maximum epochs per fold (default: 10)")
    cv.add_argument("--patience", type=int, default=5,
                    help="stop after this many epochs without a lower validation loss (default: 5)")
    cv.add_argument("--lr", type=float, default=1e-4, help="learning rate when no --grid is given (default: 1e-4)")
    cv.add_argument("--batch-size", type=int, default=32, help="batch size when no --grid is given (default: 32)")
    cv.add_argument("--micro-batch-size", type=int, help="accumulate gradients over micro-batches of this size")
    cv.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay (default: 0.01)")
    cv.add_argument("--grid", metavar="paper|RxB",
                    help="search learning rate x batch size first: 'paper' (9 x 4) or e.g. '3x2' (evenly spread)")
    cv.add_argument("--max-minutes", type=float, help="wall-time budget for the whole command, shared by all runs")
    cv.add_argument("--bf16", action="store_true", help="bfloat16 autocast")
    cv.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    cv.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    cv.add_argument("--seed", type=int, default=0, help="seeds folds, shuffling and head initialisation (default: 0)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--quiet", action="store_true", help="log only to OUT/finetune.log")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..finetune import classifier_factory, cross_validate, grid_search, hyperparameter_grid, load_csv, write_results_table
    from ..finetune.load import check_labels, load_fasta_classes
    from ..checkpoint import checkpoint_sha256
    from ..io import atomic_write_json, run_logger

    started = time.monotonic()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.random_init and args.config:
        raise ValueError("--random-init goes with --checkpoint; a --config model is always randomly initialised")
    if args.max_minutes is not None and args.max_minutes <= 0:
        raise ValueError(f"--max-minutes {args.max_minutes} must be positive")
    if args.csv:
        table = load_csv(args.csv, sequence_column=args.sequence_column, label_column=args.label_column)
        task = args.task or Path(args.csv).stem
    else:
        table = load_fasta_classes(args.fasta_class)
        task = args.task or "_vs_".join(Path(f).name.split(".")[0] for f in args.fasta_class)
    num_labels = check_labels(table["label"].to_numpy(), where=args.csv or "the FASTA classes")
    variant = args.variant or ("random-init" if args.random_init else "pretrained" if args.checkpoint else str(args.config))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = run_logger(out / "finetune.log", quiet=args.quiet)
    make_model = classifier_factory(num_labels=num_labels, checkpoint=args.checkpoint, config=args.config,
                                    random_init=args.random_init, pooling=args.pooling, conjoin_rc=args.conjoin_rc,
                                    device=args.device)
    deadline = started + 60 * args.max_minutes if args.max_minutes else None
    options = dict(max_epochs=args.epochs, patience=args.patience, valid_fraction=args.valid_fraction,
                   seed=args.seed, log=log, freeze_backbone=args.freeze_backbone, bf16=args.bf16,
                   micro_batch_size=args.micro_batch_size, weight_decay=args.weight_decay)
    lr, batch_size = args.lr, args.batch_size
    log(f"{task}: {len(table)} sequences, {num_labels} classes, variant {variant}")
    if args.grid:
        grid = hyperparameter_grid(args.grid)
        grid_deadline = None if deadline is None else time.monotonic() + (deadline - time.monotonic()) / 2
        (lr, batch_size), grid_table = grid_search(make_model, table, grid, task=task, variant=variant,
                                                   deadline=grid_deadline, **options)
        write_results_table(grid_table, out / "grid.csv")
        log(f"grid search chose lr {lr:g}, batch size {batch_size}")
    results = cross_validate(make_model, table, task=task, variant=variant, folds=args.folds, lr=lr,
                             batch_size=batch_size, max_folds=args.max_folds, deadline=deadline, **options)
    write_results_table(results, out / "results.csv")
    summary = results.groupby("metric", sort=False)["value"].agg(["mean", "std"])
    for metric in ("mcc", "accuracy", "f1", "auroc"):
        log(f"{metric}: {summary.loc[metric, 'mean']:.4f} +- {summary.loc[metric, 'std']:.4f} over "
            f"{results['fold'].nunique()} fold(s)")
    record = {"task": task, "variant": variant, "options": {k: v for k, v in vars(args).items() if k != "func"},
              "checkpoint_sha256": checkpoint_sha256(args.checkpoint) if args.checkpoint else None,
              "chosen_lr": lr, "chosen_batch_size": batch_size, "n_sequences": len(table), "num_labels": num_labels,
              "wall_seconds": round(time.monotonic() - started, 1), "torch_threads": torch.get_num_threads(),
              "summary": {m: {"mean": float(summary.loc[m, "mean"]), "std": float(summary.loc[m, "std"])}
                          for m in ("mcc", "accuracy", "f1", "auroc")}}
    atomic_write_json(out / "run.json", record)
    return 0
