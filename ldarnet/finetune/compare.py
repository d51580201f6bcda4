"""Fine-tuning beside its baselines on one set of folds: the table every fine-tuning result comes in.

Variants (the ``variant`` column of the tidy table):

- ``pretrained`` (or the name given): the checkpoint fine-tuned end to end with the recipe;
- ``random-init``: the same architecture and recipe from random weights;
- ``linear-probe``: logistic regression on the frozen checkpoint's pooled features (computed once);
- ``kmer-3`` .. ``kmer-6``: logistic regression on normalised k-mer counts.

Recipes: ``default`` (chosen by the grid in ``results/finetune-defaults``) and ``paper`` (the
paper's fixed proxy protocol: batch 128, one constant learning rate, early stopping with patience 5).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from .baselines import KMER_SIZES, frozen_features, kmer_baseline, linear_probe
from .crossval import cross_validate
from .folds import FoldSplit

__all__ = ["RECIPES", "BASELINES", "recipe", "compare_variants", "baseline_verdict", "defaults_within"]

#: training options of each protocol (passed to cross_validate / train_classifier); pooling is a model option
RECIPES: dict[str, dict] = {
    # chosen in results/finetune-defaults (README there): on the pretrained proxy 3e-4 beat 1e-3; pooling
    # "auto" follows the starting point (models.AUTO_POOLING): mean for a checkpoint (0.03-0.13 MCC above max
    # on the pretrained proxy), max from random weights (it finds a planted motif, mean did not in 6 epochs),
    # so neither arm is handicapped; batch 16 because small tasks need optimiser steps, not big batches
    "default": dict(lr=3e-4, batch_size=16, max_epochs=10, patience=3, schedule="cosine", warmup_fraction=0.1,
                    head_lr_scale=10.0, pooling="auto"),
    "paper": dict(lr=1e-4, batch_size=128, max_epochs=10, patience=5, schedule="constant", warmup_fraction=0.1,
                  head_lr_scale=1.0, pooling="mean"),
}
BASELINES = ("random-init", "linear-probe", "kmer")


def recipe(name: str = "default", **overrides) -> dict:
    """A copy of ``RECIPES[name]`` with the non-None ``overrides`` applied."""
    if name not in RECIPES:
        raise ValueError(f"--protocol {name!r}: choose one of {', '.join(RECIPES)}")
    return RECIPES[name] | {k: v for k, v in overrides.items() if v is not None}


def compare_variants(
    table: pd.DataFrame,
    splits: Sequence[FoldSplit],
    *,
    task: str,
    make_model: Callable[[int], object],
    make_random: Callable[[int], object] | None = None,
    variant: str = "pretrained",
    baselines: Sequence[str] = BASELINES,
    kmer_sizes: Sequence[int] = KMER_SIZES,
    training: dict,
    feature_cache: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = None,
    seed: int = 0,
    deadline: float | None = None,
    **train_options,
) -> pd.DataFrame:
    """Every variant on the same ``splits``; one tidy ``task, variant, fold, metric, value`` table.

    Parameters
    ----------
    make_model : callable
        ``make_model(fold)`` -> the classifier to fine-tune (the ``variant`` rows; its frozen
        features also feed ``linear-probe``).
    make_random : callable, optional
        The same architecture from random weights (``random-init``); skipped when None.
    baselines : sequence of str
        Any of ``random-init``, ``linear-probe``, ``kmer``.
    training : dict
        ``lr, batch_size, max_epochs, patience, schedule, warmup_fraction, head_lr_scale`` (a recipe
        without ``pooling``).
    feature_cache : path, optional
        ``.npy`` for the frozen features (reused when it matches).
    deadline : float, optional
        ``time.monotonic()`` budget shared evenly by the fine-tuned variants.
    """
    unknown = set(baselines) - set(BASELINES)
    if unknown:
        raise ValueError(f"unknown baseline(s) {sorted(unknown)}; choose from {', '.join(BASELINES)}")
    labels = np.asarray(table["label"], dtype=np.int64)
    parts = []
    if "kmer" in baselines:
        for k in kmer_sizes:
            rows = kmer_baseline(table, splits, task=task, k=k, seed=seed)
            parts.append(rows)
            if log:
                log(f"[{task} / kmer-{k}] MCC " + _mean_sd(rows))
    if "linear-probe" in baselines:
        started = time.monotonic()
        features = frozen_features(make_model(-1), table["sequence"].tolist(), cache=feature_cache, log=log,
                                   bf16=train_options.get("bf16", False))
        rows = linear_probe(features, labels, splits, task=task, seed=seed, setup_seconds=time.monotonic() - started)
        parts.append(rows)
        if log:
            log(f"[{task} / linear-probe] MCC " + _mean_sd(rows))
    arms = [(variant, make_model)] + ([("random-init", make_random)] if "random-init" in baselines and make_random else [])
    for i, (name, make) in enumerate(arms):
        arm_deadline = None if deadline is None else time.monotonic() + (deadline - time.monotonic()) / (len(arms) - i)
        rows = cross_validate(make, table, task=task, variant=name, splits=splits, deadline=arm_deadline, seed=seed,
                              log=log, **training, **train_options)
        parts.append(rows)
        if log:
            log(f"[{task} / {name}] MCC " + _mean_sd(rows))
    # fine-tuned variants first, then the baselines, in the order above
    order = [p for p in parts if p["variant"].iloc[0] in {a for a, _ in arms}] + \
            [p for p in parts if p["variant"].iloc[0] not in {a for a, _ in arms}]
    return pd.concat(order, ignore_index=True)


def _mean_sd(rows: pd.DataFrame) -> str:
    mcc = rows.loc[rows["metric"] == "mcc", "value"]
    sd = f" +- {mcc.std(ddof=1):.3f}" if len(mcc) > 1 else ""
    return f"{mcc.mean():.3f}{sd} over {len(mcc)} fold(s)"


def baseline_verdict(results: pd.DataFrame, *, variant: str = "pretrained", metric: str = "mcc") -> pd.DataFrame:
    """Per task: the fine-tuned ``variant`` against its best k-mer baseline, random init and the linear probe.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy ``task, variant, fold, metric, value`` rows (as from :func:`compare_variants`), every
        variant on the same folds.
    variant : str
        The fine-tuned model to judge.

    Returns
    -------
    pandas.DataFrame
        One row per task: ``folds``, ``{variant}_mean``, ``{variant}_sd``, ``best_kmer``,
        ``best_kmer_mean``, ``best_kmer_sd``, ``random_init_mean``, ``linear_probe_mean``,
        ``margin`` (variant minus best k-mer, in ``metric``), ``folds_ahead`` (folds where the variant
        beats that k-mer baseline), ``loses_to_kmer`` (bool: mean below
        the best k-mer mean) and ``verdict`` (one plain sentence).
    """
    scored = results[results["metric"] == metric]
    rows = []
    for task, part in scored.groupby("task", sort=False):
        stats = part.groupby("variant")["value"].agg(["mean", "std", "count"])
        if variant not in stats.index:
            raise ValueError(f"task {task!r} has no {variant!r} rows (variants: {', '.join(stats.index)})")
        kmers = stats[stats.index.str.startswith("kmer-")]
        if kmers.empty:
            raise ValueError(f"task {task!r} has no kmer-k rows to judge {variant!r} against")
        best = kmers["mean"].idxmax()
        own = stats.loc[variant]
        margin = own["mean"] - kmers.loc[best, "mean"]
        others = {name: stats["mean"].get(name, np.nan) for name in ("random-init", "linear-probe")}
        # paired by fold: every variant saw the same folds, so the per-fold differences carry the noise
        per_fold = part.pivot_table(index="fold", columns="variant", values="value")
        paired = (per_fold[variant] - per_fold[best]).dropna()
        ahead = f"ahead on {int((paired > 0).sum())} of {len(paired)} folds"
        if margin < 0:
            verdict = (f"{task}: {variant} LOSES to k-mer counting: {metric} {own['mean']:.3f} vs {best} "
                       f"{kmers.loc[best, 'mean']:.3f} ({margin:+.3f}, {ahead})")
        else:
            verdict = f"{task}: {variant} beats every k-mer baseline: {metric} {own['mean']:.3f} vs {best} " \
                      f"{kmers.loc[best, 'mean']:.3f} ({margin:+.3f}, {ahead})"
        if others["linear-probe"] == others["linear-probe"] and others["linear-probe"] > own["mean"]:
            verdict += f"; the frozen linear probe does better ({others['linear-probe']:.3f})"
        rows.append({"task": task, "folds": int(own["count"]), f"{variant}_mean": own["mean"],
                     f"{variant}_sd": own["std"], "best_kmer": best, "best_kmer_mean": kmers.loc[best, "mean"],
                     "best_kmer_sd": kmers.loc[best, "std"], "random_init_mean": others["random-init"],
                     "linear_probe_mean": others["linear-probe"], "margin": margin,
                     "folds_ahead": int((paired > 0).sum()), "loses_to_kmer": bool(margin < 0),
                     "verdict": verdict + f" over {int(own['count'])} fold(s)."})
    return pd.DataFrame(rows)


def defaults_within(grid: pd.DataFrame, default: str, *, tolerance: float = 0.05, metric: str = "mcc",
                    default_rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per task: is the ``default`` grid point within ``tolerance`` of the best point?

    Parameters
    ----------
    grid : pandas.DataFrame
        Tidy ``task, variant, fold, metric, value`` rows, one variant per grid point (e.g.
        ``0.0003-mean``), all on the same fold(s) of a task; the default point among them unless
        ``default_rows`` gives it.
    default : str
        The variant name of the default recipe's point.
    default_rows : pandas.DataFrame, optional
        The default point's rows from another run on the same folds (e.g. the acceptance run's
        ``pretrained`` arm): renamed to ``default`` and kept for the grid's tasks and folds only.

    Returns
    -------
    pandas.DataFrame
        ``task, folds, default_mcc, best, best_mcc, gap`` (best minus default, >= 0), ``within``,
        ``pvalue`` (two-sided paired t-test of best against default over the folds; NaN with one fold
        or identical differences): is a gap larger than the fold-to-fold noise?

    Raises ValueError when a task lacks the default point, or when its points were scored on
    different folds (means over other folds are not comparable).
    """
    scored = grid[grid["metric"] == metric]
    if default_rows is not None:
        extra = default_rows[default_rows["metric"] == metric].assign(variant=default)
        keys = scored[["task", "fold"]].drop_duplicates()
        scored = pd.concat([scored[scored["variant"] != default], extra.merge(keys, on=["task", "fold"])], ignore_index=True)
    rows = []
    for task, part in scored.groupby("task", sort=False):
        folds = part.groupby("variant")["fold"].apply(lambda f: tuple(sorted(f)))
        if default not in folds.index:
            raise ValueError(f"task {task!r}: no grid point {default!r} (have {', '.join(folds.index)})")
        if folds.nunique() > 1:
            raise ValueError(f"task {task!r}: grid points were scored on different folds: "
                             + "; ".join(f"{v} {list(f)}" for v, f in folds.items()))
        means = part.groupby("variant")["value"].mean()
        best = means.idxmax()
        gap = means[best] - means[default]
        by_fold = part.pivot_table(index="fold", columns="variant", values="value", aggfunc="first")
        diff = (by_fold[best] - by_fold[default]).to_numpy(float)
        pvalue = float("nan")
        if len(diff) >= 2 and np.ptp(diff) > 0:
            from scipy.stats import ttest_1samp

            pvalue = float(ttest_1samp(diff, 0.0).pvalue)
        rows.append({"task": task, "folds": len(folds[default]), "default_mcc": means[default],
                     "best": best, "best_mcc": means[best], "gap": gap, "within": bool(gap <= tolerance),
                     "pvalue": pvalue})
    return pd.DataFrame(rows)
