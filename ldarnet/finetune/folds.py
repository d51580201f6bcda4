"""One set of stratified folds shared by every variant of a fine-tuning comparison.

Every variant (full fine-tuning, random init, linear probe, k-mer baselines) is scored on the
folds :func:`fold_splits` returns, so their numbers differ only by the model, never by the split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

__all__ = ["FoldSplit", "fold_splits"]


@dataclass(frozen=True)
class FoldSplit:
    """Row indices (into the task table, int64) of one fold: disjoint, their union is every row."""

    fold: int
    train: np.ndarray  # (n_train,) fitting rows
    valid: np.ndarray  # (n_valid,) early stopping / regularisation choice
    test: np.ndarray  # (n_test,) the held-out 1/k


def fold_splits(labels: np.ndarray, folds: int, *, valid_fraction: float = 0.1, seed: int = 0,
                max_folds: int | None = None) -> list[FoldSplit]:
    """Stratified k-fold test sets, each with a stratified validation share cut from the rest.

    Parameters
    ----------
    labels : numpy.ndarray
        (N,) int class labels ``0..K-1``.
    folds : int
        k; each fold is the test set once. Needs at least ``k`` examples of every class.
    valid_fraction : float
        Share of each training part held out (stratified) for validation.
    seed : int
        Seeds the k-fold shuffle (``seed``) and fold f's validation cut (``seed + f``).
    max_folds : int, optional
        Keep only the first ``max_folds`` folds (the test sets stay the 1/k splits).
    """
    labels = np.asarray(labels, dtype=np.int64)
    check_folds(labels, folds)
    if max_folds is not None and not 1 <= max_folds <= folds:
        raise ValueError(f"--max-folds {max_folds} must be between 1 and --folds {folds}")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    splits = list(splitter.split(np.zeros(len(labels)), labels))[: max_folds or folds]
    out = []
    for fold, (rest, test) in enumerate(splits):
        train, valid = split_validation(rest, labels, valid_fraction, seed + fold)
        out.append(FoldSplit(fold, np.asarray(train, np.int64), np.asarray(valid, np.int64), np.asarray(test, np.int64)))
    return out


def check_folds(labels: np.ndarray, folds: int) -> None:
    if folds < 2:
        raise ValueError(f"--folds {folds}: cross-validation needs at least 2 folds")
    counts = np.bincount(labels)
    if counts.min() < folds:
        raise ValueError(f"--folds {folds}: class {int(counts.argmin())} has only {int(counts.min())} example(s); "
                         "every class needs at least one per fold")


def split_validation(index: np.ndarray, labels: np.ndarray, fraction: float, seed: int):
    """Stratified (train, validation) split of ``index``; the validation part holds every class at least once."""
    if not 0 < fraction < 1:
        raise ValueError(f"valid_fraction={fraction} must be between 0 and 1")
    n_classes = np.unique(labels[index]).size
    n_valid = max(n_classes, int(round(fraction * len(index))))
    if len(index) - n_valid < n_classes:
        raise ValueError(f"{len(index)} training sequences are too few to hold out a validation set with every "
                         f"class and still train on every class; use fewer folds or more data")
    return train_test_split(index, test_size=n_valid, stratify=labels[index], random_state=seed)
