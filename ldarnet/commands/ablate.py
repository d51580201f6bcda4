"""``ldarnet ablate``: parse the options and call :func:`ldarnet.ablate.run_ablation`."""

from __future__ import annotations

import argparse
import re

EPILOG = """\
examples:
  # a tiny smoke run (minutes on 2 CPU cores)
  ldarnet ablate --base ldarnet-tiny --factor router --fasta data/scer_chrI.fa --steps 20 --batch-size 4 \\
      --seq-len 256 --task data/ecoli_sigma70_promoters.csv --folds 5 --max-folds 1 --ft-epochs 1 --out runs/abl-tiny
  # learned vs fixed vs none and a ratio sweep at the proxy scale
  ldarnet ablate --base ldarnet-proxy --factor router ratio --fasta A.fa B.fa --steps 2000 --batch-size 16 \\
      --seq-len 1024 --task promoters.csv enhancers.csv:sequence:label --folds 5 --out runs/abl-proxy
A --task is CSV or CSV:SEQUENCE_COLUMN:LABEL_COLUMN."""


def register(subparsers) -> None:
    from .. import ablate as library  # its docstring (factors, outputs) is the description

    p = subparsers.add_parser("ablate",
                              description=library.__doc__.split("\n", 2)[2], epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    v = p.add_argument_group("variants")
    v.add_argument("--base", required=True, metavar="PRESET_OR_JSON", help="the base config (preset name or JSON)")
    v.add_argument("--factor", required=True, nargs="+", choices=library.FACTORS, help="factor(s) to vary, one at a time")
    v.add_argument("--routers", type=_words, help="router values (default: learned,fixed,none)")
    v.add_argument("--ratios", type=_numbers, help="target ratios (default: 2,4,6,8,12)")
    v.add_argument("--fusions", type=_words, help="fusion values (default: mean,sum)")
    t = p.add_argument_group("pretraining (identical for every variant)")
    t.add_argument("--fasta", required=True, nargs="+", metavar="FILE", help="pretraining FASTA files")
    t.add_argument("--weights", type=float, nargs="+", metavar="W", help="sampling weight per FASTA file")
    t.add_argument("--val-records", nargs="+", default=[], metavar="NAME", help="records held out for the MLM evaluation")
    t.add_argument("--steps", type=int, required=True, help="optimiser steps per variant")
    t.add_argument("--batch-size", type=int, required=True, help="sequences per step")
    t.add_argument("--seq-len", type=int, required=True, help="window length in bp")
    t.add_argument("--lr", type=float, default=5e-4, help="pretraining peak learning rate (default: 5e-4)")
    t.add_argument("--pretrain-minutes", type=float,
                   help="cap per variant; a capped variant has fewer steps, so compute is then NOT matched")
    t.add_argument("--bf16", action="store_true", help="bf16 autocast for pretraining and fine-tuning")
    f = p.add_argument_group("fine-tuning (identical for every variant)")
    f.add_argument("--task", required=True, nargs="+", metavar="CSV[:SEQ:LABEL]", help="labeled task CSV(s)")
    f.add_argument("--folds", type=int, default=5, help="k of the stratified k-fold (default: 5)")
    f.add_argument("--max-folds", type=int, help="run only the first N folds")
    f.add_argument("--ft-epochs", type=int, default=10, help="maximum epochs per fold (default: 10)")
    f.add_argument("--ft-patience", type=int, default=5, help="early-stopping patience (default: 5)")
    f.add_argument("--ft-lr", type=float, default=1e-4, help="fine-tuning learning rate (default: 1e-4)")
    f.add_argument("--ft-batch-size", type=int, default=32, help="fine-tuning batch size (default: 32)")
    f.add_argument("--ft-max-sequences", type=int, help="use a stratified sample of at most N rows of each task")
    f.add_argument("--finetune-minutes", type=float, help="time cap per variant and task")
    p.add_argument("--out", required=True, metavar="DIR", help="run folder (created)")
    p.add_argument("--scale", help="a label for the scale of this run, written to ablate.json (default: derived)")
    p.add_argument("--keep-training-state", action="store_true",
                   help="keep each pretraining run's resumable checkpoints (deleted once the model is saved)")
    p.add_argument("--timing-repeats", type=int, default=3, help="rounds of the side-by-side throughput timing (0 skips)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress on stderr (ablate.log still gets it)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..ablate import run_ablation

    values = {factor: getattr(args, factor + "s") for factor in ("router", "ratio", "fusion") if getattr(args, factor + "s")}
    run_ablation(
        base=args.base, factors=args.factor, values=values, tasks=args.task, fasta=args.fasta, weights=args.weights,
        val_records=args.val_records, steps=args.steps, batch_size=args.batch_size, seq_len=args.seq_len, lr=args.lr,
        pretrain_minutes=args.pretrain_minutes, bf16=args.bf16, folds=args.folds, max_folds=args.max_folds,
        ft_epochs=args.ft_epochs, ft_patience=args.ft_patience, ft_lr=args.ft_lr, ft_batch_size=args.ft_batch_size,
        ft_max_sequences=args.ft_max_sequences, finetune_minutes=args.finetune_minutes, out=args.out,
        scale=args.scale, keep_training_state=args.keep_training_state, timing_repeats=args.timing_repeats,
        threads=args.threads, seed=args.seed, quiet=args.quiet,
        arguments={k: v for k, v in vars(args).items() if k != "func"})
    return 0


def _words(text: str) -> tuple[str, ...]:
    return tuple(w for w in re.split(r"[,\s]+", text.strip()) if w)


def _numbers(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(w) for w in _words(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None


