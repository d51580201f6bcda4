"""Print the markdown tables of README.md from the grid and acceptance CSVs in this folder."""

from pathlib import Path

import pandas as pd

HERE = Path(__file__).parent


def main() -> None:
    for csv in sorted(HERE.glob("grid-*.csv")):
        t = pd.read_csv(csv)
        mcc = t[t.metric == "mcc"].set_index("variant")["value"]
        ep = t[t.metric == "best_epoch"].set_index("variant")["value"]
        secs = t[t.metric == "train_seconds"].set_index("variant")["value"]
        print(f"\n{csv.name} (fold 1 of 2; n_test {int(t[t.metric == 'n_test'].value.iloc[0])})\n")
        print("| variant | test MCC | best epoch | train s |\n|---|---|---|---|")
        for v, m in mcc.items():
            print(f"| {v} | {m:.3f} | {ep.get(v, float('nan')):.0f} | {secs.get(v, float('nan')):.0f} |")
    for csv in sorted(HERE.glob("acceptance/*/results.csv")):
        t = pd.read_csv(csv)
        g = t[t.metric == "mcc"].groupby("variant", sort=False)["value"].agg(["mean", "std", "count"])
        print(f"\n{csv.parent.name}\n\n| variant | test MCC mean | SD | folds |\n|---|---|---|---|")
        for v, r in g.iterrows():
            print(f"| {v} | {r['mean']:.3f} | {r['std']:.3f} | {int(r['count'])} |")


if __name__ == "__main__":
    main()
