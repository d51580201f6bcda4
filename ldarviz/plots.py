"""Plots of results tables, training logs, boundary profiles and token lengths.

Every function takes ``ax=`` (drawn into; a new figure when None) and ``save_path=`` (written
with provenance metadata via :func:`ldarviz.provenance.save_figure`), returns the Figure and never
calls ``plt.show()``.

Inputs:

- the tidy results table ``task, variant, fold, metric, value`` (``ldarnet.finetune.crossval``);
- ``metrics.jsonl`` training logs, one JSON object per line with ``step``, ``ratio_loss`` and
  either ``compression`` (a list, one value per stage) or ``compression_stage<k>`` keys.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .provenance import attach, file_sha256, finish_figure

RESULT_COLUMNS = ["task", "variant", "fold", "metric", "value"]
#: default way to read a compression ratio from a variant name: "ratio=4" (``ldarnet ablate``), "ratio_8", "R=2.5", "N4"
RATIO_PATTERN = r"(?:ratio|R|N)[=_-]?(\d+(?:\.\d+)?)"


def _axes(ax, figsize=(6, 4)):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def read_results(path: str | os.PathLike) -> pd.DataFrame:
    """Read the tidy results CSV, checking its columns and that ``value`` is numeric (errors name the line)."""
    path = Path(path)
    table = pd.read_csv(path)
    missing = [c for c in RESULT_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected {RESULT_COLUMNS}")
    values = pd.to_numeric(table["value"], errors="coerce")
    bad = values.isna() & table["value"].notna()
    if bad.any():
        k = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"{path}, line {k + 2}: value {table['value'].iloc[k]!r} is not a number")
    table["value"] = values
    return attach(table, {"inputs": {str(path): file_sha256(path)}})


def read_metrics(path: str | os.PathLike) -> pd.DataFrame:
    """Read a ``metrics.jsonl`` log into a DataFrame with ``compression_stage<k>`` columns.

    Errors name the file and line of a malformed JSON line or one without ``step``.
    """
    path = Path(path)
    rows = []
    with open(path) as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}, line {lineno}: not valid JSON ({err.msg})") from None
            if not isinstance(record, dict) or "step" not in record:
                raise ValueError(f"{path}, line {lineno}: expected a JSON object with a 'step' field")
            stages = record.pop("compression", None)
            if isinstance(stages, list):
                for k, value in enumerate(stages):
                    record[f"compression_stage{k}"] = value
            rows.append(record)
    if not rows:
        raise ValueError(f"{path}: no metric lines")
    return attach(pd.DataFrame(rows), {"inputs": {str(path): file_sha256(path)}})


def summarize_results(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean, standard deviation and fold count of ``metric`` per (task, variant)."""
    rows = results[results["metric"] == metric]
    if rows.empty:
        raise ValueError(f"no rows with metric {metric!r} (have {sorted(results['metric'].unique())})")
    out = rows.groupby(["task", "variant"], sort=False)["value"].agg(mean="mean", sd="std", n="count").reset_index()
    out["sd"] = out["sd"].fillna(0.0)
    return out


def plot_ablation(results: pd.DataFrame, metric: str = "mcc", *, tasks=None, variants=None, ax=None,
                  save_path=None):
    """Grouped bars: ``metric`` per task (groups) and variant (bars), mean ± SD over folds as error bars."""
    summary = summarize_results(results, metric)
    tasks = list(tasks) if tasks is not None else list(pd.unique(summary["task"]))
    variants = list(variants) if variants is not None else list(pd.unique(summary["variant"]))
    fig, ax = _axes(ax, figsize=(max(4, 1.2 * len(tasks) * max(1, len(variants)) / 2), 4))
    width = 0.8 / max(len(variants), 1)
    table = summary.set_index(["task", "variant"])
    for k, variant in enumerate(variants):
        means = [table["mean"].get((t, variant), np.nan) for t in tasks]
        sds = [table["sd"].get((t, variant), np.nan) for t in tasks]
        ax.bar(np.arange(len(tasks)) + (k - (len(variants) - 1) / 2) * width, means, width, yerr=sds,
               capsize=3, label=variant)
    ax.set_xticks(np.arange(len(tasks)), tasks, rotation=30, ha="right")
    ax.set_ylabel(f"{metric} (mean ± SD over folds)")
    ax.legend(title="variant", fontsize="small")
    return finish_figure(fig, save_path=save_path, provenance=dict(results.attrs.get("provenance", {}), parameters={"plot": "ablation", "metric": metric}))


def plot_ratio_sweep(results: pd.DataFrame, metric: str = "mcc", *, ratios: dict | None = None,
                     pattern: str = RATIO_PATTERN, family: str | None = None, ax=None, save_path=None):
    """``metric`` against the target compression ratio, one line per task, with SD error bars.

    The ratio of each variant comes from ``ratios`` (variant -> float) or else from ``pattern``
    (a regex with one group) matched in the variant name; variants without a ratio are skipped.
    ``family`` (a regex) keeps only matching variants, e.g. ``"learned"`` to leave out fixed-grid ones.
    """
    summary = summarize_results(results, metric)
    if family is not None:
        summary = summary[summary["variant"].astype(str).str.contains(family, regex=True)]
    if ratios is None:
        found = summary["variant"].map(lambda v: re.search(pattern, str(v)))
        summary["ratio"] = found.map(lambda m: float(m.group(1)) if m else np.nan)
    else:
        summary["ratio"] = summary["variant"].map(ratios).astype(float)
    summary = summary.dropna(subset=["ratio"])
    if summary.empty:
        raise ValueError(f"no variant carries a compression ratio (pattern {pattern!r}); pass ratios={{variant: ratio}}")
    fig, ax = _axes(ax)
    for task, sub in summary.groupby("task", sort=False):
        sub = sub.sort_values("ratio")
        ax.errorbar(sub["ratio"], sub["mean"], yerr=sub["sd"], marker="o", capsize=3, label=task)
    ax.set_xlabel("target compression ratio")
    ax.set_ylabel(f"{metric} (mean ± SD over folds)")
    ax.legend(title="task", fontsize="small")
    return finish_figure(fig, save_path=save_path, provenance=dict(results.attrs.get("provenance", {}), parameters={"plot": "ratio_sweep", "metric": metric}))


def _own_rate(table: pd.DataFrame, stage: int) -> tuple[list, list]:
    """Steps and the router's own rate (``reliance.compression_unmasked``: held-out windows, nothing masked)
    from the path-reliance records a log carries (``ldarnet pretrain --reliance-every K``); empty if none."""
    if "reliance" not in table:
        return [], []
    pairs = [(step, record["compression_unmasked"][stage]) for step, record in zip(table["step"], table["reliance"])
             if isinstance(record, dict) and len(record.get("compression_unmasked") or ()) > stage]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def plot_compression_over_training(runs: dict, *, stage: int = 0, target: float | None = None, ax=None, save_path=None):
    """Realised compression of one stage over training steps, one line per run.

    The line is the compression of the training windows as the model saw them (masked). Where a log
    carries path-reliance records, the router's own rate on unmasked held-out windows is drawn as dots
    of the same colour: with ``mask_protection`` every [MASK] is forced to be a boundary, so the line
    then sits below the rate the model shows at inference.

    Parameters
    ----------
    runs : dict[str, path or DataFrame]
        Label (e.g. ``"with ratio loss"``) -> ``metrics.jsonl`` path or :func:`read_metrics` table.
    stage : int
        Which stage's ``compression_stage<k>`` to draw.
    target : float, optional
        Draws the target ratio as a dashed line.
    """
    fig, ax = _axes(ax)
    inputs = {}
    column = f"compression_stage{stage}"
    for label, log in runs.items():
        table = read_metrics(log) if isinstance(log, (str, os.PathLike)) else log
        if column not in table:
            raise ValueError(f"run {label!r}: no {column} in its metrics (columns: {list(table.columns)})")
        inputs.update(table.attrs.get("provenance", {}).get("inputs", {}))
        line, = ax.plot(table["step"], table[column], label=label)
        steps, own = _own_rate(table, stage)
        if steps:  # under mask protection the training rate counts forced boundaries; the router's own differs
            ax.plot(steps, own, "o", markersize=3, color=line.get_color(), label=f"{label}: router's own rate")
    if target is not None:
        ax.axhline(target, linestyle="--", color="grey", label=f"target {target:g}")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel(f"realised compression, stage {stage}")
    ax.legend(fontsize="small")
    return finish_figure(fig, save_path=save_path, provenance={"inputs": inputs, "parameters": {"plot": "compression", "stage": stage}})


def plot_profiles(profiles: pd.DataFrame, *, ax=None, save_path=None, title: str | None = None, **select):
    """Aligned boundary profiles with their bootstrap bands, one line per ``set`` (true / controls).

    ``select`` filters rows first, e.g. ``motif_id="MA0108.3_TBP"`` or ``kind="donor"``.
    """
    for column, value in select.items():
        profiles = profiles[profiles[column] == value]
    if profiles.empty:
        raise ValueError(f"no profile rows for {select}")
    fig, ax = _axes(ax)
    for name, sub in profiles.groupby("set", sort=False):
        line, = ax.plot(sub["offset"], sub["mean"], label=name)
        ax.fill_between(sub["offset"], sub["lo"], sub["hi"], alpha=0.25, color=line.get_color(), linewidth=0)
    ax.axvline(0, color="black", linewidth=0.6, linestyle=":")
    ax.set_xlabel("offset from anchor (bases, strand-aware)")
    ax.set_ylabel("mean boundary probability")
    ax.set_title(title or ", ".join(f"{v}" for v in select.values()))
    ax.legend(fontsize="small")
    return finish_figure(fig, save_path=save_path, provenance=profiles.attrs.get("provenance"))


def plot_token_lengths(table: pd.DataFrame, tokenizer: str, *, max_length: int = 20, contexts=None, ax=None, save_path=None):
    """Normalised token-length distribution per context for one tokenizer (MergeDNA Fig. 2 style)."""
    sub = table[table["tokenizer"] == tokenizer]
    if sub.empty:
        raise ValueError(f"no rows for tokenizer {tokenizer!r} (have {sorted(table['tokenizer'].unique())})")
    fig, ax = _axes(ax)
    contexts = list(contexts) if contexts is not None else list(pd.unique(sub["context"]))
    lengths = np.arange(1, max_length + 1)
    for context in contexts:
        rows = sub[sub["context"] == context].set_index("length")["fraction"]
        ax.plot(lengths, rows.reindex(lengths, fill_value=0.0).to_numpy(), marker=".", label=context)
    ax.set_xlabel("token length (bases)")
    ax.set_ylabel("fraction of tokens")
    ax.set_title(tokenizer)
    ax.legend(fontsize="small")
    return finish_figure(fig, save_path=save_path, provenance=table.attrs.get("provenance"))


def plot_loss(metrics, columns=("loss", "mlm_loss"), *, ax=None, save_path=None, title: str | None = None):
    """Training loss per optimiser step, one line per column (natural-log units).

    Parameters
    ----------
    metrics : path or DataFrame
        A ``metrics.jsonl`` log or its :func:`read_metrics` table (``step`` plus the columns).
    columns : sequence of str
        Which losses to draw (``loss`` is the total, ``mlm_loss`` its masked-LM part).
    """
    table = read_metrics(metrics) if isinstance(metrics, (str, os.PathLike)) else metrics
    missing = [c for c in columns if c not in table]
    if missing:
        raise ValueError(f"no {missing[0]} in the metrics (columns: {list(table.columns)})")
    fig, ax = _axes(ax, figsize=(5, 3.2))
    labels = {"loss": "loss", "mlm_loss": "MLM loss"}
    for column in columns:
        ax.plot(table["step"], table[column], marker="o" if len(table) <= 30 else None, label=labels.get(column, column))
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("loss (nats)")
    if len(columns) > 1:
        ax.legend()
    if title:
        ax.set_title(title)
    return finish_figure(fig, save_path=save_path, provenance={
        "inputs": table.attrs.get("provenance", {}).get("inputs", {}), "parameters": {"plot": "loss", "columns": list(columns)}})


def plot_training_run(run_dir: str | os.PathLike, *, stage: int = 0, save_path=None, provenance: dict | None = None):
    """A pretraining run at a glance: losses (left) and realised compression against the target (right).

    Parameters
    ----------
    run_dir : path
        A training-run folder with ``metrics.jsonl`` and ``config.json`` (``target_ratio``). Other
        ``<label>_metrics.jsonl`` logs beside it (earlier attempts) are drawn in the compression
        panel under their label; the compression axis is logarithmic so a collapsed run shows.
    stage : int
        Which stage's compression to draw.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: ``plot_loss`` and ``plot_compression_over_training``.
    """
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    log = run_dir / "metrics.jsonl"
    if not log.is_file():
        raise FileNotFoundError(f"{run_dir}: no metrics.jsonl (not a training-run folder)")
    main = read_metrics(log)
    runs = {"this run": main}
    for other in sorted(run_dir.glob("*_metrics.jsonl")):
        runs[other.name[: -len("_metrics.jsonl")]] = read_metrics(other)
    config = run_dir / "config.json"
    target = json.loads(config.read_text()).get("target_ratio", [None])[stage] if config.is_file() else None
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    plot_loss(main, ax=left)
    plot_compression_over_training(runs, stage=stage, target=target, ax=right)
    right.set_yscale("log")
    fig.tight_layout()
    return finish_figure(fig, save_path=save_path, provenance=provenance)


def last_step(metrics) -> dict:
    """The last logged step of a run: ``steps, tokens, loss, mlm_loss, compression`` (stage 0) as plain numbers."""
    table = read_metrics(metrics) if isinstance(metrics, (str, os.PathLike)) else metrics
    if table.empty:
        raise ValueError("the metrics log has no steps")
    last = table.iloc[-1]
    out = {"steps": int(last["step"])}
    for key, column, kind in (("tokens", "tokens", int), ("loss", "loss", float), ("mlm_loss", "mlm_loss", float),
                              ("compression", "compression_stage0", float)):
        if column in table:
            out[key] = kind(last[column])
    return out
