"""Path reliance: how much of a model's held-out MLM loss each of its two routes to the decoder carries.

Every chunking stage hands the decoder ``dechunk(inner(...)) * STE + residual_proj(encoder)``. Zeroing
one term and re-measuring the held-out MLM loss says how much the model relies on it:

- ``chunk_path_zeroed``: the stage's inner network returns zeros, so the dechunked (chunk/backbone)
  path is 0 and the decoder sees only the skip;
- ``skip_zeroed``: ``residual_proj`` returns zeros, so the decoder sees only the chunk path;
- ``stride_boundaries``: the stage chunks at a fixed stride of its target ratio N instead of where its
  router puts boundaries (the router's p still weighs the dechunker's smoothing, as in a stride
  warm-up). Zeroing the chunk path asks whether the model uses its chunks at all; this asks whether it
  uses *where* they start. With ``masked_residual_gating`` a masked base is predicted through the chunk
  path by construction, so the chunk-path cost alone cannot tell a learned placement from any other.

Two baselines that use no model put the numbers on a scale:

- ``frequency_baseline``: always predict the base composition of the masked targets (their entropy);
- ``context_baseline``: predict a masked base from its +-3 true neighbours, with a table of
  (left 3, right 3) -> base counts taken on the *training* windows (see :func:`context_counts`).
  It uses the true neighbours even where the model sees [MASK], so it is a slightly generous bar.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
import torch.nn.functional as F

from ..data.corpus import TRAIN, VALIDATION, WindowCorpus
from ..modes import eval_mode
from ..vocab import A_ID
from .evaluate import frequency_baseline_loss

__all__ = ["context_counts", "context_baseline_loss", "masked_lm_loss", "stage_modules", "evaluate_reliance",
           "reliance_rows", "reliance_verdict", "CONTEXT"]

CONTEXT = 3  # neighbours on each side
_SYMBOLS = 5  # A, C, G, T, and "anything else" (N, window edge)


def _context_keys(ids: np.ndarray) -> np.ndarray:
    """(B, L) int64 base ids (A..T = 0..3, anything else = other) -> (B, L) int64 context index.

    The index enumerates (left 3, right 3) neighbours in base 5; positions past the window edge
    count as "other".
    """
    ids = np.where((ids >= A_ID) & (ids < A_ID + 4), ids - A_ID, 4)
    b, length = ids.shape
    padded = np.full((b, length + 2 * CONTEXT), 4, dtype=np.int64)
    padded[:, CONTEXT:CONTEXT + length] = ids
    key = np.zeros((b, length), dtype=np.int64)
    for offset in [*range(-CONTEXT, 0), *range(1, CONTEXT + 1)]:
        key = key * _SYMBOLS + padded[:, CONTEXT + offset:CONTEXT + offset + length]
    return key


def _original(inputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The unmasked window: labels where a target was drawn, the input elsewhere."""
    return np.where(labels >= 0, labels, inputs)


def context_counts(windows: list[np.ndarray]) -> np.ndarray:
    """Count table (5**6, 4) float64: how often each centre base A, C, G, T follows each +-3 context.

    Parameters
    ----------
    windows : list of (L,) int64 unmasked token ids (every position with a base A..T is counted).
    """
    table = np.zeros((_SYMBOLS ** (2 * CONTEXT), 4))
    for ids in windows:
        ids = np.asarray(ids, dtype=np.int64)[None, :]
        keys = _context_keys(ids)[0]
        centre = ids[0] - A_ID
        ok = (centre >= 0) & (centre < 4)
        np.add.at(table, (keys[ok], centre[ok]), 1.0)
    return table


def corpus_context_counts(corpus: WindowCorpus, windows: int) -> np.ndarray:
    """:func:`context_counts` over training windows ``0 .. windows - 1`` of ``corpus`` (unmasked)."""
    drawn = [corpus.window(i, TRAIN) for i in range(windows)]
    return context_counts([_original(d[0], d[1]) for d in drawn])


def context_baseline_loss(table: np.ndarray, inputs: np.ndarray, labels: np.ndarray,
                          pseudocount: float = 1.0) -> tuple[float, int]:
    """Summed cross-entropy (nats) and count of the masked targets under the context table.

    The prediction for a context with counts ``c`` is ``(c + pseudocount * f) / (sum(c) + pseudocount)``,
    ``f`` the table's overall base frequencies, so unseen contexts fall back to ``f``.
    inputs, labels : (B, L) int64 as the corpus yields them (labels -100 off target).
    """
    freqs = table.sum(axis=0) / max(table.sum(), 1.0)
    keys = _context_keys(_original(inputs, labels))
    target = labels >= 0
    counts = table[keys[target]]
    probs = (counts + pseudocount * freqs) / (counts.sum(axis=1, keepdims=True) + pseudocount)
    picked = probs[np.arange(len(probs)), labels[target] - A_ID]
    return float(-np.log(picked).sum()), int(target.sum())


def stage_modules(model) -> list:
    """The chunking stages of ``model``, outermost first (each has ``inner`` and ``residual_proj``)."""
    stages, stage = [], model.stage
    while not stage.is_backbone:
        stages.append(stage)
        stage = stage.inner
    return stages


def _zero_output(module, args, output):
    return torch.zeros_like(output)


@torch.no_grad()
def masked_lm_loss(model, batches, ablate: tuple[str, int] | None = None, autocast=None) -> tuple[float, int, list]:
    """Summed MLM cross-entropy (nats), target count and per-stage chunk counts over ``batches``.

    ``ablate``: None (intact), ``("chunk", s)`` (stage s's inner network returns zeros) or
    ``("skip", s)`` (stage s's ``residual_proj`` returns zeros). The hook is removed afterwards.
    """
    handle = None
    if ablate is not None:
        kind, s = ablate
        stage = stage_modules(model)[s]
        target = {"chunk": stage.inner, "skip": stage.residual_proj}[kind]
        handle = target.register_forward_hook(_zero_output)
    total, n, chunks = 0.0, 0, None
    try:
        for inputs, labels in batches:
            with autocast or contextlib.nullcontext():
                out = model(inputs)
            ce = F.cross_entropy(out.logits.float().transpose(1, 2), labels, ignore_index=-100, reduction="sum")
            total += float(ce)
            n += int((labels >= 0).sum())
            sums = [float(inputs.numel())] + [float(b.lengths.sum()) for b in out.boundaries]
            chunks = sums if chunks is None else [a + b for a, b in zip(chunks, sums)]
    finally:
        if handle is not None:
            handle.remove()
    return total, n, chunks


def _stride_loss(model, s: int, batches, autocast) -> float:
    """Summed MLM loss with stage ``s`` chunking at the fixed stride N (its switch restored afterwards)."""
    stage = stage_modules(model)[s]
    was, stage.stride_warmup = stage.stride_warmup, True
    try:
        return masked_lm_loss(model, batches, None, autocast)[0]
    finally:
        stage.stride_warmup = was


@torch.no_grad()
def evaluate_reliance(model, corpus: WindowCorpus, *, windows: int, batch_size: int = 4,
                      device: torch.device | str = "cpu", bf16: bool = False,
                      context_table: np.ndarray | None = None, context_windows: int = 512) -> dict:
    """Path reliance on the corpus's held-out windows ``0 .. windows - 1`` (the masks of ``evaluate_mlm``).

    Returns
    -------
    dict
        ``intact`` (nats per masked base), ``stages`` (one dict per stage: ``chunk_path_zeroed``,
        ``skip_zeroed``, ``stride_boundaries`` and their costs over intact, ``chunk_path_cost``,
        ``skip_cost`` and ``stride_cost``),
        ``frequency_baseline``, ``context_baseline`` (table from ``context_windows`` training windows
        unless ``context_table`` is given), ``masked_tokens``, ``windows``, ``compression`` (per stage,
        on the masked inputs) and ``compression_unmasked`` (per stage, on the same windows with every
        target restored: the router's own rate, free of forced [MASK] boundaries and of a stride warm-up).
    """
    if not corpus.has_validation:
        raise ValueError("the corpus has no held-out data to evaluate path reliance on")
    device = torch.device(device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else None
    drawn = [corpus.window(i, VALIDATION) for i in range(windows)]
    np_inputs = np.stack([d[0] for d in drawn])
    np_labels = np.stack([d[1] for d in drawn])
    batches = [(torch.from_numpy(np_inputs[i:i + batch_size]).to(device),
                torch.from_numpy(np_labels[i:i + batch_size]).to(device)) for i in range(0, windows, batch_size)]
    with eval_mode(model):
        total, n, chunks = masked_lm_loss(model, batches, None, autocast)
        intact = total / n
        stages = []
        for s in range(len(stage_modules(model))):
            chunk_zeroed = masked_lm_loss(model, batches, ("chunk", s), autocast)[0] / n
            skip_zeroed = masked_lm_loss(model, batches, ("skip", s), autocast)[0] / n
            stride = _stride_loss(model, s, batches, autocast) / n
            stages.append({"chunk_path_zeroed": chunk_zeroed, "skip_zeroed": skip_zeroed,
                           "chunk_path_cost": chunk_zeroed - intact, "skip_cost": skip_zeroed - intact,
                           "stride_boundaries": stride, "stride_cost": stride - intact})
        unmasked = torch.from_numpy(_original(np_inputs, np_labels))
        free = [float(unmasked.numel())] + [0.0] * len(stages)
        # the routers' own decisions, also during a stride warm-up (whose fixed stride the model uses)
        routed = stage_modules(model)
        striding = [stage.stride_warmup for stage in routed]
        for stage in routed:
            stage.stride_warmup = False
        try:
            for i in range(0, windows, batch_size):
                with autocast or contextlib.nullcontext():
                    found = model.extract_boundaries(unmasked[i:i + batch_size].to(device))
                for s, b in enumerate(found):
                    free[s + 1] += float(b.lengths.sum())
        finally:
            for stage, was in zip(routed, striding):
                stage.stride_warmup = was
    table = context_table if context_table is not None else corpus_context_counts(corpus, context_windows)
    ctx_total, ctx_n = context_baseline_loss(table, np_inputs, np_labels)
    freq_loss = frequency_baseline_loss(np.bincount(np_labels[np_labels >= 0] - A_ID, minlength=4)[:4])
    return {"intact": intact, "stages": stages, "frequency_baseline": freq_loss, "context_baseline": ctx_total / ctx_n,
            "masked_tokens": n, "windows": windows, "intact_bits_per_base": intact / math.log(2),
            "compression": [chunks[s] / max(chunks[s + 1], 1.0) for s in range(len(stages))],
            "compression_unmasked": [free[s] / max(free[s + 1], 1.0) for s in range(len(stages))]}


def reliance_rows(record: dict) -> list[dict]:
    """An :func:`evaluate_reliance` record as table rows: ``what``, ``loss`` (nats per masked base), ``vs_intact``."""
    intact = record["intact"]
    rows = [{"what": "intact model", "loss": intact, "vs_intact": 0.0}]
    for s, stage in enumerate(record["stages"]):
        rows.append({"what": f"stage {s}: chunk path zeroed", "loss": stage["chunk_path_zeroed"], "vs_intact": stage["chunk_path_cost"]})
        rows.append({"what": f"stage {s}: skip zeroed", "loss": stage["skip_zeroed"], "vs_intact": stage["skip_cost"]})
        if "stride_boundaries" in stage:  # records written before this ablation existed lack it
            rows.append({"what": f"stage {s}: boundaries at a fixed stride N", "loss": stage["stride_boundaries"],
                         "vs_intact": stage["stride_cost"]})
    rows.append({"what": "base-frequency baseline (no model)", "loss": record["frequency_baseline"],
                 "vs_intact": record["frequency_baseline"] - intact})
    rows.append({"what": f"+-{CONTEXT} context-count baseline (no model)", "loss": record["context_baseline"],
                 "vs_intact": record["context_baseline"] - intact})
    return rows


def reliance_verdict(record: dict, *, min_cost: float = 0.05) -> str:
    """One sentence per stage: does the model use its chunk path (zeroing it costs >= ``min_cost`` nats),
    and, where the record has the stride ablation, where its boundaries are (same bar)? And does the
    intact model beat the context-count baseline?"""
    parts = []
    for s, stage in enumerate(record["stages"]):
        cost, skip = stage["chunk_path_cost"], stage["skip_cost"]
        if cost >= min_cost:
            text = f"stage {s}: the model relies on its chunk path (zeroing it costs {cost:+.3f} nats; the skip {skip:+.3f})"
            stride = stage.get("stride_cost")  # absent from records written before the stride ablation
            if stride is not None:
                text += (f", and on where its boundaries are (a fixed stride costs {stride:+.3f})" if stride >= min_cost
                         else f", but not on where its boundaries are (a fixed stride costs {stride:+.4f})")
            parts.append(text)
        else:
            parts.append(f"stage {s}: the model barely uses its chunk path (zeroing it costs {cost:+.4f} nats, under "
                         f"{min_cost}; zeroing the skip costs {skip:+.3f}): its boundaries carry little of what it predicts")
    margin = record["context_baseline"] - record["intact"]
    parts.append(f"the intact model {'beats' if margin > 0 else 'does not beat'} the +-{CONTEXT} context-count "
                 f"baseline ({record['intact']:.4f} vs {record['context_baseline']:.4f} nats)")
    return "; ".join(parts) + "."


def acceptance_checks(record: dict, target_ratio: float, *, ratio_tolerance: float = 0.10,
                      min_cost: float = 0.05) -> list[dict]:
    """Whether a pretrained model meets issue 11's bar for shipping, from one :func:`evaluate_reliance` record.

    Three checks on the held-out windows: the intact MLM loss is below both baselines; the router's own
    rate on unmasked windows (``compression_unmasked``, stage 0) is within ``ratio_tolerance`` of
    ``target_ratio``; zeroing the chunk path (stage 0) costs at least ``min_cost`` nats.

    Returns
    -------
    list of dict
        One per check: ``check`` (text), ``value`` (the measured number), ``bar`` (text), ``passed`` (bool).
    """
    baseline = min(record["frequency_baseline"], record["context_baseline"])
    rate, cost = record["compression_unmasked"][0], record["stages"][0]["chunk_path_cost"]
    low, high = target_ratio * (1 - ratio_tolerance), target_ratio * (1 + ratio_tolerance)
    return [
        {"check": "held-out MLM loss (nats per masked base)", "value": record["intact"],
         "bar": f"< {baseline:.4f} (the better of the frequency and +-{CONTEXT} context baselines)",
         "passed": record["intact"] < baseline},
        {"check": "router's own compression on unmasked held-out windows", "value": rate,
         "bar": f"{low:.2f} to {high:.2f} (within {ratio_tolerance:.0%} of N = {target_ratio:g})",
         "passed": low <= rate <= high},
        {"check": "cost of zeroing the chunk path (nats)", "value": cost, "bar": f">= {min_cost}",
         "passed": cost >= min_cost},
    ]
