"""Path reliance of a checkpoint on its run's held-out windows -> reliance.json (read by the model card).

How much does the model use its chunks, and where they start? The held-out MLM loss intact, with the
dechunked chunk/backbone path zeroed, with the encoder's residual skip zeroed and with the boundaries
moved to a fixed stride N (``ldarnet.training.evaluate_reliance``), beside the base-frequency and
+-3 context-count baselines, on the held-out windows and masks of ``eval.json`` (corpus settings from
``run.json``). Run from the repository root with ../shared/data beside it (the run's FASTA paths):

    python checkpoints/ldarnet-proxy-multispecies/measure_reliance.py                # this folder, 96 windows
    python checkpoints/ldarnet-proxy-multispecies/measure_reliance.py --windows 256
    # a training checkpoint of a run in progress (its run.json is the run folder's), printed only
    python checkpoints/ldarnet-proxy-multispecies/measure_reliance.py \\
        --model runs/proxy-a003-50M/checkpoints/step-00000261 --run runs/proxy-a003-50M/run.json --out -
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch

from ldarnet import atomic_write_json, load_pretrained
from ldarnet.data import WindowCorpus
from ldarnet.training import evaluate_reliance

HERE = Path(__file__).resolve().parent


def measure(model_dir: Path, run_json: Path, windows: int) -> dict:
    """evaluate_reliance of the weights in ``model_dir`` on the held-out windows of the run ``run_json`` describes."""
    run = json.loads(Path(run_json).read_text())
    torch.set_num_threads(1)  # one thread: the same sums on every run of this script
    started = time.time()
    corpus = WindowCorpus(run["fasta"], window_length=run["seq_len"], weights=run["weights"],
                          max_n_fraction=run["max_n_fraction"], val_records=run["val_records"],
                          val_regions=run["val_regions"], rc_prob=run["rc_prob"], mask_prob=run["mask_prob"],
                          seed=run["seed"], quiet=True)
    result = evaluate_reliance(load_pretrained(model_dir).eval(), corpus, windows=windows, batch_size=4)
    result["seconds"] = round(time.time() - started, 1)
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(HERE), help="model folder (model.safetensors + config.json)")
    p.add_argument("--run", default=None, help="the run's run.json (default: the one in --model)")
    p.add_argument("--windows", type=int, default=96, help="held-out windows, 0 .. W - 1 of the run's corpus")
    p.add_argument("--out", default=None, help="JSON to write (default: reliance.json in --model; - prints only)")
    given = sys.argv[1:] if argv is None else list(argv)
    args = p.parse_args(given)
    model_dir = Path(args.model)
    result = measure(model_dir, Path(args.run) if args.run else model_dir / "run.json", args.windows)
    result["command"] = shlex.join(["python", f"checkpoints/{HERE.name}/measure_reliance.py", *given])
    if args.out != "-":
        atomic_write_json(Path(args.out) if args.out else model_dir / "reliance.json", result)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
