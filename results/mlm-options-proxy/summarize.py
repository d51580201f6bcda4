"""Markdown tables of summary.jsonl (written by run_variants.py): python results/mlm-options-proxy/summarize.py > tables.md"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def held(values: dict, target: float = 4.0, tolerance: float = 0.25) -> str:
    """'yes' when every value (step -> compression) lies within tolerance of target, else the first step that does not."""
    for step, v in values.items():
        if abs(v - target) > tolerance * target:
            return f"no (step {step}: {v:g})"
    return "yes"


def label(row: dict) -> str:
    """The variant's name, with its step count when it is not the 24 of the short runs."""
    return row["variant"] if row["steps"] == 24 else f"{row['variant']} ({row['steps']} steps)"


def main() -> int:
    rows = [json.loads(x) for x in (HERE / "summary.jsonl").read_text().splitlines() if x.strip()]
    print("| variant | α | held-out MLM | chunk path zeroed (cost) | skip zeroed (cost) | frequency / context baseline "
          "| compression, held-out masked / unmasked | training compression within 25% of 4 at every step from step 2 | "
          "router's own compression (unmasked held-out windows) at logged steps |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        rel, ev = r["reliance"], r["eval"]
        s = rel["stages"][0]
        logged = ", ".join(f"{k}: {v:g}" for k, v in r["unmasked_compression_logged"].items())
        print(f"| {label(r)} | {r['alpha']:g} | {ev['mlm_loss']:.4f} | {s['chunk_path_zeroed']:.4f} "
              f"({s['chunk_path_cost']:+.4f}) | {s['skip_zeroed']:.4f} ({s['skip_cost']:+.4f}) | "
              f"{rel['frequency_baseline']:.4f} / {rel['context_baseline']:.4f} | {ev['compression'][0]:.2f} / "
              f"{rel['compression_unmasked'][0]:.2f} | {held(dict(list(enumerate(r['train_compression_per_step'], 1))[1:]))} | {logged} (within 25%: {held(r['unmasked_compression_logged'])}) |")
    print()
    print("Training compression per step (masked inputs, forced boundaries included):")
    print()
    for r in rows:
        print(f"- {label(r)}: {' '.join(f'{c:g}' for c in r['train_compression_per_step'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
