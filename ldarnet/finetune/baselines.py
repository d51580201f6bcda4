"""The simplest baselines beside every fine-tuning result: k-mer logistic regression and a linear probe.

- **k-mer**: each sequence becomes its normalised k-mer counts (4^k frequencies summing to 1 over
  the k-mers made only of A, C, G, T), fed to an L2 logistic regression (scikit-learn);
- **linear probe**: the pretrained model is frozen, its pooled hidden states (the exact input of the
  classification head) are computed once for every sequence and cached, and a logistic regression
  is fitted on them.

Both choose the inverse regularisation ``C`` by validation MCC (ties: lower validation log loss)
on the validation share of each fold, refit nothing, and score the held-out fold, so their rows
sit in the same tidy ``task, variant, fold, metric, value`` table as fine-tuning.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.preprocessing import StandardScaler

from ..vocab import batch_encode
from .folds import FoldSplit
from .metrics import classification_metrics

__all__ = ["KMER_SIZES", "REGULARISATION", "kmer_counts", "kmer_baseline", "frozen_features", "linear_probe"]

KMER_SIZES = (3, 4, 5, 6)
#: inverse L2 strengths tried on each fold's validation share
REGULARISATION = (0.01, 0.1, 1.0, 10.0, 100.0)
_CODE = np.full(256, -1, dtype=np.int64)
for _i, _b in enumerate("ACGT"):
    _CODE[ord(_b)] = _CODE[ord(_b.lower())] = _i


def kmer_counts(sequences: Sequence[str], k: int) -> np.ndarray:
    """Normalised k-mer counts.

    Hand-written with numpy because scikit-learn's ``CountVectorizer`` builds a vocabulary per
    corpus (columns would differ between tasks) and counts k-mers across N.

    Parameters
    ----------
    sequences : sequence of str
        DNA, any case; k-mers holding anything but A/C/G/T are skipped.
    k : int
        1..8.

    Returns
    -------
    numpy.ndarray
        (N, 4**k) float64; column ``j`` is the k-mer whose base-4 digits (A=0, C=1, G=2, T=3, first
        base most significant) spell ``j``; each row sums to 1 (0 when the sequence has no valid k-mer).
    """
    if not 1 <= k <= 8:
        raise ValueError(f"k={k}: choose 1..8")
    out = np.zeros((len(sequences), 4 ** k), dtype=np.float64)
    powers = 4 ** np.arange(k - 1, -1, -1, dtype=np.int64)
    for row, seq in enumerate(sequences):
        codes = _CODE[np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8)]
        if codes.size < k:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(codes, k)  # (L-k+1, k)
        valid = (windows >= 0).all(axis=1)
        index = windows[valid] @ powers
        counts = np.bincount(index, minlength=4 ** k).astype(np.float64)
        total = counts.sum()
        out[row] = counts / total if total else counts
    return out


def kmer_baseline(table: pd.DataFrame, splits: Sequence[FoldSplit], *, task: str, k: int,
                  regularisation: Sequence[float] = REGULARISATION, seed: int = 0) -> pd.DataFrame:
    """k-mer logistic regression on the given folds; tidy rows with variant ``kmer-{k}``."""
    started = time.monotonic()
    features = kmer_counts(table["sequence"].tolist(), k)
    return _logistic_on_folds(features, np.asarray(table["label"], dtype=np.int64), splits, task=task,
                              variant=f"kmer-{k}", regularisation=regularisation, seed=seed,
                              setup_seconds=time.monotonic() - started, scale=True)


@torch.no_grad()
def frozen_features(model: torch.nn.Module, sequences: Sequence[str], *, batch_size: int = 64,
                    bf16: bool = False, cache: str | os.PathLike | None = None,
                    log: Callable[[str], None] | None = None) -> np.ndarray:
    """Pooled hidden states of a frozen classifier's backbone: the input its ``score`` layer sees.

    Parameters
    ----------
    model : nn.Module
        A :class:`ldarnet.heads.LDARNetForSequenceClassification` (any pooling; with
        ``conjoin_rc`` the features of a sequence and its reverse complement are averaged).
    sequences : sequence of str
    cache : path, optional
        ``.npy`` file: read when it exists with the right shape, else written (atomically).

    Returns
    -------
    numpy.ndarray
        (N, d) float32.
    """
    from ..io import atomic_write

    if cache is not None and Path(cache).exists():
        stored = np.load(cache)
        if stored.shape[0] == len(sequences):
            return stored
    captured: list[torch.Tensor] = []
    hook = model.score.register_forward_hook(lambda _m, inputs, _o: captured.append(inputs[0].detach().float().cpu()))
    model.eval()
    device = next(model.parameters()).device
    started = time.monotonic()
    try:
        for first in range(0, len(sequences), batch_size):
            ids, mask = batch_encode(list(sequences[first:first + batch_size]))
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
                model(ids.to(device), mask.to(device))
            if getattr(model, "conjoin_rc", False):  # the hook saw (2B, d): forward then reverse complement
                both = captured.pop()
                captured.append(0.5 * (both[: len(ids)] + both[len(ids):]))
            if log and (first // batch_size) % 20 == 0:
                log(f"frozen features: {first + len(ids)}/{len(sequences)} sequences, "
                    f"{time.monotonic() - started:.0f} s")
    finally:
        hook.remove()
    features = torch.cat(captured).numpy()
    if cache is not None:
        def save(tmp: str) -> None:
            with open(tmp, "wb") as fh:  # a handle: np.save would append .npy to the temporary name
                np.save(fh, features)
        atomic_write(Path(cache), save)
    return features


def linear_probe(features: np.ndarray, labels: np.ndarray, splits: Sequence[FoldSplit], *, task: str,
                 variant: str = "linear-probe", regularisation: Sequence[float] = REGULARISATION,
                 seed: int = 0, setup_seconds: float = 0.0) -> pd.DataFrame:
    """Logistic regression on cached frozen features (standardised per fold on its training rows)."""
    return _logistic_on_folds(np.asarray(features, dtype=np.float64), np.asarray(labels, dtype=np.int64), splits,
                              task=task, variant=variant, regularisation=regularisation, seed=seed,
                              setup_seconds=setup_seconds, scale=True)


def _logistic_on_folds(x: np.ndarray, labels: np.ndarray, splits: Sequence[FoldSplit], *, task: str, variant: str,
                       regularisation: Sequence[float], seed: int, setup_seconds: float, scale: bool) -> pd.DataFrame:
    if not regularisation:
        raise ValueError("no regularisation strengths to choose from")
    rows = []
    for split in splits:
        started = time.monotonic()
        scaler = StandardScaler().fit(x[split.train]) if scale else None
        prep = (lambda a: scaler.transform(a)) if scale else (lambda a: a)
        x_train, x_valid, x_test = prep(x[split.train]), prep(x[split.valid]), prep(x[split.test])
        best = None
        for c in regularisation:
            clf = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(x_train, labels[split.train])
            valid_logits = _logits(clf, x_valid)
            mcc = classification_metrics(labels[split.valid], valid_logits)["mcc"]
            loss = log_loss(labels[split.valid], clf.predict_proba(x_valid), labels=clf.classes_)
            key = (mcc if math.isfinite(mcc) else -math.inf, -loss)
            if best is None or key > best[0]:
                best = (key, c, clf)
        _, c, clf = best
        scores = classification_metrics(labels[split.test], _logits(clf, x_test))
        extra = {"C": c, "train_seconds": time.monotonic() - started + setup_seconds / max(len(splits), 1),
                 "n_train": len(split.train), "n_test": len(split.test)}
        rows += [(task, variant, split.fold, metric, float(value)) for metric, value in (scores | extra).items()]
    return pd.DataFrame.from_records(rows, columns=["task", "variant", "fold", "metric", "value"])


def _logits(clf: LogisticRegression, x: np.ndarray) -> np.ndarray:
    """(N, K) log-probabilities: classification_metrics takes logits and argmaxes/softmaxes them."""
    return np.log(np.clip(clf.predict_proba(x), 1e-12, 1.0))
