"""Window length and the blocked BiMamba-2 mixer, side by side: kept bases per second of extraction.

    python bench/bench_windows.py --threads 2     # writes bench/results/windows_blocked.json

Tiled extraction computes ``window`` bases to keep ``window - overlap`` of them. Longer windows waste
less on the overlap, but the whole-row mixer's intermediates grow with the window; ``BiMamba2`` without
autograd on CPU takes rows longer than ``CPU_MIXER_BLOCK`` a block of time at a time. This times
``extract_boundaries`` of the shipped proxy on real Arabidopsis windows for each (window, mixer) pair,
alternating in one process, and reports kept bases per second at the model's default overlap, the
host's calibration speed before and after, and the memory one extraction adds to a fresh process's
peak. The old default was 12,288-base windows with the whole-row mixer; the new one is 49,152 with
blocks of 4,096.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_extract import _shown  # noqa: E402  (how committed JSON names a path)
from bench.cpu_ceiling import machine_speed  # noqa: E402
from ldarnet import atomic_write_json, encode, load_pretrained  # noqa: E402
from ldarnet.genome import default_tiling, open_fasta, sequence_source  # noqa: E402
from ldarnet.layers import mamba2  # noqa: E402


# Peak memory of one extraction in a fresh process: VmHWM, the high-water mark of the child's own address
# space (ru_maxrss would carry this bench's peak across exec).
PEAK_CHILD = """
import sys, torch
sys.path.insert(0, {root!r})
torch.set_num_threads({threads})
from ldarnet import encode, load_pretrained
from ldarnet.genome import open_fasta, sequence_source
from ldarnet.layers import mamba2
def hwm_kb():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
model = load_pretrained({checkpoint!r}).eval()
lengths, fetch = sequence_source(open_fasta({fasta!r}))
seq = encode(fetch(next(iter(lengths)), 0, {window}))
mamba2.CPU_MIXER_BLOCK = {block}
base = hwm_kb()
with torch.inference_mode():
    model.extract_boundaries(seq[None])
print(base, hwm_kb())
"""


def peak_extra_gb(args, window: int, block: int | None) -> float:
    """GB that one extraction of ``window`` bases adds to a fresh process's peak (model and data loaded first)."""
    code = PEAK_CHILD.format(root=str(ROOT), threads=args.threads, checkpoint=args.checkpoint, fasta=args.fasta,
                             window=window, block=block)
    base, peak = map(int, subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                         text=True).stdout.split())
    return (peak - base) / 2**20


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "ldarnet-proxy-multispecies"))
    parser.add_argument("--fasta", default=str(ROOT / "data" / "athal_chr1_1000000_1200000.fa"))
    parser.add_argument("--windows", type=int, nargs="+", default=[12288, 49152])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "windows_blocked.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = load_pretrained(args.checkpoint).eval()
    overlap = default_tiling(model)["overlap"]
    lengths, fetch = sequence_source(open_fasta(args.fasta))
    record = next(iter(lengths))
    bases = min(lengths[record], 2 * max(args.windows))
    seq = encode(fetch(record, 0, bases))
    block = mamba2.CPU_MIXER_BLOCK
    arms = [(w, mixer) for w in args.windows for mixer in ("whole row", f"blocks of {block}")]
    seconds: dict[str, list[float]] = {f"{w} / {m}": [] for w, m in arms}
    load = os.getloadavg()
    calibration = {"before": machine_speed()}  # how fast this shared host ran while the arms were timed
    try:
        with torch.inference_mode():
            for round_index in range(args.rounds):
                for window, mixer in arms:
                    mamba2.CPU_MIXER_BLOCK = None if mixer == "whole row" else block
                    n = bases // window  # the same bases for every window length
                    if round_index == 0:
                        model.extract_boundaries(seq[:window][None])  # warm-up
                    started = time.perf_counter()
                    for i in range(n):
                        model.extract_boundaries(seq[i * window:(i + 1) * window][None])
                    seconds[f"{window} / {mixer}"].append((time.perf_counter() - started) / n)
    finally:
        mamba2.CPU_MIXER_BLOCK = block
    calibration["after"] = machine_speed()
    rows = []
    for (window, mixer), (label, times) in zip(arms, seconds.items()):
        median = statistics.median(times)
        rows.append({"window": window, "mixer": mixer, "seconds_per_window": times, "model_bp_per_s": window / median,
                     "kept_bp_per_s": (window - overlap) / median,
                     "peak_extra_gb": peak_extra_gb(args, window, None if mixer == "whole row" else block)})
    base = next(r for r in rows if r["window"] == min(args.windows) and r["mixer"] == "whole row")
    for row in rows:
        row["kept_vs_smallest_whole_row"] = row["kept_bp_per_s"] / base["kept_bp_per_s"]
    atomic_write_json(args.out, {"command": " ".join(["python", *sys.argv]), "threads": args.threads,
                                 "checkpoint": _shown(args.checkpoint),
                                 "overlap": overlap, "bases": bases, "rounds": args.rounds, "load_average_before": load,
                                 "load_average_after": os.getloadavg(), "calibration": calibration, "rows": rows}, indent=1)
    for row in rows:
        print(f"window {row['window']:6d}, {row['mixer']:15s}: model {row['model_bp_per_s']:7.0f} bp/s, kept "
              f"{row['kept_bp_per_s']:7.0f} bp/s ({row['kept_vs_smallest_whole_row']:.2f}x), "
              f"peak +{row['peak_extra_gb']:.2f} GB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
