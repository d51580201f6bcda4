"""Stratified k-fold cross-validation, the learning-rate x batch-size grid, and tidy result tables.

The protocol follows the paper (App. A.4, after Generator): an optional grid search picks the
learning rate and batch size with the best validation MCC on one stratified train/validation split;
then every one of ``k`` stratified folds is held out once as the test set, the model is trained on
the rest (minus a stratified validation share used for early stopping) and scored on the held-out
fold. Results are one tidy table with columns ``task, variant, fold, metric, value``.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..io import atomic_write
from .folds import FoldSplit, check_folds as _check_folds, fold_splits, split_validation as _split_validation
from .metrics import classification_metrics
from .train import FitResult, encode_sequences, predict_logits, train_classifier

__all__ = ["PAPER_LEARNING_RATES", "PAPER_BATCH_SIZES", "RESULT_COLUMNS", "hyperparameter_grid", "cross_validate",
           "grid_search", "write_results_table"]

# The paper searches 9 learning rates x 4 batch sizes (App. A.4). Its batch sizes are legible in
# its Tables 4-5 (64, 128, 256, 512); the learning-rate values are not, so these nine, log-spaced
# over the usual fine-tuning range, are our choice.
PAPER_LEARNING_RATES = (1e-5, 2e-5, 3e-5, 5e-5, 1e-4, 2e-4, 3e-4, 5e-4, 1e-3)
PAPER_BATCH_SIZES = (64, 128, 256, 512)
RESULT_COLUMNS = ("task", "variant", "fold", "metric", "value")
GRID_COLUMNS = ("task", "variant", "lr", "batch_size", "metric", "value")

MakeModel = Callable[[int], nn.Module]  # fold index (-1 for the grid) -> a fresh classifier


def hyperparameter_grid(size: str | tuple[int, int] = "paper",
                        learning_rates: Sequence[float] = PAPER_LEARNING_RATES,
                        batch_sizes: Sequence[int] = PAPER_BATCH_SIZES) -> list[tuple[float, int]]:
    """The (learning rate, batch size) pairs to search.

    Parameters
    ----------
    size : str or (int, int)
        ``"paper"`` for all 9 x 4, or ``"RxB"`` / ``(R, B)`` for R learning rates and B batch sizes
        picked evenly across the full lists (ends included), e.g. ``"3x2"`` gives
        {1e-5, 1e-4, 1e-3} x {64, 512}.

    Returns
    -------
    list of (float, int)
        Learning rate outer, batch size inner.
    """
    if isinstance(size, str):
        if size == "paper":
            n_lr, n_bs = len(learning_rates), len(batch_sizes)
        else:
            match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", size)
            if not match:
                raise ValueError(f"--grid {size!r}: expected 'paper' or ROWSxCOLS such as '3x2'")
            n_lr, n_bs = int(match.group(1)), int(match.group(2))
    else:
        n_lr, n_bs = size
    if not (1 <= n_lr <= len(learning_rates) and 1 <= n_bs <= len(batch_sizes)):
        raise ValueError(f"grid {n_lr}x{n_bs}: choose 1..{len(learning_rates)} learning rates and "
                         f"1..{len(batch_sizes)} batch sizes")
    lrs = [learning_rates[i] for i in _spread(len(learning_rates), n_lr)]
    sizes = [batch_sizes[i] for i in _spread(len(batch_sizes), n_bs)]
    return [(lr, bs) for lr in lrs for bs in sizes]


def cross_validate(
    make_model: MakeModel,
    table: pd.DataFrame,
    *,
    task: str,
    variant: str,
    folds: int = 5,
    lr: float = 1e-4,
    batch_size: int = 128,
    max_epochs: int = 10,
    patience: int = 5,
    valid_fraction: float = 0.1,
    max_folds: int | None = None,
    splits: Sequence[FoldSplit] | None = None,
    deadline: float | None = None,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
    history: list[dict] | None = None,
    **train_options,
) -> pd.DataFrame:
    """Stratified k-fold cross-validation of a classifier on a labeled table.

    Parameters
    ----------
    make_model : callable
        ``make_model(fold) -> nn.Module``: a fresh classifier for each fold.
    table : pandas.DataFrame
        ``sequence`` (str) and ``label`` (int, ``0..K-1``) columns, as from :mod:`.load`.
    task, variant : str
        Written into the result table.
    folds : int
        k; each fold is the test set once. Needs at least ``k`` examples of every class.
    valid_fraction : float
        Share of each training part held out (stratified) for early stopping.
    max_folds : int, optional
        Run only the first ``max_folds`` of the ``k`` folds (the test sets stay the 1/k splits).
    splits : sequence of FoldSplit, optional
        The folds to use (from :func:`ldarnet.finetune.folds.fold_splits`), so that several
        variants share them; by default they are drawn from ``folds``, ``valid_fraction``, ``seed``.
    deadline : float, optional
        ``time.monotonic()`` by which everything should finish; the remaining time is shared
        evenly by the folds still to run (see :func:`ldarnet.finetune.train.train_classifier`).
    history : list, optional
        When given, one dict per epoch is appended: ``task, variant, fold, epoch, train_loss,
        val_loss, seconds`` (the per-epoch progress of every fold).
    **train_options
        Passed to :func:`~ldarnet.finetune.train.train_classifier` (``freeze_backbone``, ``bf16``,
        ``micro_batch_size``, ``weight_decay``).

    Returns
    -------
    pandas.DataFrame
        Tidy rows ``task, variant, fold, metric, value``; per fold the test ``mcc``, ``accuracy``,
        ``f1``, ``auroc``, and ``val_loss`` (best), ``epochs``, ``best_epoch``, ``steps``,
        ``train_seconds``, ``lr``, ``batch_size``, ``n_train``, ``n_test``.
    """
    labels = np.array(table["label"], dtype=np.int64)  # a writable copy: torch refuses read-only arrays
    if splits is None:
        splits = fold_splits(labels, folds, valid_fraction=valid_fraction, seed=seed, max_folds=max_folds)
    ids, mask = encode_sequences(table["sequence"].tolist())
    y = torch.as_tensor(labels, dtype=torch.long)
    rows, overruns = [], []
    for position, split in enumerate(splits):
        fold, train_idx, valid_idx, test = split.fold, split.train, split.valid, split.test
        fold_deadline = _share(deadline, len(splits) - position, overruns)
        torch.manual_seed(seed + fold)
        model = make_model(fold)
        if log:
            log(f"[{task} / {variant}] fold {fold + 1}/{len(splits)}: {len(train_idx)} train, "
                f"{len(valid_idx)} validation, {len(test)} test; lr {lr:g}, batch {batch_size}")
        fit = train_classifier(model, _take(ids, mask, y, train_idx), _take(ids, mask, y, valid_idx), lr=lr,
                               batch_size=batch_size, max_epochs=max_epochs, patience=patience,
                               deadline=fold_deadline, seed=seed + fold, log=log, **train_options)
        if history is not None:
            history += [{"task": task, "variant": variant, "fold": fold} | epoch for epoch in fit.history]
        logits = predict_logits(model, ids[test], mask[test], bf16=train_options.get("bf16", False))
        scores = classification_metrics(labels[test], logits)
        if log:
            log(f"[{task} / {variant}] fold {fold + 1}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
        extra = _fit_record(fit) | {"lr": lr, "batch_size": batch_size, "n_train": len(train_idx), "n_test": len(test)}
        rows += [(task, variant, fold, metric, float(value)) for metric, value in (scores | extra).items()]
        if fold_deadline is not None:
            overruns.append(max(0.0, time.monotonic() - fold_deadline))
        del model
    return pd.DataFrame.from_records(rows, columns=list(RESULT_COLUMNS))


def grid_search(
    make_model: MakeModel,
    table: pd.DataFrame,
    grid: Sequence[tuple[float, int]],
    *,
    task: str,
    variant: str,
    max_epochs: int = 10,
    patience: int = 5,
    valid_fraction: float = 0.1,
    deadline: float | None = None,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
    **train_options,
) -> tuple[tuple[float, int], pd.DataFrame]:
    """Pick the learning rate and batch size with the best validation MCC.

    Every configuration trains on the same stratified split (``1 - valid_fraction`` to train,
    ``valid_fraction`` to validate, early stopping on that validation loss). Ties in MCC go to the
    lower validation loss.

    Returns
    -------
    best : (float, int)
        The chosen (learning rate, batch size).
    table : pandas.DataFrame
        Tidy rows ``task, variant, lr, batch_size, metric, value`` with the validation ``mcc``,
        ``accuracy``, ``f1``, ``auroc``, ``val_loss``, ``epochs``, ``train_seconds`` of each configuration.
    """
    if not grid:
        raise ValueError("the hyper-parameter grid is empty")
    labels = np.array(table["label"], dtype=np.int64)  # a writable copy: torch refuses read-only arrays
    ids, mask = encode_sequences(table["sequence"].tolist())
    y = torch.as_tensor(labels, dtype=torch.long)
    train_idx, valid_idx = _split_validation(np.arange(len(labels)), labels, valid_fraction, seed)
    rows, scored, overruns = [], [], []
    for i, (lr, batch_size) in enumerate(grid):
        run_deadline = _share(deadline, len(grid) - i, overruns)
        torch.manual_seed(seed)
        model = make_model(-1)
        fit = train_classifier(model, _take(ids, mask, y, train_idx), _take(ids, mask, y, valid_idx), lr=lr,
                               batch_size=batch_size, max_epochs=max_epochs, patience=patience,
                               deadline=run_deadline, seed=seed, **train_options)
        scores = classification_metrics(labels[valid_idx], predict_logits(model, ids[valid_idx], mask[valid_idx]))
        if run_deadline is not None:
            overruns.append(max(0.0, time.monotonic() - run_deadline))
        record = scores | {"val_loss": fit.best_val_loss, "epochs": fit.epochs, "train_seconds": fit.seconds}
        rows += [(task, variant, lr, batch_size, k, float(v)) for k, v in record.items()]
        mcc = scores["mcc"] if math.isfinite(scores["mcc"]) else -math.inf
        scored.append((mcc, -fit.best_val_loss, -i, (lr, batch_size)))
        if log:
            log(f"[{task} / {variant}] grid {i + 1}/{len(grid)}: lr {lr:g}, batch {batch_size}: "
                f"validation MCC {scores['mcc']:.3f}, loss {fit.best_val_loss:.4f}")
        del model
    best = max(scored)[3]
    return best, pd.DataFrame.from_records(rows, columns=list(GRID_COLUMNS))


def write_results_table(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a results table as CSV atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))
    return path


# -- internals ---------------------------------------------------------------------------------

def _spread(n: int, k: int) -> list[int]:
    """k indices spread evenly over range(n), both ends included when k > 1."""
    if k == 1:
        return [n // 2]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def _take(ids: torch.Tensor, mask: torch.Tensor, y: torch.Tensor, index: np.ndarray):
    index = torch.as_tensor(index, dtype=torch.long)
    return ids[index], mask[index], y[index]


def _share(deadline: float | None, runs_left: int, overruns: list[float]) -> float | None:
    """This run's training deadline: an even share of the time left, minus the time that scoring
    after the deadline is expected to take (the mean overrun of the runs so far; 15% of the share
    before any run has been measured)."""
    if deadline is None:
        return None
    now = time.monotonic()
    share = max(0.0, deadline - now) / max(runs_left, 1)
    expected = sum(overruns) / len(overruns) if overruns else 0.15 * share
    return now + max(share - expected, 0.0)


def _fit_record(fit: FitResult) -> dict[str, float]:
    return {"val_loss": fit.best_val_loss, "epochs": fit.epochs, "best_epoch": fit.best_epoch,
            "steps": fit.steps, "train_seconds": fit.seconds}
