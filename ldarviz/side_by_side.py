"""Two or more models through the same analyses, side by side (notebook 08: MergeDNA beside LDARNet).

Every analysis of the workbench takes a model through the ``BoundaryOutput`` seam, so comparing
models is a matter of running each analysis once per model and stacking the tidy tables with a
``model`` column; the verdicts then come from the same :func:`ldarviz.beats_controls` grouped by
model. This module holds the few steps that are specific to a comparison:

- :func:`training_budget`: what each checkpoint was trained on (its run records), so a comparison
  says whether the models saw the same tokens;
- :func:`stack_by_model`: one table from per-model tables (provenance kept per model);
- :func:`model_length_table`: MergeDNA's Fig. 2 (token lengths per genomic context) with every
  model's learned boundaries, fixed k-mers and BPE in one table;
- :func:`length_summary`: mean token length per context and tokenizer (the figure as numbers);
- :func:`compare_mcc`: paired per-fold MCC difference between two models scored on the same folds;
- :func:`finetune_runs`: full fine-tuning rows of several checkpoints from one acceptance run folder
  (``results/finetune-defaults/acceptance.py``), each checked against the loaded model's hash;
- :func:`throughput_table`: bp/s per model from one benchmark record (``bench/bench_mergedna.py``);
- :func:`save_results` / :func:`load_results`: heavy per-model results cached in a folder, tied
  to the checkpoint's content hash so a stale cache is refused instead of shown.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .provenance import attach, make_provenance
from .token_lengths import COUNT_COLUMNS, learned_length_counts, token_length_distributions

__all__ = ["training_budget", "budget_note", "stack_by_model", "model_length_table", "length_summary", "compare_mcc", "summarize_mcc", "finetune_runs", "throughput_table",
           "save_results", "load_results"]


def training_budget(models: dict) -> pd.DataFrame:
    """One row per model from its checkpoint folder's ``run_summary.json`` and ``run.json``.

    ``models`` maps a label to a :class:`ldarviz.Loaded`. Columns: ``model, kind, parameters, steps_done,
    steps_planned, tokens, tokens_planned, stopped_early, train_seconds, heldout_loss`` (``eval.json``'s
    ``mlm_loss``; NaN without one). Raises ValueError naming the folder when a record is missing.
    """
    rows = []
    for label, loaded in models.items():
        folder = Path(loaded.path) if loaded.path is not None else None
        if folder is None or not (folder / "run_summary.json").is_file() or not (folder / "run.json").is_file():
            raise ValueError(f"{label}: {folder} has no run_summary.json/run.json (not a pretraining run's checkpoint)")
        summary = json.loads((folder / "run_summary.json").read_text())
        run = json.loads((folder / "run.json").read_text())
        rows.append({"model": label, "kind": run.get("config", {}).get("model_kind", "ldarnet"),
                     "parameters": summary["parameters"], "steps_done": summary["steps_done"],
                     "steps_planned": summary["steps_planned"], "tokens": summary["tokens"],
                     "tokens_planned": run["steps"] * run["batch_size"] * run["seq_len"],
                     "stopped_early": bool(summary.get("stopped_early", False)),
                     "train_seconds": summary["train_seconds"],
                     "heldout_loss": summary.get("eval", {}).get("mlm_loss", float("nan"))})
    return pd.DataFrame(rows)


def budget_note(budget: pd.DataFrame) -> str:
    """One sentence from :func:`training_budget`: did the models see the same number of tokens, each its full plan?"""
    done = (budget["tokens"] == budget["tokens_planned"]) & ~budget["stopped_early"]
    if done.all() and budget["tokens"].nunique() == 1:
        return f"Both models finished the same budget: {int(budget['tokens'].iloc[0]):,} tokens each."
    parts = [f"{r.model} {int(r.tokens):,} of {int(r.tokens_planned):,} planned tokens ({r.steps_done} of {r.steps_planned} steps)"
             for r in budget.itertuples()]
    return ("UNEQUAL TRAINING, so differences below mix model and budget: " + "; ".join(parts) + ".")


def stack_by_model(tables: dict[str, pd.DataFrame], *, column: str = "model") -> pd.DataFrame:
    """Concatenate per-model tables, adding ``column`` (the model's label) first.

    ``attrs["provenance"]`` becomes ``{label: that table's provenance}``. Raises ValueError when
    ``tables`` is empty or a table already has ``column``.
    """
    if not tables:
        raise ValueError("no tables to stack")
    parts = []
    for label, table in tables.items():
        if column in table.columns:
            raise ValueError(f"the table of {label!r} already has a {column!r} column")
        parts.append(table.assign(**{column: label})[[column, *table.columns]])
    stacked = pd.concat(parts, ignore_index=True)
    stacked.attrs["provenance"] = {label: t.attrs.get("provenance") for label, t in tables.items()}
    return stacked


def model_length_table(boundaries: dict[str, dict[str, np.ndarray]], regions: pd.DataFrame, sequences, *,
                       kmers=(6,), bpe_vocab_size: int | None = 4096, bpe_max_bases: int = 5_000_000,
                       threshold: float = 0.5, seed: int = 0) -> pd.DataFrame:
    """Token-length counts per context for every model's boundaries plus k-mers and BPE, one table.

    Parameters
    ----------
    boundaries : dict
        ``{model label: {seq_id: (L,) boundary probabilities or bool mask}}`` (0-based, forward strand).
    regions : DataFrame
        From :func:`ldarviz.context_regions`.
    sequences : path or mapping
        The sequences the boundaries were read from (BPE is trained on them).

    Returns
    -------
    DataFrame
        ``tokenizer, context, length, count, fraction``; ``tokenizer`` is each model's label, then
        ``kmer<k>`` and ``bpe<vocab>`` (computed once). Edge-truncated tokens are dropped for all alike.
    """
    if not boundaries:
        raise ValueError("no model boundaries given")
    clash = set(boundaries) & ({f"kmer{k}" for k in kmers} | ({f"bpe{bpe_vocab_size}"} if bpe_vocab_size else set()))
    if clash:
        raise ValueError(f"model label(s) {sorted(clash)} clash with a baseline tokenizer's name")
    first, *rest = boundaries
    table = token_length_distributions(boundaries[first], regions, sequences, kmers=kmers, bpe_vocab_size=bpe_vocab_size,
                                       bpe_max_bases=bpe_max_bases, threshold=threshold, seed=seed)
    record = table.attrs["provenance"]
    table = table.assign(tokenizer=table["tokenizer"].replace({"learned": first}))[COUNT_COLUMNS]
    extra = [learned_length_counts(boundaries[label], regions, threshold=threshold).assign(tokenizer=label)[COUNT_COLUMNS]
             for label in rest]
    table = pd.concat([table, *extra], ignore_index=True)
    order = {name: i for i, name in enumerate([*boundaries, *sorted(set(table["tokenizer"]) - set(boundaries))])}
    table = table.sort_values(["tokenizer", "context", "length"], key=lambda s: s.map(order) if s.name == "tokenizer" else s,
                              kind="stable").reset_index(drop=True)
    table["fraction"] = table["count"] / table.groupby(["tokenizer", "context"])["count"].transform("sum")
    record = dict(record, models=list(boundaries), analysis="model_length_table")
    return attach(table, record)


def length_summary(table: pd.DataFrame, *, statistic: str = "mean") -> pd.DataFrame:
    """Token length per context (rows) and tokenizer (columns): ``mean`` or ``median`` bases per token.

    ``table`` is a ``tokenizer, context, length, count`` table (:func:`model_length_table`). A
    last row ``all`` pools the contexts. Tokenizer columns keep their order of appearance.
    """
    if statistic not in ("mean", "median"):
        raise ValueError(f"statistic must be 'mean' or 'median', got {statistic!r}")

    def reduce(g: pd.DataFrame) -> float:
        if statistic == "mean":
            return float((g["length"] * g["count"]).sum() / g["count"].sum())
        g = g.groupby("length")["count"].sum().sort_index()
        cum = np.cumsum(g.to_numpy())
        return float(g.index[np.searchsorted(cum, cum[-1] / 2)])

    order = list(pd.unique(table["tokenizer"]))
    rows = {(t, c): reduce(g) for (t, c), g in table.groupby(["tokenizer", "context"], sort=False)}
    rows.update({(t, "all"): reduce(g) for t, g in table.groupby("tokenizer", sort=False)})
    out = pd.Series(rows).unstack(0)[order]
    contexts = [c for c in pd.unique(table["context"])] + ["all"]
    out = out.loc[contexts]
    out.index.name, out.columns.name = "context", "tokenizer"
    return out


def compare_mcc(results: pd.DataFrame, first: str, second: str, *, column: str = "model",
                metric: str = "mcc") -> pd.DataFrame:
    """Paired comparison of two models scored on the same folds: one row per task (and variant).

    ``results`` is a tidy ``task, variant, fold, metric, value`` table with a ``column`` naming the
    model (:func:`stack_by_model` of ``ldarnet.finetune`` results). Rows are paired by task, variant
    and fold; a fold missing for either model is an error (the folds must be the same).

    Returns
    -------
    DataFrame
        ``task, variant, n_folds, <first>, <second>, difference`` (mean of second - first over folds),
        ``sd_difference``, ``second_better`` (folds where second > first), ``pvalue`` (two-sided paired
        t-test; NaN with fewer than 2 folds or identical differences), ``verdict``.
    """
    from scipy.stats import ttest_rel

    sub = results[results["metric"] == metric]
    keys = ["task", "variant", "fold"]
    wide = sub.pivot_table(index=keys, columns=column, values="value", aggfunc="first")
    for name in (first, second):
        if name not in wide.columns:
            raise ValueError(f"no {metric} rows for model {name!r} (models: {list(wide.columns)})")
    missing = wide[[first, second]].isna().any(axis=1)
    if missing.any():
        raise ValueError(f"{int(missing.sum())} fold(s) scored for only one model, e.g. {wide.index[missing][0]}; "
                         "compare models on the same folds")
    rows = []
    for (task, variant), g in wide.groupby(level=["task", "variant"], sort=False):
        a, b = g[first].to_numpy(float), g[second].to_numpy(float)
        diff = b - a
        p = float("nan")
        if len(diff) >= 2 and np.ptp(diff) > 0:
            p = float(ttest_rel(b, a).pvalue)
        if np.isnan(p) or p >= 0.05:
            verdict = "no difference shown"
        else:
            verdict = f"{second} higher" if diff.mean() > 0 else f"{first} higher"
        rows.append({"task": task, "variant": variant, "n_folds": len(diff), first: a.mean(), second: b.mean(),
                     "difference": diff.mean(), "sd_difference": diff.std(ddof=1) if len(diff) > 1 else float("nan"),
                     "second_better": int((diff > 0).sum()), "pvalue": p, "verdict": verdict})
    return pd.DataFrame(rows)


def summarize_mcc(results: pd.DataFrame, *, column: str = "model", metric: str = "mcc",
                  shared_prefixes=("kmer",)) -> pd.DataFrame:
    """Mean, SD and fold count of ``metric`` per task, variant and model.

    Variants starting with one of ``shared_prefixes`` (the k-mer baselines) do not depend on the
    model: when every model's rows agree they appear once, with ``column`` = ``"(any)"``; when they
    differ (other folds or sequences) each model keeps its rows.
    """
    sub = results[results["metric"] == metric]
    shared = sub["variant"].str.startswith(tuple(shared_prefixes))
    parts = [sub[~shared]]
    for (_task, _variant), g in sub[shared].groupby(["task", "variant"], sort=False):
        per_model = [m.sort_values("fold")["value"].to_numpy() for _, m in g.groupby(column)]
        same = all(len(v) == len(per_model[0]) and np.allclose(v, per_model[0]) for v in per_model)
        parts.append(g[g[column] == g[column].iloc[0]].assign(**{column: "(any)"}) if same else g)
    table = pd.concat(parts, ignore_index=True)
    out = table.groupby(["task", "variant", column], sort=False)["value"].agg(["mean", "std", "count"]).reset_index()
    return out.sort_values(["task", "variant"], kind="stable").reset_index(drop=True)


def finetune_runs(directory: str | os.PathLike, tasks: list[str], arms: dict[str, tuple[str, object]]) -> pd.DataFrame:
    """Full fine-tuning MCC of several checkpoints on the same folds, read from an acceptance run folder.

    ``directory/TASK`` holds what ``results/finetune-defaults/acceptance.py`` wrote for one task:
    ``run.json`` + ``results.csv`` (the ``"pretrained"`` arm and the baselines, one checkpoint) and,
    for other checkpoints fine-tuned on the same folds, ``variants.json`` + ``variants.csv``.
    ``arms`` maps a model label to ``(variant name in those tables, loaded model)``.

    Returns
    -------
    DataFrame
        Tidy ``task, variant, fold, metric, value, model``: each arm's rows with ``variant`` =
        ``"fine-tuned"`` and ``model`` = its label, plus the k-mer baselines of the same folds with
        ``model`` = ``"(any)"``.

    Raises ValueError naming the file when a task folder, table or record is missing, when a run's
    checkpoint hash is not the loaded model's (stale results), or an arm has no rows.
    """
    parts = []
    for task in tasks:
        folder = Path(directory) / task
        read = {"run": _acceptance_files(folder, "run")}  # each record and table read once per task
        for label, (variant, loaded) in arms.items():
            stem = "run" if variant == "pretrained" else "variants"
            if stem not in read:
                read[stem] = _acceptance_files(folder, stem)
            record, table = read[stem]
            key = "checkpoint_sha256" if stem == "run" else "variant_checkpoint_sha256"
            if record.get(key) != loaded.sha256:
                raise ValueError(f"{folder / (stem + '.json')}: fine-tuned from checkpoint sha256 {str(record.get(key))[:12]}, "
                                 f"but {label} is {str(loaded.sha256)[:12]}; these results are of other weights")
            rows = table[table["variant"] == variant]
            if rows.empty:
                raise ValueError(f"{folder}: no rows of variant {variant!r} for {label}")
            parts.append(rows.assign(variant="fine-tuned", model=label))
        run = read["run"][1]
        parts.append(run[run["variant"].str.startswith("kmer")].assign(model="(any)"))
    return pd.concat(parts, ignore_index=True)


def _acceptance_files(folder: Path, stem: str) -> tuple[dict, pd.DataFrame]:
    """The record and table of one acceptance mode: ``run`` (run.json, results.csv) or ``variants``."""
    record, table = folder / f"{stem}.json", folder / ("results.csv" if stem == "run" else "variants.csv")
    for path in (record, table):
        if not path.is_file():
            raise ValueError(f"{path}: missing; run results/finetune-defaults/acceptance.py for {folder.name!r} first")
    return json.loads(record.read_text()), pd.read_csv(table)


def throughput_table(record: dict) -> pd.DataFrame:
    """bp/s per model and call from one benchmark record (the JSON of ``bench/bench_mergedna.py``).

    Returns ``length, batch, call, bp_per_s, ratio_to_ldarnet`` and, when the record has CPU seconds,
    ``bp_per_cpu_s``; ``attrs`` carry the record's ``command`` and load averages.
    """
    if "throughput" not in record:
        raise ValueError("benchmark record has no 'throughput' entry")
    rows = []
    for entry in record["throughput"]:
        for call, bp in entry["bp_per_s"].items():
            row = {"length": entry["length"], "batch": entry["batch"], "call": call, "bp_per_s": bp,
                   "ratio_to_ldarnet": entry["ratio_to_ldarnet"][call]}
            if "bp_per_cpu_s" in entry:
                row["bp_per_cpu_s"] = entry["bp_per_cpu_s"][call]
            rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs.update(command=record.get("command"), load_average_before=record.get("load_average_before"),
                       load_average_after=record.get("load_average_after"))
    return table


def save_results(directory: str | os.PathLike, loaded, tables: dict[str, pd.DataFrame], **extra) -> Path:
    """Write ``tables`` as CSVs into ``directory`` with a ``record.json`` naming the checkpoint and its hash.

    ``loaded`` is the :class:`ldarviz.Loaded` the results came from; ``extra`` (JSON-able) goes into
    the record (e.g. the command and its timing). Returns the folder.
    """
    from ldarnet import atomic_write_json

    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        tmp = folder / f".{name}.csv.tmp"
        table.to_csv(tmp, index=False)
        os.replace(tmp, folder / f"{name}.csv")
    record = {**loaded.provenance(), "tables": sorted(tables), **extra}
    atomic_write_json(folder / "record.json", record, indent=1)
    return folder


def load_results(directory: str | os.PathLike, loaded) -> tuple[dict[str, pd.DataFrame], dict]:
    """Read what :func:`save_results` wrote, refusing results of other weights.

    Raises ValueError naming the folder when it holds no record, when the record's checkpoint hash is
    not ``loaded.sha256`` (the cache is stale: re-run the script that wrote it), or a table is missing.
    Returns ``({name: DataFrame}, record)``; each table's ``attrs["provenance"]`` is the model's record.
    """
    folder = Path(directory)
    path = folder / "record.json"
    if not path.is_file():
        raise ValueError(f"{folder}: no record.json; run the script that writes these results first")
    record = json.loads(path.read_text())
    if record.get("checkpoint_sha256") != loaded.sha256:
        raise ValueError(f"{folder}: results of checkpoint sha256 {str(record.get('checkpoint_sha256'))[:12]}, but the "
                         f"loaded model is {str(loaded.sha256)[:12]} ({loaded.label}); the cache is stale, re-run its script")
    tables = {}
    for name in record["tables"]:
        csv = folder / f"{name}.csv"
        if not csv.is_file():
            raise ValueError(f"{folder}: record.json lists {name}.csv, which is missing")
        tables[name] = attach(pd.read_csv(csv), make_provenance(model=loaded, analysis=f"cached {name}"))
    return tables, record
