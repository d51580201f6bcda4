"""Classification metrics for fine-tuned models: MCC, accuracy, F1 and AUROC (scikit-learn)."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import softmax
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef, roc_auc_score

__all__ = ["classification_metrics", "METRICS"]

#: metric names, in the order they are reported
METRICS = ("mcc", "accuracy", "f1", "auroc")


def classification_metrics(labels: np.ndarray, logits: np.ndarray) -> dict[str, float]:
    """Score class logits against true labels.

    Parameters
    ----------
    labels : numpy.ndarray
        (N,) int, the true classes ``0..K-1``.
    logits : numpy.ndarray
        (N, K) float, unnormalised class scores; the prediction is their argmax.

    Returns
    -------
    dict
        ``mcc`` (Matthews correlation, multi-class when K > 2), ``accuracy``, ``f1`` (of class 1
        when K == 2, macro-averaged otherwise) and ``auroc`` (of the class-1 probability when
        K == 2, one-vs-rest macro otherwise). AUROC is NaN when ``labels`` hold a single class.
    """
    labels = np.asarray(labels)
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or logits.shape[0] != labels.shape[0]:
        raise ValueError(f"logits must be (N, K) with N = len(labels) = {labels.shape[0]}, got {logits.shape}")
    n_classes = logits.shape[1]
    predicted = logits.argmax(axis=1)
    probs = softmax(logits, axis=1)
    binary = n_classes == 2
    out = {
        "mcc": float(matthews_corrcoef(labels, predicted)),
        "accuracy": float(accuracy_score(labels, predicted)),
        "f1": float(f1_score(labels, predicted, average="binary" if binary else "macro",
                             labels=None if binary else np.arange(n_classes), zero_division=0)),
        "auroc": math.nan,
    }
    if np.unique(labels).size > 1:
        if binary:
            out["auroc"] = float(roc_auc_score(labels, probs[:, 1]))
        elif np.unique(labels).size == n_classes:
            out["auroc"] = float(roc_auc_score(labels, probs, multi_class="ovr", average="macro"))
    return out
