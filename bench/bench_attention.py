"""Local attention without autograd on CPU: the three-call split against one masked call, side by side.

    python bench/bench_attention.py --threads 2     # writes bench/results/attention_split.json

``LocalAttention`` runs each stretch of query blocks whose keys are all real as three flash-kernel
calls on views (an unmasked middle and two triangles, merged by log-sum-exp) when autograd is off on
CPU, and every block as one masked call on gathered copies otherwise. This times both paths on the
same module and input, alternating, at the encoder shapes of ``ldarnet-proxy`` and ``ldarnet-120m``
(random weights, one unpadded sequence), and records the largest output difference.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ldarnet import LDARNetConfig, atomic_write_json  # noqa: E402
from ldarnet.layers import attention  # noqa: E402


def compare(preset: str, length: int, rounds: int) -> dict:
    config = LDARNetConfig.preset(preset)
    d, heads = config.d_model[0], config.num_heads[0]
    torch.manual_seed(0)
    layer = attention.LocalAttention(d, heads, config.rotary_emb_dim[0], config.window_size[0]).eval()
    x, mask = torch.randn(1, length, d), torch.ones(1, length, dtype=torch.bool)
    split_rule = attention._split_applies
    paths = {"split": split_rule, "masked": lambda *args: False}
    times: dict[str, list[float]] = {name: [] for name in paths}
    outputs = {}
    try:
        with torch.inference_mode():
            for _ in range(rounds):
                for name, rule in paths.items():
                    attention._split_applies = rule
                    outputs[name] = layer(x, mask)  # warm-up, and the output compared below
                    started = time.perf_counter()
                    layer(x, mask)
                    times[name].append(time.perf_counter() - started)
    finally:
        attention._split_applies = split_rule
    median = {name: statistics.median(t) for name, t in times.items()}
    return {"preset": preset, "length": length, "d_model": d, "heads": heads, "window": config.window_size[0],
            "seconds": times, "median_s": median, "split_over_masked": median["split"] / median["masked"],
            "max_abs_diff": float((outputs["split"] - outputs["masked"]).abs().max())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "attention_split.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    load = os.getloadavg()
    runs = [compare("ldarnet-proxy", 12288, args.rounds), compare("ldarnet-120m", 4096, args.rounds)]
    record = {"command": " ".join(["python", *sys.argv]), "threads": args.threads, "torch": torch.__version__,
              "load_average_before": load, "load_average_after": os.getloadavg(), "runs": runs}
    atomic_write_json(args.out, record, indent=1)
    for run in runs:
        print(f"{run['preset']} L={run['length']}: split {run['median_s']['split'] * 1e3:.1f} ms, masked "
              f"{run['median_s']['masked'] * 1e3:.1f} ms ({run['split_over_masked']:.2f}x the time), max |diff| {run['max_abs_diff']:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
