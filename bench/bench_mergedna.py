"""MergeDNA vs LDARNet, side by side in one run (issue 13's benchmark).

1. fwd+bwd throughput in bases per second at L = 4096 and L = 1024 (4,096 bases per call), for
   - ``ldarnet-proxy``: one MLM step (``model(ids, labels=labels).loss.backward()``), as in pretraining;
   - ``mergedna-proxy`` single pass: Merged Token Reconstruction at keep = 1/2
     (``model(ids, labels=ids).loss.backward()``), the architecture's own fwd+bwd;
   - ``mergedna-proxy`` objective: the three-pass pretraining step (MTR + 0.25 latent MTR + AMTM).
   Calls are interleaved model by model, ``--repeats`` times after one warm-up; medians reported.
2. peak resident memory (VmHWM) of an inference forward and of one single-pass fwd+bwd at
   L = 16,384 (batch 1), each in a fresh subprocess.

Weights are random (speed and memory do not depend on them). Run it with one thread on a shared
machine and read ``load_average`` in the JSON before comparing runs::

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_mergedna.py --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ldarnet import LDARNet, LDARNetConfig, MergeDNA, MergeDNAConfig  # noqa: E402

TOKENS_PER_CALL = 4096


def _models():
    torch.manual_seed(0)
    return LDARNet(LDARNetConfig.preset("ldarnet-proxy")).train(), MergeDNA(MergeDNAConfig.preset("mergedna-proxy")).train()


def _steps(ldarnet, mergedna, ids, labels):
    def ldarnet_mlm():
        ldarnet(ids, labels=labels).loss.backward()

    def mergedna_single():
        mergedna(ids, labels=ids).loss.backward()

    def mergedna_objective():
        mergedna(ids, labels=labels, objective=True, keep=0.5).loss.backward()

    return {"ldarnet-proxy MLM": ldarnet_mlm, "mergedna-proxy single pass (MTR)": mergedna_single,
            "mergedna-proxy objective (3 passes)": mergedna_objective}


def bench_throughput(length: int, repeats: int) -> dict:
    ldarnet, mergedna = _models()
    batch = max(1, TOKENS_PER_CALL // length)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 4, (batch, length), generator=g)
    labels = torch.where(torch.rand(batch, length, generator=g) < 0.15, ids, torch.full_like(ids, -100))
    steps = _steps(ldarnet, mergedna, ids, labels)
    times = {name: [] for name in steps}
    cpu = {name: [] for name in steps}  # process time: what the call cost this process, less load-bound than wall
    for name, step in steps.items():  # warm-up
        step()
    for _ in range(repeats):
        for name, step in steps.items():
            ldarnet.zero_grad(set_to_none=True)
            mergedna.zero_grad(set_to_none=True)
            t0, c0 = time.perf_counter(), time.process_time()
            step()
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    med = {k: statistics.median(v) for k, v in times.items()}
    bp = {k: batch * length / v for k, v in med.items()}
    ref = bp["ldarnet-proxy MLM"]
    return {"batch": batch, "length": length, "seconds": times, "median_s": med, "bp_per_s": bp,
            "ratio_to_ldarnet": {k: v / ref for k, v in bp.items()}, "cpu_seconds": cpu,
            "bp_per_cpu_s": {k: batch * length / statistics.median(v) for k, v in cpu.items()}}


# VmHWM, the high-water mark of this process's own address space (ru_maxrss carries across exec).
PEAK_CHILD = """
import sys, time, torch
torch.set_num_threads({threads})
sys.path.insert(0, {root!r})
from ldarnet import LDARNet, LDARNetConfig, MergeDNA, MergeDNAConfig
def hwm_kb():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
torch.manual_seed(0)
model = LDARNet(LDARNetConfig.preset("ldarnet-proxy")) if {kind!r} == "ldarnet" else MergeDNA(MergeDNAConfig.preset("mergedna-proxy"))
base = hwm_kb()
ids = torch.randint(0, 4, (1, {length}))
t0 = time.perf_counter()
if {mode!r} == "forward":
    model.eval()
    with torch.no_grad():
        model(ids)
else:
    model.train()
    model(ids, labels=ids).loss.backward()
print(base, hwm_kb(), time.perf_counter() - t0)
"""


def bench_peak(kind: str, mode: str, length: int, threads: int) -> dict:
    code = PEAK_CHILD.format(root=str(ROOT), kind=kind, mode=mode, length=length, threads=threads)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    base_kb, peak_kb, elapsed = res.stdout.split()
    return {"model": f"{kind}-proxy", "mode": mode, "length": length, "peak_rss_gb": int(peak_kb) / 1024**2,
            "rss_after_model_built_gb": int(base_kb) / 1024**2, "seconds": float(elapsed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lengths", type=int, nargs="+", default=[4096, 1024])
    parser.add_argument("--long-len", type=int, default=16384)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses at --long-len")
    parser.add_argument("--out", default=str(ROOT / "bench/results/mergedna.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    t0 = time.time()
    throughput = [bench_throughput(length, args.repeats) for length in args.lengths]
    peaks = [] if args.no_memory else [bench_peak(kind, mode, args.long_len, args.threads) for mode in ("forward", "fwd+bwd")
                                       for kind in ("ldarnet", "mergedna")]
    torch.manual_seed(0)
    params = {"ldarnet-proxy": LDARNet(LDARNetConfig.preset("ldarnet-proxy")).num_parameters(),
              "mergedna-proxy": MergeDNA(MergeDNAConfig.preset("mergedna-proxy")).num_parameters()}
    result = {
        "command": f"OMP_NUM_THREADS={args.threads} .venv/bin/python bench/bench_mergedna.py --threads {args.threads} "
                   f"--repeats {args.repeats} --lengths {' '.join(map(str, args.lengths))}"
                   + (" --no-memory" if args.no_memory else "")
                   + (f" --out {os.path.relpath(args.out, ROOT)}" if Path(args.out).resolve() != ROOT / "bench/results/mergedna.json" else ""),
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                    "torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()},
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "wall_s": time.time() - t0, "parameters": params,
        "throughput": throughput, "peak_memory": peaks,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"bp_per_s": {t["length"]: t["bp_per_s"] for t in throughput},
                      "peak_rss_gb": {f"{p['model']} {p['mode']}": p["peak_rss_gb"] for p in peaks},
                      "load_average": [load_before, result["load_average_after"]]}, indent=1))


if __name__ == "__main__":
    main()
