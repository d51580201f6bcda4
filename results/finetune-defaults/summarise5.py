"""Markdown tables of the 5-fold acceptance runs and the fold-1 grid (results/finetune-defaults/acceptance5).

    python results/finetune-defaults/summarise5.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from ldarnet.finetune import baseline_verdict, defaults_within

ROOT = Path(__file__).resolve().parent / "acceptance5"
ORDER = ["pretrained", "random-init", "linear-probe", "kmer-3", "kmer-4", "kmer-5", "kmer-6"]


def main() -> int:
    results = pd.concat([pd.read_csv(p) for p in sorted(ROOT.glob("*/results.csv"))], ignore_index=True)
    for task, part in results.groupby("task", sort=False):
        mcc = part[part["metric"] == "mcc"]
        n_test = int(part.loc[part["metric"] == "n_test", "value"].sum() / part["variant"].nunique())
        print(f"\n{task}: {mcc['fold'].nunique()} of 5 folds, {n_test} test sequences in all\n")
        print("| variant | MCC mean | SD | per fold |\n|---|---|---|---|")
        for name in ORDER:
            values = mcc.loc[mcc["variant"] == name].sort_values("fold")["value"]
            sd = f"{values.std(ddof=1):.3f}" if len(values) > 1 else "-"
            print(f"| {name} | {values.mean():.3f} | {sd} | {' '.join(f'{v:.2f}' for v in values)} |")
        steps = part[(part["metric"] == "epochs") & part["variant"].isin(["pretrained", "random-init"])]
        print(f"\nepochs run per fold: {steps.groupby('variant')['value'].apply(lambda v: v.astype(int).tolist()).to_dict()}")
    print()
    for line in baseline_verdict(results)["verdict"]:
        print("-", line)
    grids = [pd.read_csv(p) for p in sorted(ROOT.glob("*/grid.csv"))]
    if grids:
        grid = pd.concat(grids, ignore_index=True)
        default = results[(results["variant"] == "pretrained") & (results["fold"] == 0)
                          & results["task"].isin(grid["task"])].assign(variant="0.0003-mean")
        grid = pd.concat([grid, default], ignore_index=True)
        print("\n| task | grid point | fold-1 MCC |\n|---|---|---|")
        for (task, name), v in grid[grid["metric"] == "mcc"].groupby(["task", "variant"])["value"]:
            print(f"| {task} | {name} | {v.iloc[0]:.3f} |")
        print()
        within = defaults_within(grid, "0.0003-mean")
        print("| task | default (3e-4, mean) | best point | best MCC | gap | within 0.05 |\n|---|---|---|---|---|---|")
        for r in within.itertuples():
            print(f"| {r.task} | {r.default_mcc:.3f} | {r.best} | {r.best_mcc:.3f} | {r.gap:.3f} | {'yes' if r.within else 'no'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
