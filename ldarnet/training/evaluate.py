"""Held-out evaluation of a pretrained model: MLM loss next to a base-frequency baseline, compression,
and (``reliance=True``) the path reliance of :mod:`ldarnet.training.reliance`."""

from __future__ import annotations

import contextlib
import math
from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F

from ..data.corpus import VALIDATION, WindowCorpus
from ..modes import eval_mode
from ..vocab import A_ID, T_ID

__all__ = ["evaluate_mlm", "frequency_baseline_loss"]


def frequency_baseline_loss(label_counts: np.ndarray) -> float:
    """Cross-entropy (nats) of always predicting the empirical base frequencies of these very labels.

    ``label_counts`` is (4,) counts of A, C, G, T among the masked targets. This is the best any
    constant predictor can do on them, i.e. the entropy of their base composition.
    """
    counts = np.asarray(label_counts, dtype=np.float64)
    freqs = counts / counts.sum()
    nonzero = freqs > 0
    return float(-(freqs[nonzero] * np.log(freqs[nonzero])).sum())


@torch.no_grad()
def evaluate_mlm(model, corpus: WindowCorpus, *, windows: int, batch_size: int = 4,
                 device: torch.device | str = "cpu", bf16: bool = False, reliance: bool = False,
                 context_table: np.ndarray | None = None) -> dict:
    """MLM loss on the corpus's held-out windows ``0 .. windows - 1`` (fixed masks, no RC).

    Returns
    -------
    dict
        ``mlm_loss`` (nats per masked base), ``baseline_loss`` (see :func:`frequency_baseline_loss`),
        ``masked_tokens``, ``windows``, ``compression`` (per stage: mean input length / mean
        stage length over all windows), and ``per_file`` with the same loss fields for each file.
        With ``reliance=True`` also ``reliance``: :func:`ldarnet.training.reliance.evaluate_reliance`
        on the same windows (``context_table`` is passed on to it).
    """
    if not corpus.has_validation:
        raise ValueError("the corpus has no held-out data to evaluate on")
    with eval_mode(model):
        device = torch.device(device)
        autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        loss_sum, counts = defaultdict(float), defaultdict(lambda: np.zeros(4))
        prev_len, stage_len = None, None
        for first in range(0, windows, batch_size):
            indices = range(first, min(windows, first + batch_size))
            drawn = [corpus.window(i, VALIDATION) for i in indices]
            files = [where["file"] for _, _, where in drawn]
            inputs = torch.from_numpy(np.stack([d[0] for d in drawn])).to(device)
            labels = torch.from_numpy(np.stack([d[1] for d in drawn])).to(device)
            with autocast:
                out = model(inputs)
            ce = F.cross_entropy(out.logits.float().transpose(1, 2), labels, ignore_index=-100, reduction="none")
            for row, name in enumerate(files):
                target = labels[row][labels[row] >= 0]
                loss_sum[name] += float(ce[row].sum())
                counts[name] += np.bincount(target.cpu().numpy() - A_ID, minlength=T_ID - A_ID + 1)[:4]
            lengths = [inputs.new_full((inputs.shape[0],), inputs.shape[1])] + [b.lengths for b in out.boundaries]
            sums = torch.stack([l.double().sum() for l in lengths]).cpu()
            stage_len = sums if stage_len is None else stage_len + sums
    compression = [float(stage_len[s] / stage_len[s + 1]) for s in range(len(stage_len) - 1)]
    total = np.sum([counts[k] for k in counts], axis=0)

    def summary(loss: float, label_counts: np.ndarray) -> dict:
        n = int(label_counts.sum())
        return {"mlm_loss": loss / n, "baseline_loss": frequency_baseline_loss(label_counts),
                "masked_tokens": n, "mlm_bits_per_base": loss / n / math.log(2)}

    result = {**summary(sum(loss_sum.values()), total), "windows": windows, "compression": compression,
              "per_file": {name: summary(loss_sum[name], counts[name]) for name in sorted(loss_sum)}}
    if reliance:
        from .reliance import evaluate_reliance  # imported here: reliance uses frequency_baseline_loss

        result["reliance"] = evaluate_reliance(model, corpus, windows=windows, batch_size=batch_size, device=device,
                                               bf16=bf16, context_table=context_table)
    return result
