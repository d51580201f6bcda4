"""Pretraining throughput of ldarnet-proxy at L = 1024: fp32 vs bf16 autocast, interleaved in one process.

One timed unit is a full optimiser step of the real loop's kind: ``--micro-batches`` forward+backward
passes of ``--micro-batch`` x ``--seq-len`` real windows (MLM-masked, from the bundled ``data/``
slices or ``--fasta``), gradient clipping at 1.0 and an AdamW step with the stage-wise LR groups.
fp32 and bf16 steps alternate, so both see the same machine load; medians are reported.

An untrained learned router's boundary rate is arbitrary (1 per 1024 bp on one seed, 1 per 2 on
another), so by default the router is ``fixed`` at N = 4: the same code at the target compression.
``--checkpoint DIR`` times a trained model (its learned router) instead.

Besides wall-clock bp/s the script records the process CPU time per step (bp per CPU-second) and
the load average, because on a shared machine wall-clock time mostly measures the neighbours.

    python bench/bench_pretrain.py                       # writes bench/results/bench_pretrain.json
    python bench/bench_pretrain.py --checkpoint checkpoints/ldarnet-proxy-multispecies --repeats 5

On a busy 2-core machine, ``--threads 1`` is the faster setting (two OpenMP threads fighting the
neighbours for two cores lose more than they gain).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ldarnet import LDARNet, LDARNetConfig  # noqa: E402
from ldarnet.data import WindowCorpus  # noqa: E402
from ldarnet.training import build_optimizer  # noqa: E402

DEFAULT_FASTA = [ROOT / "data" / "athal_chr1_1000000_1200000.fa", ROOT / "data" / "scer_chrI.fa",
                 ROOT / "data" / "celegans_chrX_5000000_5200000.fa"]


def one_step(model, optimizer, batches, autocast) -> tuple[float, float, list[float]]:
    """(wall s, process CPU s, compression per stage) of one optimiser step over ``batches``."""
    wall, cpu = time.perf_counter(), time.process_time()
    stage_sums = None
    for inputs, labels in batches:
        with autocast:
            out = model(inputs, labels=labels)
        (out.loss / len(batches)).backward()
        sums = [float(inputs.numel())] + [float(b.lengths.sum()) for b in out.boundaries]
        stage_sums = sums if stage_sums is None else [a + b for a, b in zip(stage_sums, sums)]
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    if model.parameters().__next__().device.type == "cuda":
        torch.cuda.synchronize()
    compression = [stage_sums[s] / stage_sums[s + 1] for s in range(len(stage_sums) - 1)]
    return time.perf_counter() - wall, time.process_time() - cpu, compression


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seq-len", type=int, default=1024)
    p.add_argument("--micro-batch", type=int, default=4)
    p.add_argument("--micro-batches", type=int, default=2, help="micro-batches per optimiser step")
    p.add_argument("--repeats", type=int, default=3, help="timed steps per precision (after one warm-up each)")
    p.add_argument("--checkpoint", help="time this trained model (learned router) instead of a fixed-N=4 proxy")
    p.add_argument("--fasta", nargs="+", default=[str(f) for f in DEFAULT_FASTA])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "bench_pretrain.json"))
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    if args.checkpoint:
        model = LDARNet.from_pretrained(args.checkpoint)
        variant = f"checkpoint {args.checkpoint} (learned router)"
    else:
        model = LDARNet(LDARNetConfig.preset("ldarnet-proxy", router=["fixed"], target_ratio=[4]))
        variant = "ldarnet-proxy, router fixed N=4 (untrained)"
    model.to(device).train()
    optimizer = build_optimizer(model, lr=1e-4)
    corpus = WindowCorpus(args.fasta, window_length=args.seq_len, seed=0, quiet=True)
    batches = [tuple(t.to(device) for t in corpus.batch(range(i * args.micro_batch, (i + 1) * args.micro_batch)))
               for i in range(args.micro_batches)]
    modes = {"fp32": contextlib.nullcontext, "bf16": lambda: torch.autocast(device.type, dtype=torch.bfloat16)}
    bp = args.micro_batch * args.micro_batches * args.seq_len
    runs = {m: [] for m in modes}
    load_before = os.getloadavg()
    for mode, make in modes.items():  # warm-up
        one_step(model, optimizer, batches, make())
    for r in range(args.repeats):
        for mode, make in modes.items():
            wall, cpu, comp = one_step(model, optimizer, batches, make())
            runs[mode].append({"wall_s": wall, "cpu_s": cpu, "compression": comp})
            print(f"repeat {r} {mode}: {wall:.2f} s wall, {cpu:.2f} s CPU, {bp / wall:.0f} bp/s", file=sys.stderr)
    result = {
        "what": "pretraining optimiser steps (fwd+bwd per micro-batch, clip, AdamW), fp32 vs bf16 autocast, interleaved",
        "variant": variant, "parameters": model.num_parameters(), "seq_len": args.seq_len,
        "micro_batch": args.micro_batch, "micro_batches_per_step": args.micro_batches, "bp_per_step": bp,
        "repeats": args.repeats, "device": str(device), "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "machine": platform.processor() or platform.machine(),
        # bf16 autocast is only fast with native bf16 instructions (AVX512_BF16 / AMX); on AVX2 it is emulated
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    for mode in modes:
        walls = [x["wall_s"] for x in runs[mode]]
        cpus = [x["cpu_s"] for x in runs[mode]]
        result[mode] = {"steps": runs[mode], "median_wall_s": statistics.median(walls),
                        "bp_per_s": bp / statistics.median(walls), "bp_per_cpu_s": bp / statistics.median(cpus)}
    result["bf16_over_fp32_wall"] = result["bf16"]["bp_per_s"] / result["fp32"]["bp_per_s"]
    result["targets"] = {"fp32_bp_per_s": 5000, "bf16_bp_per_s": 7000,
                         "fp32_met": result["fp32"]["bp_per_s"] >= 5000, "bf16_met": result["bf16"]["bp_per_s"] >= 7000}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    os.replace(tmp, out)
    print(json.dumps({k: result[k] for k in ("variant", "bf16_over_fp32_wall", "targets")}
                     | {m: {k: result[m][k] for k in ("bp_per_s", "bp_per_cpu_s")} for m in modes}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
