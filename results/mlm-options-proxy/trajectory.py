"""A run's trajectory from its metrics.jsonl, finished or stopped early: the markdown table the README quotes.

Per logged reliance step: training compression (masked inputs, forced boundaries included), the
router's own compression (held-out windows with every target restored), held-out MLM loss on those
windows, and the cost of zeroing the chunk path and the skip. Below it, training compression at every step.

    python results/mlm-options-proxy/trajectory.py runs/long/center-on-on > long_run_trajectory.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def within(value: float, target: float = 4.0, tolerance: float = 0.25) -> bool:
    return abs(value - target) <= tolerance * target


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    for name in argv:
        folder = Path(name) if Path(name).is_absolute() else HERE / name
        lines = [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines() if x.strip()]
        run = json.loads((folder / "run.json").read_text())
        done = (folder / "eval.json").exists()
        print(f"### `{folder.name}`: {len(lines)} of {run['steps']} steps ({'finished' if done else 'stopped early'}), "
              f"batch {run['batch_size']} x {run['seq_len']} bp, α = {run['config']['ratio_loss_weight']:g}, "
              f"router_centering = {run['config'].get('router_centering', False)}, "
              f"mask_protection = {run['config']['mask_protection']}, "
              f"masked_residual_gating = {run['config']['masked_residual_gating']}")
        print()
        print("| step | LR | training compression | router's own compression (held-out, unmasked) | within 25% of 4 "
              "| held-out MLM (4 windows) | chunk path zeroed (cost) | skip zeroed (cost) |")
        print("|---|---|---|---|---|---|---|---|")
        for x in lines:
            if "reliance" not in x:
                continue
            r, s = x["reliance"], x["reliance"]["stages"][0]
            own = r["compression_unmasked"][0]
            print(f"| {x['step']} | {x['lr']:.2e} | {x['compression'][0]:.2f} | {own:.2f} | "
                  f"{'yes' if within(own) else 'no'} | {r['intact']:.4f} | {s['chunk_path_zeroed']:.4f} "
                  f"({s['chunk_path_cost']:+.4f}) | {s['skip_zeroed']:.4f} ({s['skip_cost']:+.4f}) |")
        print()
        print("Training compression at every step: " + " ".join(f"{x['compression'][0]:.2f}" for x in lines))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
