"""Model-core benchmark (issue: model core). Writes bench/results/model.json.

Measures, side by side in one process so machine noise hits both sides alike:
1. chunked SSD vs the sequential reference, forward + backward, B=2, L=4096 (target >= 50x);
2. ldarnet-proxy with the fixed router at N=4 vs router "none", forward + backward, B=2, L=4096,
   interleaved runs, medians (target >= 1.8x);
3. peak resident memory of an ldarnet-proxy forward at L=65,536 (target <= 2 GB), in a fresh
   subprocess so nothing else in this process inflates the peak.

Usage: python bench/bench_model.py [--repeats 5] [--seq-len 4096] [--long-len 65536] [--out bench/results/model.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ldarnet import LDARNet, LDARNetConfig  # noqa: E402
from ldarnet.layers.scan import ssd_chunked, ssd_sequential  # noqa: E402


def _time(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def bench_ssd(length: int, repeats: int, chunk_sizes=(32, 64)) -> dict:
    """Chunked vs sequential SSD, forward + backward, at each chunk size (the proxy preset uses 64)."""
    torch.manual_seed(0)
    b, h, p, n = 2, 8, 32, 32  # an ldarnet-proxy-like mixer: d_inner 256 = 8 heads x 32
    x = torch.randn(b, length, h, p, requires_grad=True)
    dt = torch.nn.functional.softplus(torch.randn(b, length, h)).requires_grad_(True)
    A = -torch.rand(h) * 8
    B = torch.randn(b, length, n, requires_grad=True)
    C = torch.randn(b, length, n, requires_grad=True)

    def step(fn):
        def run():
            fn(x, dt, A, B, C).square().mean().backward()
        return run

    chunked = {q: step(lambda *a, q=q: ssd_chunked(*a, chunk_size=q)) for q in chunk_sizes}
    for run in chunked.values():
        run()  # warm-up
    t_chunked = {q: [] for q in chunk_sizes}
    t_seq = []
    for _ in range(max(1, repeats // 2)):  # interleaved: each sequential run sits between chunked ones
        for q, run in chunked.items():
            t_chunked[q] += _time(run, 2)
        t_seq += _time(step(ssd_sequential), 1)
    speedup = {q: statistics.median(t_seq) / statistics.median(t) for q, t in t_chunked.items()}
    return {"shape": dict(batch=b, length=length, heads=h, headdim=p, d_state=n),
            "chunked_s": {str(q): t for q, t in t_chunked.items()}, "sequential_s": t_seq,
            "speedup": {str(q): v for q, v in speedup.items()}, "target": 50.0}


def bench_compression(length: int, repeats: int) -> dict:
    torch.manual_seed(0)
    models = {name: LDARNet(LDARNetConfig.preset("ldarnet-proxy", router=name, target_ratio=4 if name == "fixed" else 4.0))
              for name in ("fixed", "none")}
    ids = torch.randint(0, 4, (2, length))
    labels = ids.clone()

    def step(model):
        def run():
            model.zero_grad(set_to_none=True)
            model(ids, labels=labels).loss.backward()
        return run

    times = {name: [] for name in models}
    for name, model in models.items():
        step(model)()  # warm-up
    for _ in range(repeats):  # interleaved
        for name, model in models.items():
            times[name] += _time(step(model), 1)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"shape": dict(batch=2, length=length), "seconds": times, "median_s": med,
            "bp_per_s": {k: 2 * length / v for k, v in med.items()},
            "realised_compression_fixed": 4.0,
            "speedup_fixed4_over_none": med["none"] / med["fixed"], "target": 1.8}


# Peak memory is VmHWM, the high-water mark of this process's own address space. (ru_maxrss would
# not do: Linux carries it across exec, so a child of a large parent starts with the parent's peak.)
LONG_CHILD = """
import sys, time, torch
sys.path.insert(0, {root!r})
from ldarnet import LDARNet, LDARNetConfig
def hwm_kb():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
base = hwm_kb()
model = LDARNet(LDARNetConfig.preset("ldarnet-proxy", router="fixed", target_ratio=4)).eval()
ids = torch.randint(0, 4, (1, {length}))
t0 = time.perf_counter()
with torch.no_grad():
    out = model(ids)
elapsed = time.perf_counter() - t0
peak = hwm_kb()
print(base, peak, elapsed, int(out.boundaries[0].lengths[0]))
"""


def bench_long(length: int) -> dict:
    code = LONG_CHILD.format(root=str(ROOT), length=length)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    base_kb, peak_kb, elapsed, chunks = res.stdout.split()
    return {"length": length, "router": "fixed N=4", "peak_rss_gb": int(peak_kb) / 1024**2,
            "rss_before_model_gb": int(base_kb) / 1024**2, "forward_s": float(elapsed),
            "chunks": int(chunks), "target_peak_gb": 2.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seq-len", type=int, default=4096)
    parser.add_argument("--long-len", type=int, default=65536)
    parser.add_argument("--out", default=str(ROOT / "bench/results/model.json"))
    args = parser.parse_args()
    result = {
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                    "torch": torch.__version__},
        "ssd": bench_ssd(args.seq_len, args.repeats),
        "compression": bench_compression(args.seq_len, args.repeats),
        "long_forward": bench_long(args.long_len),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"ssd_speedup_by_chunk_size": result["ssd"]["speedup"],
                      "fixed4_over_none": result["compression"]["speedup_fixed4_over_none"],
                      "peak_rss_gb_65k": result["long_forward"]["peak_rss_gb"],
                      "forward_s_65k": result["long_forward"]["forward_s"]}, indent=2))


if __name__ == "__main__":
    main()
