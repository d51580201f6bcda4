"""Where a trained proxy's router puts its rate, and how fast the ratio loss alone can move it.

For each run folder given, prints the router's own compression (bases per boundary it places itself):

- on *masked* training windows, counting only the positions the router decides (mask protection's
  forced boundaries excluded): the rate the ratio loss sees during training;
- on the same windows unmasked, per species, and on the held-out yeast chromosome XVI: the rate the
  model shows at inference.

``--fit-router`` adds a diagnostic: the encoder outputs of 8 training windows are computed once, then
a copy of the router alone is trained on the ratio loss at each LR given, and its rate on 8 held-out
windows is printed per step. It asks whether the ratio loss *can* move the router to N quickly when
nothing else pulls on it.

    python results/mlm-options-proxy/router_rates.py results/mlm-options-proxy/runs/center-on-on [...]
    python results/mlm-options-proxy/router_rates.py runs/center --fit-router 2e-3 2e-2 --steps 40

Run from the repository root (the genomes are read from ../shared/data).
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

from run_variants import FASTA, VAL_RECORDS  # noqa: E402

SPECIES = {"A. thaliana chr1": FASTA[0], "S. cerevisiae": FASTA[1], "C. elegans chrX": FASTA[2]}


def _unmasked(inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return torch.where(labels >= 0, labels, inputs)


def own_rates(model, windows: int = 32, seq_len: int = 512) -> dict[str, float]:
    """Bases per router-placed boundary: masked training input (free positions) and unmasked, per species."""
    from ldarnet.data import VALIDATION, WindowCorpus
    from ldarnet.vocab import MASK_ID

    rates = {}
    mixed = WindowCorpus(FASTA, window_length=seq_len, val_records=VAL_RECORDS, seed=1, quiet=True)
    inputs, labels = mixed.batch(range(windows))
    with torch.no_grad():
        mask, lengths = model._mask(inputs, None)
        _, _, _, (own, free), _ = model.stage.route(model.embedding(inputs) * mask.unsqueeze(-1), mask, lengths,
                                                    (inputs == MASK_ID) & mask)
    rates["training mix, masked input (free positions)"] = float(free.sum() / (own & free).sum())
    for name, fasta in SPECIES.items():
        held = VAL_RECORDS if "cerevisiae" in name else []
        corpus = WindowCorpus([fasta], window_length=seq_len, val_records=held, seed=1, quiet=True)
        splits = [(0, name)] + ([(VALIDATION, f"{name}, held-out chromosome XVI")] if held else [])
        for split, label in splits:
            ids = _unmasked(*corpus.batch(range(windows), split))
            with torch.no_grad():
                found = model.extract_boundaries(ids)
            rates[f"{label}, unmasked"] = float(model._mask(ids, None)[0].sum() / found[0].lengths.sum())
    return rates


def fit_router(model, lrs: list[float], steps: int, seq_len: int = 512) -> dict[float, list[float]]:
    """Train copies of the outer router alone on the ratio loss over cached encoder outputs."""
    from ldarnet.chunking import ratio_loss
    from ldarnet.data import VALIDATION, WindowCorpus

    corpus = WindowCorpus(FASTA, window_length=seq_len, val_records=VAL_RECORDS, seed=0, quiet=True)
    ids = torch.cat([_unmasked(*corpus.batch(range(8))), _unmasked(*corpus.batch(range(8), VALIDATION))])
    stage = model.stage
    with torch.no_grad():
        mask, lengths = model._mask(ids, None)
        h = stage.encoder(model.embedding(ids), mask, lengths)
    train, held = slice(0, 8), slice(8, 16)
    result = {}
    for lr in lrs:
        router = copy.deepcopy(stage.router)
        opt = torch.optim.AdamW(router.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.01)
        rates = []
        for _ in range(steps):
            p, b = router(h[train], mask[train])
            loss = ratio_loss(p, b, mask[train], router.target_ratio)
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                rates.append(float(mask[held].sum() / router(h[held], mask[held])[1].sum()))
        result[lr] = rates
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="run folders holding model.safetensors + config.json")
    p.add_argument("--fit-router", nargs="*", type=float, default=None, metavar="LR")
    p.add_argument("--steps", type=int, default=40)
    args = p.parse_args(argv)
    from ldarnet import LDARNet

    torch.set_num_threads(1)
    for run in args.runs:
        model = LDARNet.from_pretrained(run).eval()
        print(f"## {run}")
        for label, rate in own_rates(model).items():
            print(f"- {label}: {rate:.2f}")
        if args.fit_router:
            for lr, rates in fit_router(model, args.fit_router, args.steps).items():
                shown = ", ".join(f"{r:.2f}" for r in rates[:: max(1, len(rates) // 10)])
                print(f"- router alone on the ratio loss, LR {lr:g}: held-out rate every {max(1, len(rates) // 10)} "
                      f"steps {shown}; last {rates[-1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
