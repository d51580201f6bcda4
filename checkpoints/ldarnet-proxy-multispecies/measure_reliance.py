"""Path reliance of this checkpoint on its own held-out windows -> reliance.json (read by make_card.py).

How much does the model use its chunks? The held-out MLM loss intact, with the dechunked chunk/backbone
path zeroed and with the encoder's residual skip zeroed (``ldarnet.training.evaluate_reliance``), beside
the base-frequency and +-3 context-count baselines, on the same held-out windows and masks as
``eval.json`` (corpus settings from ``run.json``). Run from the repository root with ../shared/data
beside it (the run's FASTA paths): ``python checkpoints/ldarnet-proxy-multispecies/measure_reliance.py``.
"""

import json
import sys
import time
from pathlib import Path

import torch

from ldarnet import atomic_write_json, load_pretrained
from ldarnet.data import WindowCorpus
from ldarnet.training import evaluate_reliance

HERE = Path(__file__).resolve().parent


def main(windows: int = 96) -> int:
    run = json.loads((HERE / "run.json").read_text())
    torch.set_num_threads(1)  # one thread: the same sums on every run of this script
    started = time.time()
    corpus = WindowCorpus(run["fasta"], window_length=run["seq_len"], weights=run["weights"],
                          max_n_fraction=run["max_n_fraction"], val_records=run["val_records"],
                          val_regions=run["val_regions"], rc_prob=run["rc_prob"], mask_prob=run["mask_prob"],
                          seed=run["seed"], quiet=True)
    result = evaluate_reliance(load_pretrained(HERE).eval(), corpus, windows=windows, batch_size=4)
    result["seconds"] = round(time.time() - started, 1)
    result["command"] = f"python checkpoints/{HERE.name}/measure_reliance.py {windows}"
    atomic_write_json(HERE / "reliance.json", result)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(*(int(a) for a in sys.argv[1:])))
