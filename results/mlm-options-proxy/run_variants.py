"""Pretrain ldarnet-proxy variants on identical data and steps; write one row per variant to summary.jsonl.

Every variant shares the data stream, seed, steps, batch, window length and LR; it changes only the
config fields and pretrain options listed for it in VARIANTS. Path reliance is logged every
``--reliance-every`` steps (on 4 held-out windows) and at the end (eval.json, ``--val-windows``).

    OMP_NUM_THREADS=1 python results/mlm-options-proxy/run_variants.py --group ablation
    OMP_NUM_THREADS=1 python results/mlm-options-proxy/run_variants.py --group remedies

A variant whose folder already holds eval.json is skipped, so the script can be rerun after a kill.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SHARED = ROOT.parent / "shared" / "data"
FASTA = [SHARED / "genomes" / "athal_tair10_chr1" / "genomic.fna.gz", SHARED / "genomes" / "scer_r64" / "genome.fa.gz",
         SHARED / "pretrain" / "ce2_chrX.fa.gz"]
VAL_RECORDS = ["BK006949.2"]  # yeast chromosome XVI, held out whole

# name -> (config fields, pretrain options)
VARIANTS = {
    "ablation": {
        "off-off": ({}, {}),
        "protect-on": ({"mask_protection": True}, {}),
        "gating-on": ({"masked_residual_gating": True}, {}),
        "on-on": ({"mask_protection": True, "masked_residual_gating": True}, {}),
    },
    "remedies": {
        "stride-warmup-8": ({}, {"router_warmup_steps": 8}),
        "router-lr-x0.1": ({}, {"router_lr_multiplier": 0.1}),
        "on-on-stride-warmup-8": ({"mask_protection": True, "masked_residual_gating": True},
                                  {"router_warmup_steps": 8}),
    },
    # session 2: router-side remedies (config fields of chunking.Router); "-s2" = rerun this session
    "router": {
        "off-off-s2": ({}, {}),
        "center": ({"router_centering": True}, {}),
        "center-on-on": ({"router_centering": True, "mask_protection": True, "masked_residual_gating": True}, {}),
        "center-gating": ({"router_centering": True, "masked_residual_gating": True}, {}),
        "center-isolate-24": ({"router_centering": True}, {"router_isolation_steps": 24}),
        "center-isolate-8": ({"router_centering": True}, {"router_isolation_steps": 8}),
        "isolate-24": ({}, {"router_isolation_steps": 24}),
        "center-router-lr-x10": ({"router_centering": True}, {"router_lr_multiplier": 10.0}),
        "center-on-on-router-lr-x10": ({"router_centering": True, "mask_protection": True,
                                        "masked_residual_gating": True}, {"router_lr_multiplier": 10.0}),
    },
    # session 4: the router learns its rate from the ratio loss alone while the model chunks at stride N
    "recipe": {
        "center-on-on-stride8-iso8-lr10": ({"router_centering": True, "mask_protection": True,
                                            "masked_residual_gating": True},
                                           {"router_warmup_steps": 8, "router_isolation_steps": 8,
                                            "router_lr_multiplier": 10.0}),
        "center-on-on-stride8-iso32-lr10": ({"router_centering": True, "mask_protection": True,
                                             "masked_residual_gating": True},
                                            {"router_warmup_steps": 8, "router_isolation_steps": 32,
                                             "router_lr_multiplier": 10.0}),
        "center-on-on-stride8-isoall-lr10": ({"router_centering": True, "mask_protection": True,
                                              "masked_residual_gating": True},
                                             {"router_warmup_steps": 8, "router_isolation_steps": 10**9,
                                              "router_lr_multiplier": 10.0}),
        "center-on-on-stride8-iso8-paramsall-lr10": ({"router_centering": True, "mask_protection": True,
                                                      "masked_residual_gating": True},
                                                     {"router_warmup_steps": 8, "router_isolation_steps": 8,
                                                      "router_params_isolation_steps": 10**9,
                                                      "router_lr_multiplier": 10.0}),
        "center-on-on-paramsall-lr10": ({"router_centering": True, "mask_protection": True,
                                         "masked_residual_gating": True},
                                        {"router_params_isolation_steps": 10**9, "router_lr_multiplier": 10.0}),
        "center-on-on-iso8-lr10": ({"router_centering": True, "mask_protection": True, "masked_residual_gating": True},
                                   {"router_isolation_steps": 8, "router_lr_multiplier": 10.0}),
    },
    "alpha1": {
        "a1-off-off": ({"ratio_loss_weight": 1.0}, {}),
        "a1-on-on": ({"ratio_loss_weight": 1.0, "mask_protection": True, "masked_residual_gating": True}, {}),
    },
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--group", required=True, choices=sorted(VARIANTS))
    p.add_argument("--only", nargs="+", help="run only these variants of the group")
    p.add_argument("--steps", type=int, default=24)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--alpha", type=float, default=0.03, help="ratio_loss_weight unless a variant sets it")
    p.add_argument("--reliance-every", type=int, default=4)
    p.add_argument("--val-windows", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(HERE / "runs"))
    args = p.parse_args(argv)
    if not os.environ.get("PYTHONPATH"):  # a snapshot run (PYTHONPATH=a folder with a git archive of the code) imports the snapshot
        sys.path.insert(0, str(ROOT))
    from ldarnet import LDARNetConfig
    from ldarnet.training import pretrain

    for name, (fields, options) in VARIANTS[args.group].items():
        if args.only and name not in args.only:
            continue
        out = Path(args.out) / name
        if (out / "eval.json").exists():
            print(f"{name}: done already, skipped", file=sys.stderr)
            continue
        config = LDARNetConfig.preset("ldarnet-proxy", **{"ratio_loss_weight": args.alpha, **fields})
        t0 = time.time()
        summary = pretrain(config=config, fasta=[os.path.relpath(f) for f in FASTA], out=out, steps=args.steps,
                           batch_size=args.batch_size, seq_len=args.seq_len, checkpoint_every=args.steps, seed=0,
                           lr=args.lr, threads=args.threads, progress=False, val_records=VAL_RECORDS,
                           val_windows=args.val_windows, keep_checkpoints=1, reliance_every=args.reliance_every,
                           reliance_windows=4, **options)
        ev = summary["eval"]
        lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
        row = {"variant": name, "group": args.group, "config_fields": fields, "options": options,
               "alpha": config.ratio_loss_weight, "steps": args.steps, "tokens": summary["tokens"],
               "wall_s": time.time() - t0, "train_compression_per_step": [round(x["compression"][0], 2) for x in lines],
               "unmasked_compression_logged": {x["step"]: round(x["reliance"]["compression_unmasked"][0], 2)
                                               for x in lines if "reliance" in x},
               "eval": {k: ev[k] for k in ("mlm_loss", "baseline_loss", "compression", "masked_tokens")},
               "reliance": ev["reliance"]}
        with open(HERE / "summary.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        r = ev["reliance"]
        print(f"{name}: held-out MLM {ev['mlm_loss']:.4f}, chunk-path cost {r['stages'][0]['chunk_path_cost']:+.4f}, "
              f"skip cost {r['stages'][0]['skip_cost']:+.4f}, compression masked {ev['compression'][0]:.2f} "
              f"unmasked {r['compression_unmasked'][0]:.2f}, {time.time() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
