"""Markdown tables of an acceptance folder: 5-fold MCC per task and variant, the verdicts, the grid.

    python results/finetune-defaults/summarise_acceptance.py results/finetune-defaults/acceptance10
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from ldarnet.finetune import baseline_verdict, defaults_within

ORDER = ["pretrained", "random-init", "linear-probe", "kmer-3", "kmer-4", "kmer-5", "kmer-6"]
DEFAULT_POINT = "0.0003-mean"


def _row(name: str, values: pd.Series) -> str:
    sd = f"{values.std(ddof=1):.3f}" if len(values) > 1 else "-"
    return f"| {name} | {values.mean():.3f} | {sd} | {' '.join(f'{v:.2f}' for v in values)} |"


def main(root: Path) -> int:
    results = pd.concat([pd.read_csv(p) for p in sorted(root.glob("*/results.csv"))], ignore_index=True)
    variants = [pd.read_csv(p) for p in sorted(root.glob("*/variants.csv"))]
    extra = pd.concat(variants, ignore_index=True) if variants else pd.DataFrame(columns=results.columns)
    for task, part in results.groupby("task", sort=False):
        mcc = part[part["metric"] == "mcc"]
        n_test = int(part.loc[(part["metric"] == "n_test") & (part["variant"] == "pretrained"), "value"].sum())
        print(f"\n{task}: {mcc['fold'].nunique()} of 5 folds, {n_test} test sequences in all\n")
        print("| variant | MCC mean | SD | per fold |\n|---|---|---|---|")
        for name in ORDER:
            print(_row(name, mcc.loc[mcc["variant"] == name].sort_values("fold")["value"]))
        for name, rows in extra[(extra["task"] == task) & (extra["metric"] == "mcc")].groupby("variant"):
            print(_row(f"{name} (fine-tuned, same folds)", rows.sort_values("fold")["value"]))
        epochs = part[(part["metric"] == "epochs") & part["variant"].isin(["pretrained", "random-init"])]
        print(f"\nepochs run per fold: {epochs.groupby('variant')['value'].apply(lambda v: v.astype(int).tolist()).to_dict()}")
    print()
    for line in baseline_verdict(results)["verdict"]:
        print("-", line)
    grids = [pd.read_csv(p) for p in sorted(root.glob("*/grid.csv"))]
    if grids:
        grid = pd.concat(grids, ignore_index=True)
        default = results[results["variant"] == "pretrained"]
        scored = pd.concat([grid, default.assign(variant=DEFAULT_POINT)])
        scored = scored[(scored["metric"] == "mcc") & scored["task"].isin(grid["task"])]
        print("\n| task | grid point | MCC mean | SD | folds |\n|---|---|---|---|---|")
        for (task, name), v in scored.groupby(["task", "variant"])["value"]:
            print(f"| {task} | {name}{' (default)' if name == DEFAULT_POINT else ''} | {v.mean():.3f} | {v.std(ddof=1):.3f} | {len(v)} |")
        print()
        within = defaults_within(grid, DEFAULT_POINT, default_rows=default)
        print("| task | folds | default (3e-4, mean) | best point | best MCC | gap | within 0.05 | paired p |\n"
              "|---|---|---|---|---|---|---|---|")
        for r in within.itertuples():
            print(f"| {r.task} | {r.folds} | {r.default_mcc:.3f} | {r.best} | {r.best_mcc:.3f} | {r.gap:.3f} | "
                  f"{'yes' if r.within else 'no'} | {r.pvalue:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent / "acceptance10")))
