"""The pretraining loop: MLM + ratio loss on a :class:`~ldarnet.data.WindowCorpus`, resumable bit for bit.

Run-folder layout (``out``):

- ``run.json``: every argument of the run (a resumed run must repeat the ones that shape training);
- ``metrics.jsonl``: one JSON line per optimiser step (see :func:`pretrain`);
- ``checkpoints/step-XXXXXXXX/``: atomic training checkpoints (see :mod:`ldarnet.training.state`);
- ``model.safetensors`` + ``config.json``: the final model (``LDARNet.from_pretrained(out)``);
- ``eval.json``: held-out evaluation at the end, when the corpus has held-out data.

Batch bookkeeping: ``batch_size`` sequences per optimiser step in total, split evenly over the
ranks, each rank running ``grad_accum`` micro-batches. Window ``k`` of the corpus's training stream
goes to step ``k // batch_size``, whatever the number of ranks or micro-batches, so the data
position is simply ``step * batch_size``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm

from ..config import LDARNetConfig
from ..checkpoint import checkpoint_sha256, resolve_config
from ..data.corpus import WindowCorpus
from ..io import atomic_write_json, atomic_write_text
from ..model import LDARNet
from ..mergedna import MergeDNA, MergeDNAConfig
from . import distributed as D
from .evaluate import evaluate_mlm
from .optim import build_optimizer, build_param_groups, set_learning_rate, stage_lr_multipliers, wsd_factor
from .reliance import corpus_context_counts, evaluate_reliance, stage_modules
from .state import (capture_rng, latest_valid_checkpoint, load_checkpoint, remove_partial_writes, restore_rng,
                    save_checkpoint)

__all__ = ["pretrain", "TrainingDiverged", "plan_batches"]

# arguments that shape the loss curve: a resumed run must repeat them exactly
FROZEN_ARGS = ("config", "fasta", "weights", "steps", "batch_size", "seq_len", "seed", "lr", "weight_decay",
               "grad_accum", "bf16", "max_n_fraction", "val_records", "val_regions", "rc_prob", "mask_prob",
               "world_size", "router_lr_multiplier", "router_warmup_steps", "router_isolation_steps")


class TrainingDiverged(RuntimeError):
    """The loss or the gradient became NaN or infinite; the run stopped without updating the weights."""


def plan_batches(batch_size: int, world_size: int, seq_len: int, grad_accum: int | None) -> tuple[int, int]:
    """(micro-batch size, accumulation steps) per rank. Default: micro-batches of about 4k tokens."""
    if batch_size < 1 or batch_size % world_size:
        raise ValueError(f"--batch-size {batch_size} must be a positive multiple of the {world_size} process(es)")
    per_rank = batch_size // world_size
    if grad_accum is not None:
        if grad_accum < 1 or per_rank % grad_accum:
            raise ValueError(f"--grad-accum {grad_accum} must divide the per-process batch {per_rank}")
        return per_rank // grad_accum, grad_accum
    cap = max(1, 4096 // seq_len)
    micro = max(d for d in range(1, per_rank + 1) if per_rank % d == 0 and d <= cap)
    return micro, per_rank // micro


def _forward_loss(model, inputs, labels, autocast):
    with autocast:
        if isinstance(getattr(model, "module", model), MergeDNA):  # Eq. 8: MTR + 0.25 latent MTR + AMTM
            return model(inputs, labels=labels, objective=True)
        return model(inputs, labels=labels)


def pretrain(*, config: str | LDARNetConfig, fasta: list[str], out: str | os.PathLike, steps: int,
             batch_size: int, seq_len: int, checkpoint_every: int, seed: int = 0,
             weights: list[float] | None = None, resume: bool = False, lr: float = 5e-4,
             weight_decay: float = 0.01, grad_accum: int | None = None, bf16: bool = False,
             device: str = "auto", max_n_fraction: float = 0.1, val_records: list[str] = (),
             val_regions: str | None = None, val_windows: int = 64, rc_prob: float = 0.5, mask_prob: float = 0.15,
             keep_checkpoints: int = 3, max_minutes: float | None = None, progress: bool = True,
             threads: int | None = None, reliance_every: int = 0, reliance_windows: int = 16,
             router_lr_multiplier: float | None = None, router_warmup_steps: int = 0,
             router_isolation_steps: int = 0, router_params_isolation_steps: int = 0) -> dict:
    """Pretrain an LDARNet; see the module doc for the run folder. Returns a summary dict.

    Each line of ``metrics.jsonl`` holds ``step`` (optimiser steps done), ``tokens`` (bases seen, all
    ranks), ``loss``, ``mlm_loss``, ``ratio_loss`` (means over micro-batches and ranks),
    ``compression`` (per stage: mean input length / mean stage length), ``lr`` (backbone learning
    rate; outer levels get ``lr_multipliers`` times it), ``grad_norm`` (before clipping at 1.0),
    ``tokens_per_s`` and ``elapsed_s``. Every ``reliance_every`` steps (0: never) a line also holds
    ``reliance``: :func:`~ldarnet.training.reliance.evaluate_reliance` on ``reliance_windows`` held-out
    windows; eval.json always holds it.

    ``router_lr_multiplier`` trains the routers' projections at that multiple of their level's LR;
    ``router_warmup_steps`` chunks at a fixed stride N for the first steps while the routers still
    learn from the ratio loss on their own decisions (both are α = 0.03 collapse remedies to try);
    ``router_isolation_steps`` detaches p from the MLM loss for the first steps, so the routers learn
    from the ratio loss alone (AdamW scales that gradient up whatever α is);
    ``router_params_isolation_steps`` keeps the MLM gradient off the routers' own projections for the
    first steps while it still reaches the encoders through p: the ratio loss sets how many boundaries
    there are, the MLM loss (through the encoder's features) where they go.

    Raises
    ------
    ValueError
        Bad arguments or input files, or a run folder that conflicts with ``resume``.
    TrainingDiverged
        A non-finite loss or gradient; the last good checkpoint stays the newest one.
    """
    if threads:
        torch.set_num_threads(threads)
    info = D.init_distributed(device)
    try:
        return _pretrain(info, locals())
    finally:
        D.shutdown(info)


def _pretrain(info: D.DistInfo, a: dict) -> dict:
    out = Path(a["out"])
    cfg = resolve_config(a["config"])
    merge = isinstance(cfg, MergeDNAConfig)  # MergeDNA: its three-pass objective, no ratio loss or reliance
    steps, batch_size, seq_len = a["steps"], a["batch_size"], a["seq_len"]
    for name in ("steps", "batch_size", "seq_len", "checkpoint_every"):
        if not isinstance(a[name], int) or a[name] < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be a positive integer, got {a[name]!r}")
    if not a["lr"] > 0 or not math.isfinite(a["lr"]):
        raise ValueError(f"--lr {a['lr']} must be a positive number")
    for name in ("reliance_every", "router_warmup_steps", "router_isolation_steps", "router_params_isolation_steps"):
        if not isinstance(a[name], int) or a[name] < 0:
            raise ValueError(f"--{name.replace('_', '-')} must be a whole number >= 0, got {a[name]!r}")
    mult = a["router_lr_multiplier"]
    if mult is not None and not (mult > 0 and math.isfinite(mult)):
        raise ValueError(f"--router-lr-multiplier {mult} must be a positive number")
    micro, accum = plan_batches(batch_size, info.world_size, seq_len, a["grad_accum"])
    run_args = {k: a[k] for k in ("fasta", "weights", "steps", "batch_size", "seq_len", "checkpoint_every", "seed",
                                  "lr", "weight_decay", "grad_accum", "bf16", "max_n_fraction", "val_records",
                                  "val_regions", "val_windows", "rc_prob", "mask_prob", "keep_checkpoints",
                                  "reliance_every", "reliance_windows", "router_lr_multiplier", "router_warmup_steps")}
    for name in ("router_isolation_steps", "router_params_isolation_steps"):
        if a[name]:  # recorded only when used: older run folders resume unchanged
            run_args[name] = a[name]
    run_args.update(config=cfg.to_dict(), fasta=[str(f) for f in a["fasta"]], val_records=list(a["val_records"]),
                    world_size=info.world_size, micro_batch=micro, grad_accum=accum)
    _check_run_folder(out, run_args, a["resume"], info)

    corpus = WindowCorpus(a["fasta"], window_length=seq_len, weights=a["weights"], max_n_fraction=a["max_n_fraction"],
                          val_records=a["val_records"], val_regions=a["val_regions"], rc_prob=a["rc_prob"],
                          mask_prob=a["mask_prob"], seed=a["seed"], quiet=not info.is_main)
    torch.manual_seed(a["seed"])  # identical initial weights on every rank
    model = (MergeDNA if merge else LDARNet)(cfg).to(info.device)
    mults = [1.0] if merge else stage_lr_multipliers(cfg)  # MergeDNA: one level, no stage multipliers
    if a["router_lr_multiplier"] is None:
        optimizer = build_optimizer(model, lr=a["lr"], weight_decay=a["weight_decay"], lr_multipliers=mults)
    else:
        groups = _split_router_groups(build_param_groups(model, lr=a["lr"], weight_decay=a["weight_decay"],
                                                         lr_multipliers=mults), a["router_lr_multiplier"])
        optimizer = torch.optim.AdamW(groups, lr=a["lr"], betas=(0.9, 0.95), eps=1e-8, weight_decay=a["weight_decay"])
    context_table = None
    if info.is_main and corpus.has_validation and (a["reliance_every"] or a["val_windows"]):
        context_table = corpus_context_counts(corpus, 512)  # the +-3 context baseline, counted once
    start_step, tokens, elapsed = 0, 0, 0.0
    if a["resume"]:
        start_step, tokens, elapsed = _resume(out, model, optimizer, info, batch_size)
    else:
        torch.manual_seed(a["seed"] * 1000 + info.rank)
    if info.is_main:
        atomic_write_json(out / "run.json", run_args, indent=1)
        _say(f"pretraining {cfg.to_dict().get('arch_layout', cfg.to_dict().get('model_kind'))} ({model.num_parameters():,} parameters) on "
             f"{info.device}{f' x{info.world_size}' if info.enabled else ''}: {steps} steps x {batch_size} x "
             f"{seq_len} bp (micro-batch {micro}, accumulation {accum}); LR multipliers per level {mults}")

    ddp = model
    if info.enabled:
        unused = any(r != "learned" for r in cfg.router)
        ddp = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[info.device.index] if info.device.type == "cuda" else None,
            find_unused_parameters=unused)
    autocast = torch.autocast(info.device.type, dtype=torch.bfloat16) if a["bf16"] else contextlib.nullcontext()
    model.train()
    metrics = open(out / "metrics.jsonl", "a") if info.is_main else None
    bar = tqdm(total=steps, initial=start_step, unit="step", disable=not (a["progress"] and info.is_main),
               dynamic_ncols=True, file=sys.stderr)
    per_rank = batch_size // info.world_size
    deadline = time.monotonic() + 60 * a["max_minutes"] if a["max_minutes"] else None
    last_ckpt, stopped_early = None, False
    try:
        for step in range(start_step, steps):
            t0 = time.perf_counter()
            lr_now = set_learning_rate(optimizer, a["lr"], wsd_factor(step, steps))
            for stage in (stage_modules(model) if not merge else []):
                stage.stride_warmup = step < a["router_warmup_steps"]
                stage.isolate_router = step < a["router_isolation_steps"]
                stage.isolate_router_params = step < a["router_params_isolation_steps"]
            stats = torch.zeros(3 + cfg.n_stages + 1, dtype=torch.float64)
            for m in range(accum):
                first = step * batch_size + info.rank * per_rank + m * micro
                inputs, labels = corpus.batch(range(first, first + micro))
                inputs, labels = inputs.to(info.device), labels.to(info.device)
                sync = ddp.no_sync() if info.enabled and m < accum - 1 else contextlib.nullcontext()
                with sync:
                    output = _forward_loss(ddp, inputs, labels, autocast)
                    (output.loss / accum).backward()
                stats[0] += output.loss.item()
                stats[1] += output.mlm_loss.item()
                stats[2] += output.ratio_loss.item()
                stats[3] += inputs.shape[0] * inputs.shape[1]
                for s, b in enumerate(output.boundaries):
                    stats[4 + s] += float(b.lengths.sum())
            stats = D.all_reduce_sum(stats.to(info.device), info).cpu()
            n_micro = accum * info.world_size
            loss, mlm, ratio = (float(v) / n_micro for v in stats[:3])
            grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0))
            if not (math.isfinite(loss) and math.isfinite(grad_norm)):
                where = last_ckpt or _newest_checkpoint_text(out)
                what = f"loss is {loss}" if not math.isfinite(loss) else f"gradient norm is {grad_norm}"
                raise TrainingDiverged(f"{what} at step {step + 1}; stopped without updating the weights. "
                                       f"Last good checkpoint: {where}. Resume from it with --resume, perhaps with a lower --lr.")
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            tokens += batch_size * seq_len
            dt = time.perf_counter() - t0
            elapsed += dt
            lengths = [float(stats[3])] + [float(v) for v in stats[4:]]
            record = {"step": step + 1, "tokens": tokens, "loss": loss, "mlm_loss": mlm, "ratio_loss": ratio,
                      "compression": [lengths[s] / max(lengths[s + 1], 1.0) for s in range(cfg.n_stages)],
                      "lr": lr_now, "grad_norm": grad_norm, "tokens_per_s": batch_size * seq_len / dt,
                      "elapsed_s": elapsed}
            if info.is_main and not merge and a["reliance_every"] and (step + 1) % a["reliance_every"] == 0 and corpus.has_validation:
                record["reliance"] = evaluate_reliance(model, corpus, windows=a["reliance_windows"], batch_size=micro,
                                                       device=info.device, bf16=a["bf16"], context_table=context_table)
            if metrics:
                metrics.write(json.dumps(record) + "\n")
                metrics.flush()
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", comp=",".join(f"{c:.2f}" for c in record["compression"]),
                            bp_s=f"{record['tokens_per_s']:.0f}")
            out_of_time = D.broadcast_flag(deadline is not None and time.monotonic() > deadline, info)
            if (step + 1) % a["checkpoint_every"] == 0 or step + 1 == steps or out_of_time:
                last_ckpt = _checkpoint(out, step + 1, model, optimizer, tokens, elapsed, a, info)
            if out_of_time and step + 1 < steps:
                stopped_early = True
                _say(f"stopping at step {step + 1} of {steps}: the --max-minutes {a['max_minutes']} bound was reached")
                break
    finally:
        bar.close()
        if metrics:
            metrics.close()
    done = step + 1 if steps > start_step else start_step
    summary = {"rank": info.rank, "steps_done": done, "steps_planned": steps, "tokens": tokens, "train_seconds": elapsed,
               "stopped_early": stopped_early, "world_size": info.world_size, "device": _device_text(info),
               "parameters": model.num_parameters(), "micro_batch": micro, "grad_accum": accum}
    if info.is_main:
        model.save_pretrained(out)
        summary["model_sha256"] = checkpoint_sha256(out)  # content identity of the final weights + config
        if corpus.has_validation and a["val_windows"] > 0:
            for stage in (stage_modules(model) if not merge else []):
                stage.stride_warmup = stage.isolate_router = stage.isolate_router_params = False
            summary["eval"] = evaluate_mlm(model, corpus, windows=a["val_windows"], batch_size=micro,
                                           device=info.device, bf16=a["bf16"], reliance=not merge,
                                           context_table=context_table)
            atomic_write_json(out / "eval.json", summary["eval"], indent=1)
        atomic_write_json(out / "run_summary.json", summary, indent=1)
    D.barrier(info)
    corpus.close()
    summary["model"] = model
    return summary


# -- helpers -----------------------------------------------------------------------------------

def _say(text: str) -> None:
    tqdm.write(text, file=sys.stderr)


def _split_router_groups(groups: list[dict], multiplier: float) -> list[dict]:
    """Move every router parameter into a group of its own at ``multiplier`` times its group's LR."""
    result = []
    for group in groups:
        keep = [i for i, n in enumerate(group["names"]) if ".router." not in f".{n}"]
        moved = [i for i in range(len(group["names"])) if i not in keep]
        for picked, mult in ((keep, 1.0), (moved, multiplier)):
            if picked:
                result.append({**group, "params": [group["params"][i] for i in picked],
                               "names": [group["names"][i] for i in picked],
                               "lr_multiplier": group["lr_multiplier"] * mult, "lr": group["lr"] * mult})
    return result


def _device_text(info: D.DistInfo) -> str:
    if info.device.type == "cuda":
        return torch.cuda.get_device_name(info.device)
    return f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads"


def _newest_checkpoint_text(out: Path) -> str:
    path, _ = latest_valid_checkpoint(out)
    return str(path) if path else "none (no checkpoint was written before this step)"


def _check_run_folder(out: Path, run_args: dict, resume: bool, info: D.DistInfo) -> None:
    if resume:
        saved = out / "run.json"
        if not saved.is_file():
            raise ValueError(f"--resume: {out} holds no run (no run.json); start it without --resume")
        before = json.loads(saved.read_text())
        changed = [k for k in FROZEN_ARGS if before.get(k) != run_args.get(k)]
        if changed:
            detail = "; ".join(f"{k}: {before.get(k)!r} -> {run_args.get(k)!r}" for k in changed)
            raise ValueError(f"--resume: these arguments differ from the run in {out} and would change its "
                             f"training: {detail}")
        return
    if (out / "metrics.jsonl").exists() or (out / "checkpoints").exists():
        raise ValueError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
    D.barrier(info)


def _resume(out: Path, model, optimizer, info: D.DistInfo, batch_size: int) -> tuple[int, int, float]:
    path, rejected = latest_valid_checkpoint(out)
    if info.is_main:
        for leftover in remove_partial_writes(out):
            _say(f"removed {leftover}, a checkpoint whose write was interrupted")
        for line in rejected:
            _say(f"warning: skipping checkpoint {line}")
    if path is None:
        raise ValueError(f"--resume: no intact checkpoint in {out / 'checkpoints'}"
                         + (f" ({len(rejected)} rejected: {rejected[0]})" if rejected else ""))
    state, rng = load_checkpoint(path, model, optimizer)
    mine = {k.split("/", 1)[1]: v for k, v in rng.items() if k.startswith(f"rank{info.rank}/")}
    restore_rng(mine or {k.split("/", 1)[1]: v for k, v in rng.items() if k.startswith("rank0/")},
                state["rng"][str(info.rank)] if str(info.rank) in state["rng"] else state["rng"]["0"])
    step = int(state["step"])
    if state["data_position"] != step * batch_size:
        raise ValueError(f"checkpoint {path}: data position {state['data_position']} does not match step {step} "
                         f"x batch size {batch_size}")
    if info.is_main:
        _truncate_metrics(out / "metrics.jsonl", step)
        _say(f"resuming from {path} (step {step}, {state['tokens']:,} tokens)")
    D.barrier(info)
    return step, int(state["tokens"]), float(state["elapsed_s"])


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop the lines logged after checkpoint ``step``: the resumed run logs those steps again."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line)
        except (ValueError, KeyError, TypeError):
            break  # a line cut short by the kill: nothing after it is trustworthy
    atomic_write_text(path, "".join(k + "\n" for k in kept))


def _checkpoint(out: Path, step: int, model, optimizer, tokens: int, elapsed: float, a: dict, info: D.DistInfo):
    tensors, scalars = capture_rng()
    if info.enabled:
        gathered = [None] * info.world_size
        dist.all_gather_object(gathered, (tensors, scalars))
    else:
        gathered = [(tensors, scalars)]
    path = None
    if info.is_main:
        rng_tensors = {f"rank{r}/{k}": v for r, (t, _) in enumerate(gathered) for k, v in t.items()}
        state = {"tokens": tokens, "elapsed_s": elapsed, "data_position": step * a["batch_size"],
                 "schedule": {"kind": "wsd", "total_steps": a["steps"], "warmup": 0.1, "decay": 0.2, "final": 0.05},
                 "rng": {str(r): s for r, (_, s) in enumerate(gathered)}}
        path = save_checkpoint(out, step, model, optimizer, state, rng_tensors, keep=a["keep_checkpoints"])
    D.barrier(info)
    return path
