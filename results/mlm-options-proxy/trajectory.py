"""A run's trajectory from its metrics.jsonl, finished or stopped early: the markdown table the README quotes.

Per logged reliance step: training compression (masked inputs, forced boundaries included), the
router's own compression (held-out windows with every target restored), held-out MLM loss on those
windows beside its two baselines, the cost of zeroing the chunk path and the skip, and of moving the
boundaries to a fixed stride N (records from session 5 on). Below it, the
shipping checks (``ldarnet.training.acceptance_checks``) on the last logged record, and training
compression at every step.

    python results/mlm-options-proxy/trajectory.py runs/long/center-on-on > long_run_trajectory.md
    python results/mlm-options-proxy/trajectory.py ../../runs/proxy-a003-50M      # the long run, any time
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))


def within(value: float, target: float = 4.0, tolerance: float = 0.25) -> bool:
    return abs(value - target) <= tolerance * target


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    for name in argv:
        folder = Path(name) if Path(name).is_absolute() else HERE / name
        lines = [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines() if x.strip()]
        run = json.loads((folder / "run.json").read_text())
        # eval.json is also written when a sitting stops early; run_summary.json says which
        summary = folder / "run_summary.json"
        done = summary.exists() and not json.loads(summary.read_text())["stopped_early"]
        print(f"### `{folder.name}`: {len(lines)} of {run['steps']} steps ({'finished' if done else 'not finished'}), "
              f"batch {run['batch_size']} x {run['seq_len']} bp, α = {run['config']['ratio_loss_weight']:g}, "
              f"router_centering = {run['config'].get('router_centering', False)} "
              f"(span {run['config'].get('router_centering_span', 0) or 'whole window'}), "
              f"mask_protection = {run['config']['mask_protection']}, "
              f"masked_residual_gating = {run['config']['masked_residual_gating']}; stride warm-up "
              f"{run.get('router_warmup_steps', 0)}, router isolated {run.get('router_isolation_steps', 0)} steps, "
              f"router LR x{run.get('router_lr_multiplier') or 1:g}")
        print()
        print("| step | LR | training compression | router's own compression (held-out, unmasked) | within 25% of 4 "
              "| held-out MLM | frequency / context baseline | chunk path zeroed (cost) | skip zeroed (cost) "
              "| boundaries at stride N (cost) |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        last = None
        for x in lines:
            if "reliance" not in x:
                continue
            r, s = x["reliance"], x["reliance"]["stages"][0]
            own, last = r["compression_unmasked"][0], x
            print(f"| {x['step']} | {x['lr']:.2e} | {x['compression'][0]:.2f} | {own:.2f} | "
                  f"{'yes' if within(own) else 'no'} | {r['intact']:.4f} | {r['frequency_baseline']:.4f} / "
                  f"{r['context_baseline']:.4f} | {s['chunk_path_zeroed']:.4f} "
                  f"({s['chunk_path_cost']:+.4f}) | {s['skip_zeroed']:.4f} ({s['skip_cost']:+.4f}) | "
                  # records logged before the stride ablation existed (session 5) lack it
                  + (f"{s['stride_boundaries']:.4f} ({s['stride_cost']:+.4f}) |" if "stride_cost" in s else "– |"))
        print()
        if last is not None:
            from ldarnet.training import acceptance_checks

            checks = acceptance_checks(last["reliance"], run["config"]["target_ratio"][0])
            print(f"Shipping checks on the record of step {last['step']} ({last['reliance']['windows']} held-out "
                  f"windows): " + "; ".join(f"{c['check']} {c['value']:.4f} (bar {c['bar']}): "
                                            f"{'pass' if c['passed'] else 'FAIL'}" for c in checks))
            print()
        print("Training compression at every step: " + " ".join(f"{x['compression'][0]:.2f}" for x in lines))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
