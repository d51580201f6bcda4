"""How much of the encoder output the router sees is one direction shared by every position; plain vs centred router.

For each model (a run folder written by ``pretrain``, or ``init`` = the untrained proxy, seed 0), on
held-out unmasked windows (yeast chromosome XVI, the windows ``evaluate_reliance`` uses):

- ``shared_share``: ||mean_t h_t||^2 / mean_t ||h_t||^2 of the encoder output h (1 = every position the
  same vector, ~1/L = no common direction), averaged over windows;
- ``cos_plain`` / ``cos_centred``: mean adjacent cosine of the router's q_{t-1}, k_t as the paper's router
  computes it, and with q, k centred over the window (``router_centering``);
- ``compression_plain`` / ``compression_centred``: positions per boundary with either router on the
  same weights.

    OMP_NUM_THREADS=1 python results/mlm-options-proxy/shared_direction.py init runs/off-off-s2 runs/center ...
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run_variants import FASTA, VAL_RECORDS  # noqa: E402


def measure(model, windows) -> dict:
    import torch
    import torch.nn.functional as F

    from ldarnet.chunking import center_over_positions

    stage, captured = model.stage, {}
    handle = stage.encoder.register_forward_hook(lambda m, a, out: captured.__setitem__("h", out))
    rows = {"shared_share": [], "cos_plain": [], "cos_centred": [], "boundaries_plain": 0, "boundaries_centred": 0}
    try:
        with torch.no_grad():
            for ids in windows:
                ids = ids[None, :]
                model(ids)
                h = captured["h"].float()
                mask = torch.ones(ids.shape, dtype=torch.bool)
                rows["shared_share"].append(float(h.mean(1).pow(2).sum() / h.pow(2).sum(-1).mean()))
                for name, x in (("plain", h), ("centred", center_over_positions(h, mask))):
                    q = F.normalize(stage.router.q_proj(x), dim=-1)
                    k = F.normalize(stage.router.k_proj(x), dim=-1)
                    cos = 0.5 * ((q[:, :-1] * k[:, 1:]).sum(-1) + (q[:, 1:] * k[:, :-1]).sum(-1))
                    rows[f"cos_{name}"].append(float(cos.mean()))
                    rows[f"boundaries_{name}"] += 1 + int((((1 - cos) / 2) > 0.5).sum())
    finally:
        handle.remove()
    n, length = len(windows), int(windows[0].shape[0])
    return {"windows": n, "shared_share": sum(rows["shared_share"]) / n,
            "cos_plain": sum(rows["cos_plain"]) / n, "cos_centred": sum(rows["cos_centred"]) / n,
            "compression_plain": n * length / rows["boundaries_plain"],
            "compression_centred": n * length / rows["boundaries_centred"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", help="run folders (relative to this folder or absolute), or 'init'")
    p.add_argument("--windows", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--out", default=str(HERE / "shared_direction.json"))
    args = p.parse_args(argv)
    import numpy as np
    import torch

    from ldarnet import LDARNet, LDARNetConfig
    from ldarnet.data.corpus import VALIDATION, WindowCorpus

    torch.set_num_threads(1)
    corpus = WindowCorpus([os.path.relpath(f) for f in FASTA], window_length=args.seq_len, val_records=VAL_RECORDS,
                          seed=0, quiet=True)
    windows = []
    for i in range(args.windows):
        inputs, labels, _ = corpus.window(i, VALIDATION)
        windows.append(torch.from_numpy(np.where(labels >= 0, labels, inputs)))
    results = {}
    for name in args.models:
        if name == "init":
            torch.manual_seed(0)
            model = LDARNet(LDARNetConfig.preset("ldarnet-proxy"))
        else:
            folder = Path(name) if Path(name).is_absolute() else HERE / name
            model = LDARNet.from_pretrained(folder)
        results[name] = {"router_centering": model.config.router_centering, **measure(model.eval(), windows)}
        print(name, json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in results[name].items()}),
              file=sys.stderr)
    Path(args.out).write_text(json.dumps({"load_avg": os.getloadavg(), "seq_len": args.seq_len,
                                          "models": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
