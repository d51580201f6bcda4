"""Ablations: pretrain variants that differ in ONE factor from a base config, then fine-tune each.

Factors (paper App. B), each varied alone while everything else stays at the base config:

- ``router``: ``learned`` | ``fixed`` (a boundary every N bases: *fixbound*) | ``none`` (*nochunk*);
- ``ratio``: the target compression N of the first stage, default {2, 4, 6, 8, 12};
- ``fusion``: ``mean`` | ``sum`` of the two BiMamba-2 directions;
- ``attention``: the outermost encoder with and without its attention layers (``m3t1`` vs ``m3``).

Every variant is pretrained by :func:`ldarnet.training.pretrain` with the same data stream, seed,
steps, batch and window length, so all see the same bases; then each is fine-tuned with the same
cross-validation protocol on every task. The run folder ``OUT`` gets:

- ``results.csv``: tidy ``task, variant, fold, metric, value`` (see :func:`ldarnet.finetune.cross_validate`);
- ``compute.csv``: per variant its factor and value, parameter count, steps, tokens, pretraining
  seconds, measured throughput (median of the logged steps, and a side-by-side timing of every
  variant on the same real batch in one process, interleaved), realised compression, losses;
- ``variants/<name>/``: ``config.json``, the pretraining run folder (``pretrain/``: ``run.json``,
  ``metrics.jsonl``, the model) and ``finetune-<task>.log``;
- ``ablate.json`` (arguments, scale, wall time), ``ablate.log`` and ``summary.md`` (the tables as markdown).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import statistics
import time
from pathlib import Path

import pandas as pd
import torch

from .config import LDARNetConfig

__all__ = ["run_ablation", "make_variants", "write_ablation_summary", "FACTORS", "DEFAULT_VALUES"]

FACTORS = ("router", "ratio", "fusion", "attention")
DEFAULT_VALUES = {"router": ("learned", "fixed", "none"), "ratio": (2, 4, 6, 8, 12), "fusion": ("mean", "sum")}


def make_variants(base: LDARNetConfig, factors: list[str], values: dict | None = None) -> list[dict]:
    """The variants of an ablation: the base config plus one change per (factor, value).

    Parameters
    ----------
    base : LDARNetConfig
        Every variant equals it except in one field.
    factors : list of str
        Names from :data:`FACTORS`.
    values : dict, optional
        factor -> values, overriding :data:`DEFAULT_VALUES` (``attention`` takes no values).

    Returns
    -------
    list of dict
        ``{"name", "factor", "value", "config"}``; the first is the base (``name == "base"``,
        ``factor == "base"``), then the others in factor order. A value equal to the base's is the
        base itself and appears once.
    """
    values = {**DEFAULT_VALUES, **(values or {})}
    variants = [{"name": "base", "factor": "base", "value": "", "config": base}]
    seen = [base.to_dict()]
    for factor in factors:
        if factor not in FACTORS:
            raise ValueError(f"unknown factor {factor!r}; choose from {FACTORS}")
        changes = _attention_changes(base) if factor == "attention" else [
            (value, _change(base, factor, value)) for value in values[factor]]
        for value, fields in changes:
            data = {**copy.deepcopy(base.to_dict()), **fields}
            try:
                config = LDARNetConfig.from_dict(data)
            except ValueError as err:
                raise ValueError(f"factor {factor}={value}: {err}") from None
            if config.to_dict() in seen:
                continue
            seen.append(config.to_dict())
            text = f"{value:g}" if isinstance(value, float) else str(value)
            variants.append({"name": f"{factor}={text}", "factor": factor, "value": text, "config": config})
    return variants


def _change(base: LDARNetConfig, factor: str, value) -> dict:
    if factor == "router":
        return {"router": [str(value)] + list(base.router[1:])}
    if factor == "ratio":
        return {"target_ratio": [float(value)] + list(base.target_ratio[1:])}
    return {"fusion": str(value)}


def _attention_changes(base: LDARNetConfig) -> list[tuple[str, dict]]:
    """The outermost encoder without its attention runs (``m3t1`` -> ``m3``), or with one added."""
    layout = copy.deepcopy(base.arch_layout)
    if len(layout) != 3:
        raise ValueError("factor attention needs a layout with an encoder ([encoder, [inner], decoder])")
    encoder = layout[0]
    stripped = "".join(k + n for k, n in re.findall(r"([mMtT])(\d+)", encoder) if k in "mM")
    if stripped == encoder:  # no attention in the base encoder: the variant adds one layer
        other = encoder + "t1"
    elif not stripped:
        raise ValueError(f"factor attention: encoder {encoder!r} has only attention layers; nothing is left without them")
    else:
        other = stripped
    layout[0] = other
    return [(other, {"arch_layout": layout})]


# -- the run ---------------------------------------------------------------------------------------
def run_ablation(
    *, base: str, factors: list[str], tasks: list[str], fasta: list[str], steps: int, batch_size: int, seq_len: int,
    out: str | Path, values: dict | None = None, weights: list[float] | None = None, val_records: list[str] = (),
    lr: float = 5e-4, pretrain_minutes: float | None = None, bf16: bool = False, folds: int = 5,
    max_folds: int | None = None, ft_epochs: int = 10, ft_patience: int = 5, ft_lr: float = 1e-4,
    ft_batch_size: int = 32, ft_max_sequences: int | None = None, finetune_minutes: float | None = None,
    scale: str | None = None, keep_training_state: bool = False, timing_repeats: int = 3,
    threads: int | None = None, seed: int = 0, quiet: bool = False, arguments: dict | None = None,
) -> Path:
    """Pretrain every one-factor variant of ``base`` identically, fine-tune each on every task; write ``out``.

    ``base`` is a preset name or config JSON; ``values`` overrides :data:`DEFAULT_VALUES` per
    factor; a task is ``CSV`` or ``CSV:SEQUENCE_COLUMN:LABEL_COLUMN``. ``arguments`` (e.g. the
    command's options) is recorded in ``ablate.json``. The files written are listed in the module
    docstring. Returns ``out`` as a Path.
    """
    from .finetune import classifier_factory, cross_validate, load_csv, write_results_table
    from .finetune.load import check_labels
    from .io import atomic_write_json, run_logger
    from .training import pretrain

    started = time.monotonic()
    if threads:
        torch.set_num_threads(threads)
    base_spec, base = base, _resolve(base)
    variants = make_variants(base, factors, values)
    tasks = [_load_task(spec, ft_max_sequences, seed, load_csv) for spec in tasks]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    log = run_logger(out / "ablate.log", quiet=quiet)
    scale = scale or f"{_preset_name(base_spec)}, {steps} steps x {batch_size} x {seq_len} bp"
    log(f"ablation over {', '.join(factors)}: {len(variants)} variants, {len(tasks)} task(s); scale: {scale}")
    compute, results = [], []
    # the k-mer baselines on exactly the folds cross_validate draws below (same seed, folds, validation share)
    from .finetune.baselines import KMER_SIZES, kmer_baseline
    from .finetune.folds import fold_splits
    for name, table in tasks:
        splits = fold_splits(table["label"].to_numpy(), folds, seed=seed, max_folds=max_folds)
        results += [kmer_baseline(table, splits, task=name, k=k, seed=seed) for k in KMER_SIZES]
    for variant in variants:
        folder = out / "variants" / _safe(variant["name"])
        folder.mkdir(parents=True, exist_ok=True)
        variant["config"].to_json(folder / "config.json")
        run_dir = folder / "pretrain"
        if (run_dir / "run_summary.json").is_file() and (run_dir / "model.safetensors").is_file():
            log(f"[{variant['name']}] reusing the finished pretraining in {run_dir}")
            summary = json.loads((run_dir / "run_summary.json").read_text())
        else:
            log(f"[{variant['name']}] pretraining {steps} steps")
            summary = pretrain(config=variant["config"], fasta=fasta, weights=weights, out=run_dir,
                               steps=steps, batch_size=batch_size, seq_len=seq_len,
                               checkpoint_every=steps, seed=seed, lr=lr, bf16=bf16,
                               device="cpu", val_records=val_records, max_minutes=pretrain_minutes,
                               progress=not quiet, keep_checkpoints=1)
            summary.pop("model", None)
            if not keep_training_state:  # resume state (optimiser, RNG) is large and not needed afterwards
                shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
        compute.append(_compute_row(variant, summary, run_dir))
        for name, table in tasks:
            num_labels = check_labels(table["label"].to_numpy(), where=name)
            make_model = classifier_factory(num_labels=num_labels, checkpoint=run_dir)
            task_log = run_logger(folder / f"finetune-{_safe(name)}.log", quiet=True)
            deadline = time.monotonic() + 60 * finetune_minutes if finetune_minutes else None
            rows = cross_validate(make_model, table, task=name, variant=variant["name"], folds=folds,
                                  lr=ft_lr, batch_size=ft_batch_size, max_epochs=ft_epochs,
                                  patience=ft_patience, max_folds=max_folds, deadline=deadline,
                                  seed=seed, log=task_log, bf16=bf16)
            mcc = rows.loc[rows["metric"] == "mcc", "value"]
            log(f"[{variant['name']}] {name}: MCC {mcc.mean():.3f} over {len(mcc)} fold(s)")
            results.append(rows)
            write_results_table(pd.concat(results, ignore_index=True), out / "results.csv")
        write_results_table(pd.DataFrame(compute), out / "compute.csv")
    if timing_repeats > 0:
        speeds = _side_by_side_throughput(out, variants, fasta, seq_len, batch_size, seed, bf16, timing_repeats)
        for row in compute:
            row["bp_per_s_side_by_side"] = speeds[row["variant"]]
        write_results_table(pd.DataFrame(compute), out / "compute.csv")
    record = {"scale": scale, "factors": list(factors), "variants": [v["name"] for v in variants],
              "tasks": [name for name, _ in tasks], "arguments": dict(arguments or {}),
              "wall_seconds": round(time.monotonic() - started, 1), "torch_threads": torch.get_num_threads(),
              "matched_steps": len({row["steps_done"] for row in compute}) == 1}
    atomic_write_json(out / "ablate.json", record)
    write_ablation_summary(out)
    log(f"done in {record['wall_seconds']:.0f} s: {out / 'results.csv'}, {out / 'compute.csv'}, {out / 'summary.md'}")
    return out


def write_ablation_summary(out: str | Path) -> Path:
    """Write ``OUT/summary.md``: the compute table and mean +- SD of each metric per task and variant.

    Every number is read from ``compute.csv``, ``results.csv`` and ``ablate.json`` in ``out``.
    """
    out = Path(out)
    record = json.loads((out / "ablate.json").read_text())
    compute = pd.read_csv(out / "compute.csv", keep_default_na=False)
    results = pd.read_csv(out / "results.csv")
    lines = [f"# Ablation over {', '.join(record['factors'])}", "", f"Scale: {record['scale']}.", "",
             f"Wall time {record['wall_seconds']:.0f} s with {record['torch_threads']} torch thread(s); "
             f"every variant ran the same number of steps: {record['matched_steps']}.", "", "## Compute", ""]
    lines += _markdown(compute)
    for metric in ("mcc", "accuracy", "auroc"):
        rows = results[results["metric"] == metric]
        table = rows.groupby(["task", "variant"], sort=False)["value"].agg(["mean", "std", "count"]).reset_index()
        table["value"] = [f"{m:.3f} ± {sd:.3f} (n={n})" if n > 1 else f"{m:.3f} (n=1)"
                          for m, sd, n in zip(table["mean"], table["std"], table["count"])]
        order = list(compute["variant"]) + [v for v in table["variant"].unique() if v not in set(compute["variant"])]
        wide = table.pivot(index="variant", columns="task", values="value").reindex(order).reset_index()
        lines += ["", f"## Held-out-fold {metric.upper() if metric != 'accuracy' else 'accuracy'} (mean ± SD over folds)", ""]
        lines += _markdown(wide)
    from .io import atomic_write_text

    return atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")


def _markdown(table: pd.DataFrame) -> list[str]:
    def text(value) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    cells = [[str(c) for c in table.columns]] + [[text(v) for v in row] for row in table.itertuples(index=False)]
    return ["| " + " | ".join(row) + " |" for row in cells[:1]] + ["|" + "---|" * len(cells[0])] + \
        ["| " + " | ".join(row) + " |" for row in cells[1:]]


def _compute_row(variant: dict, summary: dict, run_dir: Path) -> dict:
    """Parameters, tokens, throughput and realised compression of one pretraining run."""
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    speeds = [line["tokens_per_s"] for line in lines[1:]] or [line["tokens_per_s"] for line in lines]
    tail = lines[-max(1, len(lines) // 10):]
    config = variant["config"]
    row = {"variant": variant["name"], "factor": variant["factor"], "value": variant["value"],
           "router": config.router[0], "target_ratio": config.target_ratio[0], "fusion": config.fusion,
           "encoder": config.arch_layout[0], "parameters": summary["parameters"], "steps_done": summary["steps_done"],
           "tokens": summary["tokens"], "pretrain_seconds": round(summary["train_seconds"], 2),
           "bp_per_s_median": round(statistics.median(speeds), 1),
           "compression_realised": round(statistics.fmean(line["compression"][0] for line in tail), 3),
           "final_mlm_loss": round(statistics.fmean(line["mlm_loss"] for line in tail), 4)}
    if "eval" in summary:  # held-out MLM loss next to the loss of predicting base frequencies
        row["heldout_mlm_loss"] = round(summary["eval"]["mlm_loss"], 4)
        row["heldout_baseline_loss"] = round(summary["eval"].get("baseline_loss", float("nan")), 4)
    return row


def _side_by_side_throughput(out: Path, variants: list[dict], fasta, seq_len: int, batch_size: int, seed: int,
                             bf16: bool, repeats: int) -> dict[str, float]:
    """Forward+backward bp/s of every pretrained variant on one real batch, interleaved, median of rounds."""
    from .data.corpus import WindowCorpus
    from .model import LDARNet

    corpus = WindowCorpus(fasta, window_length=seq_len, seed=seed, quiet=True)
    inputs, labels = corpus.batch(range(min(batch_size, max(1, 4096 // seq_len))))
    corpus.close()
    models = {v["name"]: LDARNet.from_pretrained(out / "variants" / _safe(v["name"]) / "pretrain") for v in variants}
    times = {name: [] for name in models}
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else torch.autocast("cpu", enabled=False)
    for _ in range(repeats + 1):  # the first round warms up and is dropped
        for name, model in models.items():
            model.zero_grad(set_to_none=True)
            t0 = time.perf_counter()
            with autocast:
                loss = model(inputs, labels=labels).loss
            loss.backward()
            times[name].append(time.perf_counter() - t0)
    return {name: round(inputs.numel() / statistics.median(t[1:]), 1) for name, t in times.items()}


def _load_task(spec: str, max_sequences: int | None, seed: int, load_csv) -> tuple[str, pd.DataFrame]:
    path, *columns = spec.split(":")
    if len(columns) not in (0, 2):
        raise ValueError(f"--task {spec!r}: expected CSV or CSV:SEQUENCE_COLUMN:LABEL_COLUMN")
    table = load_csv(path, sequence_column=columns[0] if columns else None, label_column=columns[1] if columns else None)
    if max_sequences and len(table) > max_sequences:
        share = max_sequences / len(table)
        table = (table.groupby("label", group_keys=False).sample(frac=share, random_state=seed)
                 .sort_index().reset_index(drop=True))
    return Path(path).stem, table


def _resolve(spec: str) -> LDARNetConfig:
    from .checkpoint import resolve_config

    return resolve_config(spec)


def _preset_name(spec: str) -> str:
    return Path(spec).stem if spec.endswith(".json") else spec


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", name)


