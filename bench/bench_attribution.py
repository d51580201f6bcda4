"""Benchmark: boundary attribution and variant effects with the shipped proxy on CPU, with model-call counts.

1. Attribution of one boundary (the strongest chunk start of a real Arabidopsis window): every
   substitution within ±50 bp (303 edits), batched (tangermeme, no-op edits skipped). Side by side
   on the same 33 edits of ±5 bp: one edit per call vs batched, to show what batching saves.
2. Variant effects of N random SNVs (default 1,000) in the same slice: reference and alternative
   windows batched by length.

    OMP_NUM_THREADS=2 .venv/bin/python bench/bench_attribution.py               # defaults
    OMP_NUM_THREADS=2 .venv/bin/python bench/bench_attribution.py --n-snvs 200  # quicker

Writes ``bench/results/attribution.json`` (wall and CPU seconds, calls, load averages). On a shared
machine wall time grows with the load; CPU seconds are the steadier figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ldarnet import LDARNet  # noqa: E402
from ldarnet.genome import open_fasta, sequence_source  # noqa: E402
from ldarviz import boundary_attribution, extract_boundaries, variant_boundary_effects  # noqa: E402

CHECKPOINT = ROOT / "checkpoints" / "ldarnet-proxy-multispecies"
FASTA = ROOT / "data" / "athal_chr1_1000000_1200000.fa"


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, round(time.perf_counter() - wall, 3), round(time.process_time() - cpu, 3)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--flank", type=int, default=50)
    parser.add_argument("--context", type=int, default=128, help="bases the model reads beyond the edited span / flank")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--n-snvs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "attribution.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = LDARNet.from_pretrained(CHECKPOINT).eval()
    lengths, fetch = sequence_source(open_fasta(FASTA))
    record = next(iter(lengths))
    locus_start = 50_000
    sequence = fetch(record, locus_start, locus_start + 1000)
    probs = extract_boundaries(model, {"locus": sequence})["locus"].astype(np.float32)
    target = int(np.argmax(np.where((np.arange(1000) > 300) & (np.arange(1000) < 700), probs, -1)))
    result = {"checkpoint": str(CHECKPOINT.relative_to(ROOT)), "fasta": str(FASTA.relative_to(ROOT)),
              "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
              "load_before": os.getloadavg()}

    attr, wall, cpu = timed(lambda: boundary_attribution(model, sequence, [target], flank=args.flank,
                                                         context=args.context, batch_size=args.batch_size))
    naive_calls = 1 + 4 * (2 * args.flank + 1)  # one call per substitution, no-ops included
    result["attribution"] = {
        "target": locus_start + target, "p": float(attr.reference[0]), "flank": args.flank, "context": args.context,
        "input_bases": 2 * args.flank + 1 + 2 * args.context, "edits": attr.n_edits, "batch_size": args.batch_size,
        "model_calls": attr.model_calls, "calls_one_per_substitution_with_noops": naive_calls,
        "wall_s": wall, "cpu_s": cpu,
        "top_bases": [int(locus_start + target + o) for o in attr.offsets[np.argsort(-np.nan_to_num(attr.importance("mean")[0]))[:5]]],
    }
    small = {}
    for batch in (1, args.batch_size):  # the same 33 edits, one per call and batched, back to back
        a, w, c = timed(lambda: boundary_attribution(model, sequence, [target], flank=5, context=args.context, batch_size=batch))
        small[f"batch_{batch}"] = {"model_calls": a.model_calls, "wall_s": w, "cpu_s": c}
        small[f"delta_{batch}"] = a.delta
    result["batching_side_by_side"] = {
        "edits": 33, **{k: v for k, v in small.items() if not k.startswith("delta")},
        "max_abs_difference": float(np.nanmax(np.abs(small["delta_1"] - small[f"delta_{args.batch_size}"]))),
        "speedup_wall": round(small["batch_1"]["wall_s"] / small[f"batch_{args.batch_size}"]["wall_s"], 2),
    }

    rng = np.random.default_rng(args.seed)
    n = lengths[record]
    positions = np.sort(rng.choice(np.arange(200, n - 200), size=args.n_snvs, replace=False))
    refs = [fetch(record, int(p), int(p) + 1) for p in positions]
    keep = [k for k, r in enumerate(refs) if r in "ACGT"]
    alts = ["ACGT".replace(refs[k], "")[rng.integers(3)] for k in keep]
    variants = pd.DataFrame({"chrom": record, "pos": positions[keep], "ref": [refs[k] for k in keep], "alt": alts})
    effects, wall, cpu = timed(lambda: variant_boundary_effects(model, FASTA, variants, flank=args.flank,
                                                                context=args.context, batch_size=args.batch_size))
    table = effects.table
    result["variant_effects"] = {
        "snvs": len(variants), "flank": args.flank, "context": args.context, "window_bases": 2 * args.flank + 1 + 2 * args.context,
        "batch_size": args.batch_size, "model_calls": effects.model_calls, "calls_one_per_window": 2 * len(variants),
        "wall_s": wall, "cpu_s": cpu, "wall_s_per_1000": round(wall * 1000 / len(variants), 2),
        "snvs_changing_a_boundary": int(((table["n_gained"] + table["n_lost"]) > 0).sum()),
        "median_max_abs_delta": float(table["max_abs_delta"].median()),
        "max_max_abs_delta": float(table["max_abs_delta"].max()),
    }
    result["load_after"] = os.getloadavg()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, out)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
