"""Pretraining throughput of ldarnet-proxy at L = 1024: fp32 eager, bf16 autocast and bf16 + torch.compile, side by side.

One timed unit is a full optimiser step of the real loop's kind: ``--micro-batches`` forward+backward
passes of ``--micro-batch`` x ``--seq-len`` real windows (MLM-masked, from the bundled ``data/``
slices or ``--fasta``), gradient clipping at 1.0 and an AdamW step with the stage-wise LR groups.
The modes alternate step by step on the same weights, so all see the same machine load; medians are
reported. ``bf16+compile`` runs ``torch.compile`` of the whole model under bf16 autocast; its first
step (tracing + Inductor code generation + one step) is reported separately as ``compile_s``, and
the dynamo graph breaks it met are counted. Defaults follow issue 11: micro-batches of 8 x 1024 =
8k tokens, 2 accumulated per step, 2 threads.

An untrained learned router's boundary rate is arbitrary (1 per 1024 bp on one seed, 1 per 2 on
another), so by default the router is ``fixed`` at N = 4: the same code at the target compression.
``--checkpoint DIR`` times a trained model (its learned router) instead.

Besides wall-clock bp/s the script records the process CPU time per step (bp per CPU-second), the
load average, and the CPU's flags: bf16 autocast is fast only with native bf16 instructions
(AVX512_BF16 or AMX); on an AVX2-only CPU bf16 is emulated and slower than fp32.

    python bench/bench_pretrain.py                       # writes bench/results/bench_pretrain.json
    python bench/bench_pretrain.py --modes fp32 bf16     # no compile (it costs minutes)
    python bench/bench_pretrain.py --checkpoint checkpoints/ldarnet-proxy-multispecies --repeats 5
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

from ldarnet import LDARNet, LDARNetConfig, atomic_write_json  # noqa: E402
from ldarnet.data import WindowCorpus  # noqa: E402
from ldarnet.training import build_optimizer  # noqa: E402

TARGETS = {"fp32": 5000, "bf16+compile": 10000}  # bp/s (issue 11); bf16+compile only where bf16 is native

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


def cpu_flags() -> list[str]:
    """The SIMD flags that decide CPU matmul speed (from /proc/cpuinfo; empty where it does not exist)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return sorted(f for f in set(flags) if f.startswith(("avx", "amx", "fma", "sse4")))


def native_bf16() -> bool:
    flags = set(cpu_flags())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def write_result(path: str, header: dict, runs: dict, first_step: dict, counters, bp: int, complete: bool) -> None:
    """Medians so far -> JSON at ``path`` (atomic). ``complete`` is False while steps are still to come."""
    result = {**header, "load_average_after": os.getloadavg(), "complete": complete}
    for mode, steps in runs.items():
        entry = {"first_step_s": first_step.get(mode, {}).get("wall_s"),
                 "first_step_cpu_s": first_step.get(mode, {}).get("cpu_s"), "steps": steps}
        if steps:
            wall = statistics.median(x["wall_s"] for x in steps)
            cpu = statistics.median(x["cpu_s"] for x in steps)
            entry.update(median_wall_s=wall, bp_per_s=bp / wall, bp_per_cpu_s=bp / cpu)
            if mode.endswith("+compile") and entry["first_step_s"] is not None:
                # the first compiled step = tracing + code generation + one step; the step itself is subtracted
                entry["compile_s"] = entry["first_step_s"] - wall
        result[mode] = entry
    if counters is not None:
        result["dynamo_graph_breaks"] = {str(k): int(v) for k, v in counters["graph_break"].items()}
    timed = [m for m in runs if runs[m]]
    if "fp32" in timed:
        result["speed_over_fp32_wall"] = {m: result[m]["bp_per_s"] / result["fp32"]["bp_per_s"] for m in timed}
        result["speed_over_fp32_cpu"] = {m: result[m]["bp_per_cpu_s"] / result["fp32"]["bp_per_cpu_s"] for m in timed}
    else:
        result["speed_over_fp32_wall"] = {}
    result["targets"] = {f"{m}_bp_per_s": t for m, t in TARGETS.items()}
    result["targets"].update({f"{m}_met": result[m]["bp_per_s"] >= t for m, t in TARGETS.items() if m in timed})
    if not header["native_bf16"]:
        result["targets"]["note"] = "no native bf16 on this CPU: the bf16+compile target does not apply here"
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, result, indent=1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seq-len", type=int, default=1024)
    p.add_argument("--micro-batch", type=int, default=8)
    p.add_argument("--micro-batches", type=int, default=2, help="micro-batches per optimiser step")
    p.add_argument("--repeats", type=int, default=3, help="timed steps per precision (after one warm-up each)")
    p.add_argument("--checkpoint", help="time this trained model (learned router) instead of a fixed-N=4 proxy")
    p.add_argument("--fasta", nargs="+", default=[str(f) for f in DEFAULT_FASTA])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--modes", nargs="+", default=["fp32", "bf16", "bf16+compile"],
                   choices=["fp32", "bf16", "fp32+compile", "bf16+compile"])
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
    bf16 = lambda: torch.autocast(device.type, dtype=torch.bfloat16)  # noqa: E731
    compiled = torch.compile(model) if any(m.endswith("+compile") for m in args.modes) else None
    setups = {"fp32": (model, contextlib.nullcontext), "bf16": (model, bf16),
              "fp32+compile": (compiled, contextlib.nullcontext), "bf16+compile": (compiled, bf16)}
    modes = {m: setups[m] for m in args.modes}
    bp = args.micro_batch * args.micro_batches * args.seq_len
    runs = {m: [] for m in modes}
    first_step = {}
    header = {
        "what": "pretraining optimiser steps (fwd+bwd per micro-batch, clip, AdamW), modes interleaved step by step",
        "variant": variant, "parameters": model.num_parameters(), "seq_len": args.seq_len,
        "micro_batch": args.micro_batch, "micro_batches_per_step": args.micro_batches, "bp_per_step": bp,
        "repeats": args.repeats, "device": str(device), "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "machine": platform.processor() or platform.machine(),
        # bf16 autocast is only fast with native bf16 instructions (AVX512_BF16 / AMX); on AVX2 it is emulated
        "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cpu_flags": cpu_flags(),
        "native_bf16": native_bf16(), "load_average_before": os.getloadavg(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    from torch._dynamo.utils import counters
    for mode, (net, make) in modes.items():  # warm-up; for a compiled mode this is the compile
        wall, cpu, _ = one_step(net, optimizer, batches, make())
        first_step[mode] = {"wall_s": wall, "cpu_s": cpu}
        print(f"warm-up {mode}: {wall:.1f} s wall, {cpu:.1f} s CPU", file=sys.stderr)
        write_result(args.out, header, runs, first_step, counters if compiled is not None else None, bp, False)
    for r in range(args.repeats):
        for mode, (net, make) in modes.items():
            wall, cpu, comp = one_step(net, optimizer, batches, make())
            runs[mode].append({"wall_s": wall, "cpu_s": cpu, "compression": comp})
            print(f"repeat {r} {mode}: {wall:.2f} s wall, {cpu:.2f} s CPU, {bp / wall:.0f} bp/s", file=sys.stderr)
            # written after every step, so a run cut short by a time limit still leaves its numbers
            write_result(args.out, header, runs, first_step, counters if compiled is not None else None, bp,
                         r == args.repeats - 1 and mode == list(modes)[-1])
    result = json.loads(Path(args.out).read_text())
    print(json.dumps({k: result[k] for k in ("variant", "speed_over_fp32_wall", "targets")}
                     | {m: {k: result[m][k] for k in ("bp_per_s", "bp_per_cpu_s")} for m in modes}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
