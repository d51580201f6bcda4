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

Every run also reports, on exactly the same folds, the baselines a reader needs to judge the
result (variants in the same table): random-init (the same architecture and recipe from random
weights), linear-probe (logistic regression on the frozen checkpoint's pooled features, computed
once and cached in OUT/features.npy) and kmer-3 .. kmer-6 (logistic regression on normalised k-mer
counts; C chosen on the validation share). --baselines none turns them off.

--protocol default is the recipe chosen by measurement (results/finetune-defaults/README.md):
peak lr 3e-4 with 10% warm-up and cosine decay, a 10x faster head, batch 16, pooling by starting
point (mean when the checkpoint's weights are fine-tuned, max for the random-init arm), at most
10 epochs with patience 3; --protocol paper is the paper's fixed proxy protocol (batch 128, one
constant learning rate 1e-4, early stopping with patience 5, mean pooling).

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
    model.add_argument("--pooling", choices=("auto", "mean", "max", "first"),
                       help="default: the protocol's (auto = mean for a loaded checkpoint, max from random weights; "
                            "paper: mean)")
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
    cv.add_argument("--protocol", choices=("default", "paper"), default="default",
                    help="training recipe: 'default' (measured) or 'paper' (batch 128, lr 1e-4 constant, patience 5)")
    cv.add_argument("--epochs", type=int, help="maximum epochs per fold (default: the protocol's, 10)")
    cv.add_argument("--patience", type=int,
                    help="stop after this many epochs without a lower validation loss (default: the protocol's)")
    cv.add_argument("--lr", type=float, help="peak learning rate when no --grid is given (default: the protocol's)")
    cv.add_argument("--batch-size", type=int, help="batch size when no --grid is given (default: the protocol's)")
    cv.add_argument("--schedule", choices=("constant", "cosine"), help="learning rate after warm-up (default: the protocol's)")
    cv.add_argument("--head-lr-scale", type=float, help="learning-rate multiplier of the head (default: the protocol's)")
    cv.add_argument("--baselines", default="random-init,linear-probe,kmer",
                    help="comma list of random-init, linear-probe, kmer, or 'none' (default: all three)")
    cv.add_argument("--kmer-sizes", default="3,4,5,6", help="k of the k-mer baselines (default: 3,4,5,6)")
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

    from ..finetune import classifier_factory, grid_search, hyperparameter_grid, load_csv, write_results_table
    from ..finetune.compare import BASELINES, compare_variants, recipe
    from ..finetune.folds import fold_splits
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
    baselines = [] if args.baselines.strip() == "none" else [b.strip() for b in args.baselines.split(",") if b.strip()]
    if set(baselines) - set(BASELINES):
        raise ValueError(f"--baselines {args.baselines!r}: choose from {', '.join(BASELINES)} or 'none'")
    kmer_sizes = [int(k) for k in args.kmer_sizes.split(",")]
    plan = recipe(args.protocol, lr=args.lr, batch_size=args.batch_size, max_epochs=args.epochs,
                  patience=args.patience, schedule=args.schedule, head_lr_scale=args.head_lr_scale,
                  pooling=args.pooling)
    pooling = plan.pop("pooling")
    variant = args.variant or ("random-init" if args.random_init else "pretrained" if args.checkpoint else str(args.config))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = run_logger(out / "finetune.log", quiet=args.quiet)
    make_model = classifier_factory(num_labels=num_labels, checkpoint=args.checkpoint, config=args.config,
                                    random_init=args.random_init, pooling=pooling, conjoin_rc=args.conjoin_rc,
                                    device=args.device)
    # a --config model or --random-init run is already the random-weights arm: no second one, no probe
    pretrained = args.checkpoint is not None and not args.random_init
    make_random = (classifier_factory(num_labels=num_labels, checkpoint=args.checkpoint, random_init=True,
                                      pooling=pooling, conjoin_rc=args.conjoin_rc, device=args.device)
                   if pretrained else None)
    if not pretrained:
        baselines = [b for b in baselines if b == "kmer"]
    deadline = started + 60 * args.max_minutes if args.max_minutes else None
    schedule = dict(schedule=plan["schedule"], warmup_fraction=plan["warmup_fraction"],
                    head_lr_scale=plan["head_lr_scale"])
    options = dict(seed=args.seed, log=log, freeze_backbone=args.freeze_backbone, bf16=args.bf16,
                   micro_batch_size=args.micro_batch_size, weight_decay=args.weight_decay)
    lr, batch_size = plan["lr"], plan["batch_size"]
    log(f"{task}: {len(table)} sequences, {num_labels} classes, variant {variant}, protocol {args.protocol} "
        f"({', '.join(f'{k} {v}' for k, v in plan.items())}, pooling {pooling}: {make_model.pooling} for {variant}"
        + (f", {make_random.pooling} for random-init" if make_random else "") + f"); baselines: {', '.join(baselines) or 'none'}")
    if args.grid:
        grid = hyperparameter_grid(args.grid)
        grid_deadline = None if deadline is None else time.monotonic() + (deadline - time.monotonic()) / 2
        (lr, batch_size), grid_table = grid_search(make_model, table, grid, task=task, variant=variant,
                                                   deadline=grid_deadline, max_epochs=plan["max_epochs"],
                                                   patience=plan["patience"], valid_fraction=args.valid_fraction,
                                                   **schedule, **options)
        write_results_table(grid_table, out / "grid.csv")
        log(f"grid search chose lr {lr:g}, batch size {batch_size}")
    splits = fold_splits(table["label"].to_numpy(), args.folds, valid_fraction=args.valid_fraction,
                         seed=args.seed, max_folds=args.max_folds)
    training = dict(lr=lr, batch_size=batch_size, max_epochs=plan["max_epochs"], patience=plan["patience"], **schedule)
    results = compare_variants(table, splits, task=task, make_model=make_model, make_random=make_random,
                               variant=variant, baselines=baselines, kmer_sizes=kmer_sizes, training=training,
                               feature_cache=out / "features.npy", deadline=deadline, **options)
    write_results_table(results, out / "results.csv")
    scored = results[results["metric"].isin(("mcc", "accuracy", "f1", "auroc"))]
    table_summary = scored.groupby(["variant", "metric"], sort=False)["value"].agg(["mean", "std"])
    log(f"test MCC over {results['fold'].nunique()} fold(s), mean +- SD, same folds for every variant:")
    for name in results["variant"].unique():
        row = table_summary.loc[(name, "mcc")]
        log(f"  {name:<14} {row['mean']:.4f}" + (f" +- {row['std']:.4f}" if row["std"] == row["std"] else ""))
    pooling = {variant: make_model.pooling} | ({"random-init": make_random.pooling} if make_random else {})
    record = {"task": task, "variant": variant, "options": {k: v for k, v in vars(args).items() if k != "func"},
              "checkpoint_sha256": checkpoint_sha256(args.checkpoint) if args.checkpoint else None,
              "protocol": args.protocol, "recipe": training | {"pooling": pooling},
              "chosen_lr": lr, "chosen_batch_size": batch_size, "n_sequences": len(table), "num_labels": num_labels,
              "folds": [{"fold": s.fold, "train": s.train.tolist(), "valid": s.valid.tolist(), "test": s.test.tolist()}
                        for s in splits],
              "wall_seconds": round(time.monotonic() - started, 1), "torch_threads": torch.get_num_threads(),
              "summary": {m: {"mean": float(table_summary.loc[(variant, m), "mean"]),
                              "std": float(table_summary.loc[(variant, m), "std"])} for m in ("mcc", "accuracy", "f1", "auroc")},
              "summary_by_variant": {name: {m: {"mean": float(table_summary.loc[(name, m), "mean"]),
                                               "std": float(table_summary.loc[(name, m), "std"])}
                                           for m in ("mcc", "accuracy", "f1", "auroc")}
                                     for name in results["variant"].unique()}}
    atomic_write_json(out / "run.json", record)
    return 0
