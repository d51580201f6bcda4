"""Does each run's model use *where* its boundaries are? Path reliance with the stride ablation, per run.

For every run folder given (weights in ``runs/<variant>``, git-ignored; their logs are kept in
``variants/``), :func:`ldarnet.training.evaluate_reliance` on the run's own held-out windows: the cost
of zeroing the chunk path beside the cost of moving the boundaries to a fixed stride N. One JSON line
per run to ``placement.jsonl``, and a markdown table on stdout.

    OMP_NUM_THREADS=1 python results/mlm-options-proxy/placement.py runs/* --windows 16 > placement.md
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="run folders (relative to this folder, or absolute)")
    p.add_argument("--windows", type=int, default=16)
    p.add_argument("--out", default=str(HERE / "placement.jsonl"))
    args = p.parse_args(argv)
    spec = importlib.util.spec_from_file_location(
        "measure_reliance", ROOT / "checkpoints" / "ldarnet-proxy-multispecies" / "measure_reliance.py")
    measure = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(measure)
    from ldarnet import atomic_write_text

    lines = []
    print("| run | steps | α | held-out MLM | chunk path zeroed, cost | boundaries at stride N, cost | router's own rate |")
    print("|---|---|---|---|---|---|---|")
    for name in args.runs:
        folder = Path(name) if Path(name).is_absolute() else HERE / name
        if not (folder / "model.safetensors").exists():
            print(f"skipped {folder.name}: no weights", file=sys.stderr)
            continue
        run = json.loads((folder / "run.json").read_text())
        r = measure.measure(folder, folder / "run.json", args.windows)
        s = r["stages"][0]
        lines.append(json.dumps({"run": folder.name, "steps": run["steps"], "alpha": run["config"]["ratio_loss_weight"],
                                 "windows": args.windows, "window_length": run["seq_len"], **r}))
        print(f"| `{folder.name}` | {run['steps']} | {run['config']['ratio_loss_weight']:g} | {r['intact']:.4f} | "
              f"{s['chunk_path_cost']:+.4f} | {s['stride_cost']:+.4f} | {r['compression_unmasked'][0]:.2f} |", flush=True)
    atomic_write_text(Path(args.out), "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
