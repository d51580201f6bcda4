"""``ldarnet pretrain``: parse the options and call :func:`ldarnet.training.pretrain`."""

from __future__ import annotations

import argparse
import sys

__all__ = ["register", "run"]

_EPILOG = """\
examples:
  # a short CPU run on the bundled slices, holding out the last 20 kb of the Arabidopsis slice
  printf 'NC_003070.9_1000000_1200000\\t180000\\t200000\\n' > val.bed
  ldarnet pretrain --config ldarnet-proxy --fasta data/athal_chr1_1000000_1200000.fa data/scer_chrI.fa \\
      --out runs/demo --steps 200 --batch-size 16 --seq-len 1024 --checkpoint-every 50 --seed 0 --val-regions val.bed
  # continue it after an interruption (same arguments plus --resume)
  ldarnet pretrain ... --resume
  # two processes on one machine (gloo on CPU, NCCL on GPUs)
  torchrun --nproc_per_node 2 -m ldarnet.cli pretrain ...

The run folder gets run.json, metrics.jsonl (one line per optimiser step), checkpoints/step-*/
(atomic; the newest --keep-checkpoints kept), and at the end model.safetensors + config.json
(load with LDARNet.from_pretrained(OUT)) and eval.json when data is held out.
"""


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "pretrain",
        description="Pretrain an LDARNet with masked-language modelling plus the ratio loss on random windows "
                    "of one or more FASTA files. AdamW (0.9/0.95, wd 0.01), warmup-stable-decay schedule, "
                    "stage-wise LR multipliers (paper Eq. 19), clipping at 1.0. Resumable bit for bit.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("model and data")
    g.add_argument("--config", required=True, metavar="PRESET_OR_JSON",
                   help="a preset name (ldarnet-tiny, ldarnet-proxy, ldarnet-120m) or a config JSON file")
    g.add_argument("--fasta", required=True, nargs="+", metavar="FILE",
                   help="FASTA files (plain, bgzip, or plain gzip: decompressed once into a cache)")
    g.add_argument("--weights", type=float, nargs="+", metavar="W",
                   help="sampling weight per FASTA file (default: proportional to each file's bases)")
    g.add_argument("--max-n", type=float, default=0.1, dest="max_n_fraction", metavar="FRACTION",
                   help="redraw windows with more than this fraction of N (default 0.1)")
    g.add_argument("--val-records", nargs="+", default=[], metavar="NAME",
                   help="record names held out whole for validation")
    g.add_argument("--val-regions", metavar="BED", help="BED file of regions held out for validation (0-based, half-open)")
    g.add_argument("--val-windows", type=int, default=64, metavar="N",
                   help="held-out windows evaluated at the end (default 64; 0 skips)")
    g.add_argument("--rc-prob", type=float, default=0.5, help="reverse-complement probability for training windows (0.5)")
    g.add_argument("--mask-prob", type=float, default=0.15, help="MLM target rate among A/C/G/T (0.15)")
    t = p.add_argument_group("training")
    t.add_argument("--out", required=True, metavar="DIR", help="run folder (created; must not hold a run unless --resume)")
    t.add_argument("--steps", type=int, required=True, metavar="N", help="optimiser steps")
    t.add_argument("--batch-size", type=int, required=True, metavar="B", help="sequences per optimiser step, over all processes")
    t.add_argument("--seq-len", type=int, required=True, metavar="L", help="window length in bp")
    t.add_argument("--checkpoint-every", type=int, required=True, metavar="K", help="write a checkpoint every K steps")
    t.add_argument("--seed", type=int, required=True, metavar="S", help="seed of the weights and the data stream")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its newest intact checkpoint")
    t.add_argument("--lr", type=float, default=5e-4, help="peak learning rate of the backbone (default 5e-4)")
    t.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay (default 0.01)")
    t.add_argument("--grad-accum", type=int, metavar="A",
                   help="micro-batches per step and process (default: micro-batches of about 4096 tokens)")
    t.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA and CPU); EMA and losses stay fp32")
    t.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda or cuda:N")
    t.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (default: torch's choice)")
    t.add_argument("--keep-checkpoints", type=int, default=3, metavar="N", help="checkpoints kept (default 3)")
    t.add_argument("--max-minutes", type=float, metavar="M",
                   help="stop cleanly (checkpoint + final model) after M minutes of wall time")
    t.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    r = p.add_argument_group("path reliance and router recipes (issue 11)")
    r.add_argument("--reliance-every", type=int, default=0, metavar="K",
                   help="log path reliance (held-out loss with each stage's chunk path / skip zeroed) every K steps (0: never)")
    r.add_argument("--reliance-windows", type=int, default=16, metavar="N", help="held-out windows for it (default 16)")
    r.add_argument("--router-lr-multiplier", type=float, metavar="X",
                   help="train the routers' projections at X times their level's learning rate")
    r.add_argument("--router-warmup-steps", type=int, default=0, metavar="S",
                   help="chunk at a fixed stride N for the first S steps (the router still learns from the ratio loss)")
    r.add_argument("--router-isolation-steps", type=int, default=0, metavar="S",
                   help="the MLM loss sees the routers' p detached for the first S steps (routers learn from the ratio loss only)")
    r.add_argument("--router-params-isolation-steps", type=int, default=0, metavar="S",
                   help="for the first S steps the routers' own projections learn from the ratio loss only; the MLM "
                        "loss still reaches the encoders through p")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from ..training import TrainingDiverged, pretrain

    try:
        summary = pretrain(
            config=args.config, fasta=args.fasta, weights=args.weights, out=args.out, steps=args.steps,
            batch_size=args.batch_size, seq_len=args.seq_len, checkpoint_every=args.checkpoint_every,
            seed=args.seed, resume=args.resume, lr=args.lr, weight_decay=args.weight_decay,
            grad_accum=args.grad_accum, bf16=args.bf16, device=args.device, max_n_fraction=args.max_n_fraction,
            val_records=args.val_records, val_regions=args.val_regions, val_windows=args.val_windows,
            rc_prob=args.rc_prob, mask_prob=args.mask_prob, keep_checkpoints=args.keep_checkpoints,
            max_minutes=args.max_minutes, progress=not args.no_progress, threads=args.threads,
            reliance_every=args.reliance_every, reliance_windows=args.reliance_windows,
            router_lr_multiplier=args.router_lr_multiplier, router_warmup_steps=args.router_warmup_steps,
            router_isolation_steps=args.router_isolation_steps,
            router_params_isolation_steps=args.router_params_isolation_steps)
    except TrainingDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    if summary.get("rank", 0):
        return 0
    ev = summary.get("eval")
    text = f"done: {summary['steps_done']} steps, {summary['tokens']:,} tokens in {summary['train_seconds']:.0f} s"
    if ev:
        text += (f"; held-out MLM loss {ev['mlm_loss']:.4f} (base-frequency baseline {ev['baseline_loss']:.4f}), "
                 f"compression {', '.join(f'{c:.2f}' for c in ev['compression'])}")
        rel = ev.get("reliance")
        if rel:
            text += "; zeroing the chunk path costs " + ", ".join(
                f"{s['chunk_path_cost']:+.4f}" for s in rel["stages"]) + " nats, the skip " + ", ".join(
                f"{s['skip_cost']:+.4f}" for s in rel["stages"]) + ", boundaries at a fixed stride " + ", ".join(
                f"{s['stride_cost']:+.4f}" for s in rel["stages"]) + f" (context baseline {rel['context_baseline']:.4f})"
    print(text, file=sys.stderr)
    return 0
