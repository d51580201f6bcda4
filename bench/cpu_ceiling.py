"""How fast boundary extraction could possibly run on this CPU: counted FLOPs per base over measured GEMM peak.

    .venv/bin/python bench/cpu_ceiling.py --threads 2      # writes bench/results/cpu_ceiling.json

Issue 10 sets extraction with the 120m shapes >= 3,000 bp/s fp32 on 2 cores; issue 15 sets
``ldarnet-proxy`` >= 30,000 bp/s, after a prototype measured 27-36k bp/s for the model alone on
"this kind of CPU". This bench asks whether either target is reachable on the machine at hand,
with four measurements in one run on the same threads, taken on the code and the machine rather
than from a formula:

- ``counted_flops_per_base``: the matrix-multiply FLOPs one ``extract_boundaries`` call executes,
  counted by ``torch.utils.flop_counter.FlopCounterMode`` on the model's own forward. Attention runs
  through the math SDPA backend while counting where it goes through ``F.scaled_dot_product_attention``;
  the CPU flash kernel that ``LocalAttention`` calls directly without autograd has no FLOP formula in
  torch and gets one here. The count includes the masked-out keys of each query block, which the
  flash kernel computes too.
  The SSD's in-place ``baddbmm_`` (chunk-state carry) also has no formula in torch and gets one here.
  Elementwise work (exp, SiLU, norms) is not counted: it is memory-bound, so leaving it out makes the
  ceiling an upper bound.
- ``gemm_peak``: the best fp32 ``torch.mm`` rate over the GEMM shapes the model's projections use, at
  the bench's thread count.
- ``calibration``: the prototype's own calibration workload (``../shared/notes/environment.md`` §7:
  ``Linear(128, 512) -> ReLU -> Linear(512, 128)`` on ``(8, 1024, 128)``, mean-square loss, SGD,
  20 steps after 3 warm-ups; 110-135 GFLOP/s on 2 threads of the AVX-512 host the prototype's
  27-36k bp/s came from). The same work here gives the speed ratio between the two machines.
- the measured extraction rate of both presets (random weights, one sequence of ``--length``), and
  where its time goes (``time_split``: the share in matrix products and their rate, the rest);
  ``--compile`` adds ``torch.compile`` of the same call, its compile time and its rate.

``ceiling_bp_per_s = peak / flops_per_base`` is then the rate extraction could not beat even if every
other op were free and every matmul ran at the best GEMM rate. If a target lies above it, no change
to the implementation meets it on this machine in fp32.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
PROTOTYPE_HOST = {"calibration_gflops": [110, 135], "extraction_bp_per_s_proxy_b1": 27_000,
                  "source": "../shared/notes/environment.md §7 and cpu-calibration.md §2.4 (AVX-512 + AVX512_BF16 host)"}
TARGETS = {"ldarnet-120m": 3_000, "ldarnet-proxy": 30_000}


def _baddbmm_flop(self_shape, a_shape, b_shape, *args, out_shape=None, **kwargs) -> int:
    batch, m, k = a_shape
    return 2 * batch * m * k * b_shape[-1]


def _flash_cpu_flop(q_shape, k_shape, v_shape, *args, out_shape=None, **kwargs) -> int:
    """Q.K^T and P.V of the CPU flash kernel, which LocalAttention calls directly without autograd."""
    batch, heads, queries, head_dim = q_shape
    return 4 * batch * heads * queries * k_shape[-2] * head_dim


def counted_flops_per_base(model: torch.nn.Module, length: int = 4096) -> dict:
    """Matmul FLOPs per base of ``model.extract_boundaries`` on one random sequence of ``length``."""
    ids = torch.randint(0, 4, (1, length), generator=torch.Generator().manual_seed(0))
    counter = FlopCounterMode(display=False, custom_mapping={
        torch.ops.aten.baddbmm_: _baddbmm_flop, torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _flash_cpu_flop})
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), counter:
        model.extract_boundaries(ids)
    by_op = {str(op): count / length for op, count in counter.get_flop_counts().get("Global", {}).items()}
    return {"length": length, "flops_per_base": counter.get_total_flops() / length, "by_op": by_op}


def gemm_peak(shapes: list[tuple[int, int, int]], repeats: int = 5) -> dict:
    """Best fp32 GFLOP/s of ``(m, k) @ (k, n)`` over ``shapes`` (each timed ``repeats`` times after a warm-up)."""
    rates = {}
    for m, k, n in shapes:
        a, b = torch.randn(m, k), torch.randn(k, n)
        torch.mm(a, b)
        best = math.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - t0)
        rates[f"{m}x{k}x{n}"] = 2 * m * k * n / best / 1e9
    return {"threads": torch.get_num_threads(), "gflops_by_shape": rates, "peak_gflops": max(rates.values())}


def ceiling(model: torch.nn.Module, d_model: int, d_inner: int, proj_out: int, length: int = 4096) -> dict:
    """Counted FLOPs, GEMM peak at the model's projection shapes, and the bp/s neither lets extraction exceed."""
    flops = counted_flops_per_base(model, length)
    peak = gemm_peak([(length, d_model, proj_out), (length, d_inner, d_model), (length, d_model, 3 * d_model)])
    return {**flops, "gemm": peak, "ceiling_bp_per_s": peak["peak_gflops"] * 1e9 / flops["flops_per_base"]}


def calibration(steps: int = 20, warmup: int = 3) -> dict:
    """GFLOP/s of the prototype host's calibration workload (fwd + bwd + SGD of a 2-layer MLP), median step."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(128, 512), torch.nn.ReLU(), torch.nn.Linear(512, 128))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    x = torch.randn(8, 1024, 128)
    times = []
    for step in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
        if step >= warmup:
            times.append(time.perf_counter() - t0)
    flops = 3 * 2 * (8 * 1024) * (128 * 512 * 2)  # forward + two backward matmuls per layer
    median = statistics.median(times)
    return {"median_step_s": median, "gflops": flops / median / 1e9, "flops_per_step": flops}


def machine_speed() -> dict:
    """``calibration()`` with this machine's speed relative to the prototype host (1 = as fast), for other benches'
    records: the same shared machine has run the same code at half speed on one day and full speed on another."""
    measured = calibration()
    return {**measured, "vs_prototype_host": [round(measured["gflops"] / g, 2) for g in PROTOTYPE_HOST["calibration_gflops"]],
            "prototype_host_gflops": PROTOTYPE_HOST["calibration_gflops"]}


def extraction_rate(model: torch.nn.Module, length: int, repeats: int = 3) -> dict:
    """bp/s of ``extract_boundaries`` on one random sequence (median of ``repeats`` after a warm-up)."""
    ids = torch.randint(0, 4, (1, length), generator=torch.Generator().manual_seed(1))
    times = []
    with torch.no_grad():
        model.extract_boundaries(ids[:, :512])
        for _ in range(repeats):
            t0 = time.perf_counter()
            model.extract_boundaries(ids)
            times.append(time.perf_counter() - t0)
    return {"seconds": times, "bp_per_s": length / statistics.median(times)}


def compiled_extraction(model: torch.nn.Module, length: int) -> dict:
    """``torch.compile`` of ``extract_boundaries``: compile seconds, eager and compiled bp/s, max |dp|."""
    ids = torch.randint(0, 4, (1, length), generator=torch.Generator().manual_seed(2))
    eager = extraction_rate(model, length)
    compiled = torch.compile(model.extract_boundaries, dynamic=False)
    with torch.no_grad():
        t0 = time.perf_counter()
        out = compiled(ids)
        compile_s = time.perf_counter() - t0
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            compiled(ids)
            times.append(time.perf_counter() - t0)
        ref = model.extract_boundaries(ids)
    diff = max((a.boundary_prob - b.boundary_prob).abs().max().item() for a, b in zip(out, ref))
    rate = length / statistics.median(times)
    return {"compile_and_first_call_s": compile_s, "eager_bp_per_s": eager["bp_per_s"], "compiled_bp_per_s": rate,
            "speedup": rate / eager["bp_per_s"], "max_abs_diff_boundary_prob": diff}


MATMUL_OPS = ("aten::mm", "aten::bmm", "aten::baddbmm_", "aten::addmm", "aten::_scaled_dot_product_flash_attention_for_cpu")


def time_split(model: torch.nn.Module, length: int, matmul_flops_per_base: float) -> dict:
    """Where one ``extract_boundaries`` call spends its time (torch.profiler, self CPU time): the share
    in matrix products (the ops of ``MATMUL_OPS``) and their rate, against everything else."""
    from torch.profiler import profile

    ids = torch.randint(0, 4, (1, length), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        model.extract_boundaries(ids[:, :512])
        with profile() as prof:
            model.extract_boundaries(ids)
    self_us = {e.key: e.self_cpu_time_total for e in prof.key_averages()}
    total, matmul = sum(self_us.values()), sum(self_us.get(op, 0.0) for op in MATMUL_OPS)
    return {"matmul_share": matmul / total, "other_share": 1 - matmul / total,
            "matmul_gflops": matmul_flops_per_base * length / (matmul / 1e6) / 1e9,
            "largest_other_ops": sorted(((k, v / total) for k, v in self_us.items() if k not in MATMUL_OPS),
                                        key=lambda kv: -kv[1])[:8]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--length", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="also torch.compile each preset's extraction (minutes)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "cpu_ceiling.json"))
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from ldarnet import LDARNet, LDARNetConfig, atomic_write_json
    from ldarnet.layers import BiMamba2

    torch.set_num_threads(args.threads)
    flags = sorted({f for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")
                    for f in line.split(":", 1)[1].split() if f.startswith(("avx512", "amx", "avx2", "fma"))})
    record = {"command": " ".join(["python", *sys.argv]), "threads": args.threads, "cpu_count": os.cpu_count(),
              "simd_flags": flags, "torch": torch.__version__, "load_average_before": os.getloadavg(),
              "prototype_host": PROTOTYPE_HOST, "presets": {}}
    speed = machine_speed()
    record["calibration"] = {k: speed[k] for k in ("median_step_s", "gflops", "flops_per_step")}
    record["machine_speed_vs_prototype_host"] = speed["vs_prototype_host"]
    for name, target in TARGETS.items():
        torch.manual_seed(0)
        model = LDARNet(LDARNetConfig.preset(name)).eval()
        mixer = next(m for m in model.modules() if isinstance(m, BiMamba2))
        bound = ceiling(model, mixer.in_proj.in_features, mixer.d_inner, mixer.in_proj.out_features, args.length)
        measured = extraction_rate(model, args.length, args.repeats)
        record["presets"][name] = {**bound, "extraction": measured, "target_bp_per_s": target,
                                   "fraction_of_ceiling": measured["bp_per_s"] / bound["ceiling_bp_per_s"],
                                   "target_above_ceiling": target > bound["ceiling_bp_per_s"],
                                   "target_met": measured["bp_per_s"] >= target}
        record["presets"][name]["time_split"] = time_split(model, args.length, bound["flops_per_base"])
        if args.compile:
            record["presets"][name]["compile"] = compiled_extraction(model, args.length)
    record["load_average_after"] = os.getloadavg()
    atomic_write_json(args.out, record, indent=1)
    print(json.dumps({name: {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()
                             if k in ("flops_per_base", "ceiling_bp_per_s", "fraction_of_ceiling", "target_above_ceiling")}
                      | {"measured_bp_per_s": round(r["extraction"]["bp_per_s"])} for name, r in record["presets"].items()}
                     | {"calibration_gflops": round(record["calibration"]["gflops"], 1),
                        "vs_prototype_host": record["machine_speed_vs_prototype_host"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
