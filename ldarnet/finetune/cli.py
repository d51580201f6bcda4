"""``ldarnet finetune``: cross-validated fine-tuning of a checkpoint on one labeled task."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from .crossval import cross_validate, grid_search, hyperparameter_grid, write_table
from .load import check_labels, load_csv, load_fasta_classes
from .models import classifier_factory

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
    p = subparsers.add_parser("finetune", help="cross-validated fine-tuning on a labeled CSV or per-class FASTAs",
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
    _register_make_task(subparsers)


def _register_make_task(subparsers) -> None:
    p = subparsers.add_parser(
        "make-task", help="build a labeled promoter or splice-site CSV from a FASTA + GFF3/GTF",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Write a labeled CSV (sequence,label,seq_id,start,end,strand,kind) for fine-tuning:
  promoter  windows centred on every distinct TSS (label 1) vs random windows at least
            --min-distance bp from any TSS (label 0);
  donor     windows centred on every annotated exon-intron junction (the G of GT at index W/2)
            vs GC-matched decoy GT windows that are no annotated donor (label 0);
  acceptor  the same for intron-exon junctions (AG just before index W/2) vs AG decoys.
Windows are read 5'->3' on their strand and upper-cased; start/end are 0-based half-open forward
coordinates. Annotations without UTRs put the TSS at the start codon.""")
    p.add_argument("task", choices=("promoter", "donor", "acceptor"))
    p.add_argument("--fasta", required=True, help="genome FASTA (plain, bgzip or plain gzip)")
    p.add_argument("--annotation", required=True, help="GFF3 or GTF whose record names match the FASTA")
    p.add_argument("--out", required=True, metavar="CSV", help="the CSV to write (atomically)")
    p.add_argument("--window", type=int, help="window length in bp (default: 300 promoter, 400 splice)")
    p.add_argument("--negatives-per-positive", type=float, default=1.0,
                   help="random windows or decoys per positive (default: 1)")
    p.add_argument("--min-distance", type=int,
                   help="bp between a negative and any true site (default: 2000 promoter, 50 splice)")
    p.add_argument("--gc-bin-width", type=float, default=0.05, help="GC bins for decoy matching (default: 0.05)")
    p.add_argument("--max-n-fraction", type=float, default=0.01, help="skip windows with more N (default: 0.01)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_make_task)


def run_make_task(args: argparse.Namespace) -> int:
    from .tasks import build_task

    options = {"max_n_fraction": args.max_n_fraction, "seed": args.seed}
    if args.window is not None:
        options["window"] = args.window
    if args.min_distance is not None:
        options["min_distance"] = args.min_distance
    if args.task == "promoter":
        options["negatives_per_positive"] = args.negatives_per_positive
    else:
        options.update(decoys_per_site=args.negatives_per_positive, gc_bin_width=args.gc_bin_width)
    table = build_task(args.task, args.fasta, args.annotation, args.out, **options)
    counts = table["label"].value_counts().to_dict()
    print(f"wrote {args.out}: {counts.get(1, 0)} positive and {counts.get(0, 0)} negative windows of "
          f"{len(table['sequence'].iloc[0])} bp", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
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
    log = _logger(out / "finetune.log", quiet=args.quiet)
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
        write_table(grid_table, out / "grid.csv")
        log(f"grid search chose lr {lr:g}, batch size {batch_size}")
    results = cross_validate(make_model, table, task=task, variant=variant, folds=args.folds, lr=lr,
                             batch_size=batch_size, max_folds=args.max_folds, deadline=deadline, **options)
    write_table(results, out / "results.csv")
    summary = results.groupby("metric", sort=False)["value"].agg(["mean", "std"])
    for metric in ("mcc", "accuracy", "f1", "auroc"):
        log(f"{metric}: {summary.loc[metric, 'mean']:.4f} +- {summary.loc[metric, 'std']:.4f} over "
            f"{results['fold'].nunique()} fold(s)")
    record = {"task": task, "variant": variant, "options": {k: v for k, v in vars(args).items() if k != "func"},
              "chosen_lr": lr, "chosen_batch_size": batch_size, "n_sequences": len(table), "num_labels": num_labels,
              "wall_seconds": round(time.monotonic() - started, 1), "torch_threads": torch.get_num_threads(),
              "summary": {m: {"mean": float(summary.loc[m, "mean"]), "std": float(summary.loc[m, "std"])}
                          for m in ("mcc", "accuracy", "f1", "auroc")}}
    _write_json(record, out / "run.json")
    return 0


def _write_json(record: dict, path: Path) -> None:
    """Write ``record`` as indented JSON atomically."""
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(json.dumps(record, indent=2, default=str) + "\n")
    tmp.replace(path)


def _logger(path: Path, *, quiet: bool):
    handle = open(path, "a", buffering=1)

    def log(line: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        handle.write(f"{stamp} {line}\n")
        if not quiet:
            print(line, file=sys.stderr, flush=True)

    return log
