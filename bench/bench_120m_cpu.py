"""The paper's 110M model shapes on a CPU (issue 10): boundary extraction and full forward speed, peak memory.

Uses the ``ldarnet-120m`` preset (the released model's shapes) with random weights, so no download
is needed; speed and memory depend on shapes only, not on the weight values, except for one thing:
the backbone runs on the chunks the router keeps, and a random router keeps far more than the
trained model's 1 in 4. The full forward therefore uses the fixed router at N = 4 (the same shapes
the trained model runs at compression 4; the router's own cost is that of the learned one, which is
timed in the extraction). Extraction runs embedding + encoder + learned router only, as
``ldarnet boundaries`` does.

Measured side by side in one process: extraction and full forward in bp/s at L = 4096 (batch 1),
fp32 and bf16 autocast, interleaved runs (medians when --repeats > 1), after a
warm-up on 512 bases. Peak memory (VmHWM) of a no-grad fp32 forward at
L = 4096 and L = 65,536 in fresh subprocesses. Records the CPU's SIMD flags (bf16 is native only
with AVX512_BF16 or AMX; otherwise autocast emulates it) and the load average before and after,
since the machine may be shared.

Before/after side by side (``--baseline-src``): extraction (fp32, no grad) of the 120m and proxy
presets timed in fresh subprocesses, alternating between this tree and an older copy of the
package, e.g. the commit before the CPU speed work:

    mkdir -p /tmp/ldar_before && git archive a96aac3 ldarnet | tar -x -C /tmp/ldar_before

Each arm reports wall bp/s and bp per CPU-second (process_time over all threads: what the run
costs on idle cores, the fairer figure on a shared machine) and the load average around it.

Targets: extraction >= 3,000 bp/s fp32 on 2 threads; L = 65,536 forward <= 8 GB.

Usage: python bench/bench_120m_cpu.py [--threads 2] [--repeats 3] [--baseline-src /tmp/ldar_before]
       [--rounds 2] [--precisions fp32] [--peak-lens 4096 65536] [--out bench/results/bench_120m_cpu.json]
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

from ldarnet import LDARNet, LDARNetConfig  # noqa: E402

from bench.cpu_ceiling import machine_speed  # noqa: E402

TARGETS = {"extraction_fp32_bp_per_s": 3000, "peak_gb_65536": 8.0}


def cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return sorted(f for f in set(flags) if f.startswith(("avx", "amx", "fma")))


def _median_time(fn, repeats: int, cpu: list | None = None) -> list[float]:
    out = []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        out.append(time.perf_counter() - t0)
        if cpu is not None:  # CPU seconds of all threads: what the run would take on idle cores
            cpu.append(time.process_time() - c0)
    return out


def bench_speed(length: int, batch: int, repeats: int, precisions=("fp32", "bf16")) -> dict:
    torch.manual_seed(0)
    extractor = LDARNet(LDARNetConfig.preset("ldarnet-120m")).eval()
    full = LDARNet(LDARNetConfig.preset("ldarnet-120m", router="fixed", target_ratio=4)).eval()
    ids = torch.randint(0, 4, (batch, length))
    runs = {}
    for precision in precisions:
        ctx = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if precision == "bf16" else torch.no_grad

        def extract(ctx=ctx):
            with torch.no_grad(), ctx():
                extractor.extract_boundaries(ids)

        def forward(ctx=ctx):
            with torch.no_grad(), ctx():
                full(ids)

        runs[f"extraction_{precision}"] = extract
        runs[f"forward_{precision}"] = forward
    short = ids[:, :512]
    for model in (extractor, full):  # warm-up on a short input (first-call costs), not a full extra run
        with torch.no_grad():
            model(short)
    times = {name: [] for name in runs}
    cpu = {name: [] for name in runs}
    for _ in range(repeats):  # interleaved so load changes hit every mode alike
        for name, run in runs.items():
            times[name] += _median_time(run, 1, cpu[name])
    med = {k: statistics.median(v) for k, v in times.items()}
    with torch.no_grad():
        chunks = full(ids).boundaries[0].lengths.float().mean().item()
    return {"length": length, "batch": batch, "seconds": times, "cpu_seconds": cpu, "median_s": med,
            "bp_per_s": {k: batch * length / v for k, v in med.items()},
            "parameters": extractor.num_parameters(), "forward_mean_chunks": chunks}


# Peak memory is VmHWM of a fresh process (ru_maxrss would carry the parent's peak across exec).
PEAK_CHILD = """
import sys, time, torch
sys.path.insert(0, {root!r})
torch.set_num_threads({threads})
from ldarnet import LDARNet, LDARNetConfig
def hwm_kb():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
model = LDARNet(LDARNetConfig.preset("ldarnet-120m", router="fixed", target_ratio=4)).eval()
base = hwm_kb()
ids = torch.randint(0, 4, (1, {length}))
t0 = time.perf_counter()
with torch.no_grad():
    out = model(ids)
print(base, hwm_kb(), time.perf_counter() - t0)
"""


EXTRACT_CHILD = """
import json, os, sys, time, torch
sys.path.insert(0, {src!r})
torch.set_num_threads({threads})
import ldarnet
from ldarnet import LDARNet, LDARNetConfig
torch.manual_seed(0)
model = LDARNet(LDARNetConfig.preset({preset!r})).eval()
ids = torch.randint(0, 4, ({batch}, {length}))
runs, load = [], [os.getloadavg()[0]]
with torch.no_grad():
    model.extract_boundaries(ids[:, :512])
    for _ in range({repeats}):
        t, c = time.perf_counter(), time.process_time()
        model.extract_boundaries(ids)
        runs.append((time.perf_counter() - t, time.process_time() - c))
load.append(os.getloadavg()[0])
print(json.dumps({{"package": os.path.dirname(ldarnet.__file__), "runs": runs, "loadavg_1min": load}}))
"""


def bench_extract_arms(arms: dict[str, str], presets: list[str], length: int, batch: int, threads: int,
                       repeats: int, rounds: int) -> dict:
    """Extraction of each preset with each package copy, in fresh subprocesses, arms alternating."""
    results = {preset: {arm: {"runs": [], "loadavg_1min": []} for arm in arms} for preset in presets}
    for _ in range(rounds):
        for preset in presets:
            for arm, src in arms.items():
                code = EXTRACT_CHILD.format(src=src, threads=threads, preset=preset, batch=batch, length=length,
                                            repeats=repeats)
                res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
                rec = json.loads(res.stdout.strip().splitlines()[-1])
                entry = results[preset][arm]
                # the JSON is committed: name the copy, never this machine's path
                entry["package"] = "this tree" if arm == "current" else f"{arm} copy (--baseline-src)"
                entry["runs"] += rec["runs"]
                entry["loadavg_1min"] += rec["loadavg_1min"]
    bp = batch * length
    for preset, by_arm in results.items():
        for entry in by_arm.values():
            wall = statistics.median(r[0] for r in entry["runs"])
            cpu = statistics.median(r[1] for r in entry["runs"])
            entry.update(median_wall_s=wall, median_cpu_s=cpu, bp_per_s=bp / wall, bp_per_cpu_s=bp / cpu)
        if "baseline" in by_arm:
            by_arm["speedup"] = {k: by_arm["current"][k] / by_arm["baseline"][k] for k in ("bp_per_s", "bp_per_cpu_s")}
    return {"length": length, "batch": batch, "threads": threads, "arms": {arm: "this tree" if arm == "current" else
            "--baseline-src copy" for arm in arms}, "presets": results}


def bench_peak(length: int, threads: int) -> dict:
    code = PEAK_CHILD.format(root=str(ROOT), length=length, threads=threads)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    base_kb, peak_kb, seconds = res.stdout.split()
    return {"length": length, "peak_rss_gb": int(peak_kb) / 1024**2, "rss_after_model_gb": int(base_kb) / 1024**2,
            "forward_s": float(seconds), "bp_per_s": length / float(seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seq-len", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--peak-lens", type=int, nargs="*", default=[4096, 65536])
    parser.add_argument("--precisions", nargs="*", default=["fp32", "bf16"], choices=["fp32", "bf16"],
                        help="in-process extraction and full forward at each precision (none: skip)")
    parser.add_argument("--no-speed", action="store_true", help="only the peak-memory runs (e.g. L = 65,536 in its own invocation)")
    parser.add_argument("--baseline-src", help="directory holding an older copy of the ldarnet package: extraction before/after")
    parser.add_argument("--extract-presets", nargs="*", default=["ldarnet-120m", "ldarnet-proxy"])
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the extraction arms")
    parser.add_argument("--out", default=str(ROOT / "bench/results/bench_120m_cpu.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    flags = cpu_flags()
    load_before = os.getloadavg()
    started = time.time()
    speed_before = machine_speed()  # this shared machine ran the same shapes at 1.6k to 4.0k bp/s at different times: say how fast it was
    arms = {"current": str(ROOT)}
    if args.baseline_src:
        arms["baseline"] = str(Path(args.baseline_src).resolve())
    extract = None
    if args.extract_presets and not args.no_speed:
        extract = bench_extract_arms(arms, args.extract_presets, args.seq_len, args.batch, args.threads,
                                     args.repeats, args.rounds)
    speed = None if args.no_speed or not args.precisions else bench_speed(args.seq_len, args.batch, args.repeats, args.precisions)
    speed = speed if extract is None else {**(speed or {}), "extraction_arms": extract}
    peaks, calibration = [], {"before": speed_before}
    result = write(args, flags, load_before, started, speed, peaks, calibration)  # partial results survive an interrupted run
    calibration["after"] = machine_speed()  # before the long peak runs: it frames the speed measurements
    for n in args.peak_lens:
        peaks.append(bench_peak(n, args.threads))
        result = write(args, flags, load_before, started, speed, peaks, calibration)
    arms_summary = speed and speed.get("extraction_arms") and {
        preset: {arm: (round(e["bp_per_s"]), round(e["bp_per_cpu_s"])) if "runs" in e else e for arm, e in by_arm.items()}
        for preset, by_arm in speed["extraction_arms"]["presets"].items()}
    print(json.dumps({"extraction (bp/s wall, bp/cpu-s)": arms_summary, "bp_per_s": speed and speed.get("bp_per_s"), "peak_gb": {p["length"]: p["peak_rss_gb"] for p in peaks},
                      "native_bf16": result["machine"]["native_bf16"], "calibration_gflops": {
                          k: round(v["gflops"], 1) for k, v in calibration.items()},
                      "loadavg": [load_before, result["machine"]["loadavg_after"]], "met": result["met"]}, indent=2))


def _extraction_met(speed: dict | None) -> bool | None:
    """The 3 kbp/s target, on wall time: from the in-process fp32 run, else the current 120m arm."""
    if not speed:
        return None
    if "extraction_fp32" in speed.get("bp_per_s", {}):
        return speed["bp_per_s"]["extraction_fp32"] >= TARGETS["extraction_fp32_bp_per_s"]
    arm = speed.get("extraction_arms", {}).get("presets", {}).get("ldarnet-120m", {}).get("current")
    return None if arm is None else arm["bp_per_s"] >= TARGETS["extraction_fp32_bp_per_s"]


def write(args, flags, load_before, started, speed, peaks, calibration) -> dict:
    result = {
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                    "cores": os.cpu_count(), "torch": torch.__version__, "simd_flags": flags,
                    "native_bf16": bool(set(flags) & {"avx512_bf16", "amx_bf16"}),
                    "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
                    "wall_s": round(time.time() - started, 1),
                    "calibration": calibration},
        "preset": "ldarnet-120m (random weights; full forward with the fixed router at N = 4)",
        "speed": speed, "peak_memory": peaks, "targets": TARGETS,
        "met": {"extraction_fp32": _extraction_met(speed),
                "peak_65536": next((p["peak_rss_gb"] <= TARGETS["peak_gb_65536"] for p in peaks if p["length"] == 65536), None)},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(f"{args.out}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, args.out)
    return result


if __name__ == "__main__":
    main()
