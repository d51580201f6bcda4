"""Train a sequence classifier with early stopping on validation loss, and predict with it.

The classifier is any ``nn.Module`` mapping ``(input_ids (B, L) int64, attention_mask (B, L) int64)``
to logits ``(B, K)``, normally :class:`ldarnet.heads.LDARNetForSequenceClassification`. The whole
model is trained by default; ``freeze_backbone=True`` trains only what lies outside
``model.backbone``.

Optimiser: AdamW (betas 0.9/0.95 as in pretraining, weight decay 0.01, none on biases, norm
weights and the parameters marked ``_no_weight_decay``), gradient clipping at 1.0, and a learning
rate that warms up linearly and then either stays constant (``schedule="constant"``, the paper's
protocol: warm-up over the first epoch's first 10% of steps) or follows a cosine to 10% of the
peak at ``max_epochs`` (``schedule="cosine"``, warm-up over ``warmup_fraction`` of all steps);
early stopping may end a cosine run before its end, keeping the best epoch. ``head_lr_scale``
multiplies the rate of everything outside ``model.backbone`` (the new head learns faster than
the pretrained body).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ldarnet.vocab import batch_encode

__all__ = ["FitResult", "SCHEDULES", "encode_sequences", "train_classifier", "predict_logits", "evaluate_loss",
           "param_groups"]

SCHEDULES = ("constant", "cosine")


@dataclass
class FitResult:
    """What one training run did. The model holds the weights of ``best_epoch`` afterwards."""

    best_epoch: int  # 1-based epoch with the lowest validation loss
    best_val_loss: float
    epochs: int  # epochs run (the last one may be partial when the time ran out)
    steps: int  # optimiser steps taken
    stopped: str  # "patience", "max_epochs" or "time"
    seconds: float
    history: list[dict] = field(default_factory=list)  # per epoch: epoch, train_loss, val_loss, seconds


def encode_sequences(sequences: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode a list of sequences into ``(input_ids, attention_mask)``, both (N, L_max) int64, right-padded."""
    return batch_encode(list(sequences))


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: decay on matrices, none on biases, norm weights and ``_no_weight_decay`` parameters."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        exempt = (getattr(param, "_no_weight_decay", False) or param.ndim < 2
                  or name.endswith(".bias") or "norm" in name.lower())
        (no_decay if exempt else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def train_classifier(
    model: nn.Module,
    train: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    valid: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    *,
    lr: float,
    batch_size: int,
    max_epochs: int = 10,
    patience: int = 5,
    weight_decay: float = 0.01,
    micro_batch_size: int | None = None,
    freeze_backbone: bool = False,
    schedule: str = "constant",
    warmup_fraction: float = 0.1,
    head_lr_scale: float = 1.0,
    deadline: float | None = None,
    bf16: bool = False,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> FitResult:
    """Fine-tune ``model`` in place, stopping early on validation loss, and keep its best weights.

    Parameters
    ----------
    model : nn.Module
        ``model(input_ids, attention_mask) -> (B, K)`` logits.
    train, valid : tuple of torch.Tensor
        ``(input_ids (N, L) int64, attention_mask (N, L) int64, labels (N,) int64)``.
    lr, batch_size : float, int
        Peak learning rate and effective batch size (sequences per optimiser step).
    max_epochs, patience : int
        At most ``max_epochs`` passes; stop once the validation loss has not improved for
        ``patience`` epochs in a row.
    micro_batch_size : int, optional
        Split each batch into micro-batches of this size and accumulate gradients (memory).
    freeze_backbone : bool
        Train only the parameters outside ``model.backbone``.
    schedule : {"constant", "cosine"}
        Learning rate after the warm-up (see the module docstring).
    warmup_fraction : float
        With ``"cosine"``, the share of ``max_epochs`` x steps-per-epoch spent warming up.
    head_lr_scale : float
        Learning-rate multiplier for the parameters outside ``model.backbone``.
    deadline : float, optional
        A ``time.monotonic()`` value; when it passes, the current epoch ends after the running
        step, is validated, and training stops (``stopped == "time"``). At least one step is taken.
    bf16 : bool
        bfloat16 autocast (CPU or CUDA) for the forward pass.
    seed : int
        Seeds the shuffling order.
    log : callable, optional
        Receives one line per epoch.

    Returns
    -------
    FitResult
    """
    if batch_size < 1 or max_epochs < 1 or patience < 1 or lr <= 0:
        raise ValueError(f"need batch_size >= 1, max_epochs >= 1, patience >= 1 and lr > 0; got "
                         f"batch_size={batch_size}, max_epochs={max_epochs}, patience={patience}, lr={lr}")
    device = next(model.parameters()).device
    if freeze_backbone:
        backbone = getattr(model, "backbone", None)
        if backbone is None:
            raise ValueError("freeze_backbone=True needs a model with a .backbone attribute")
        for param in backbone.parameters():
            param.requires_grad_(False)
    if schedule not in SCHEDULES or not 0 <= warmup_fraction < 1 or head_lr_scale <= 0:
        raise ValueError(f"need schedule in {SCHEDULES}, 0 <= warmup_fraction < 1 and head_lr_scale > 0; got "
                         f"{schedule!r}, {warmup_fraction}, {head_lr_scale}")
    optimizer = torch.optim.AdamW(_scaled_groups(model, weight_decay, head_lr_scale), lr=lr, betas=(0.9, 0.95))
    ids, mask, labels = train
    n = ids.shape[0]
    micro = min(batch_size, micro_batch_size or batch_size)
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = steps_per_epoch * max_epochs
    warmup = max(1, steps_per_epoch // 10) if schedule == "constant" else max(1, round(warmup_fraction * total_steps))
    generator = torch.Generator().manual_seed(seed)
    started = time.monotonic()
    best_loss, best_epoch, best_state, wait = math.inf, 0, None, 0
    history, steps, stopped = [], 0, "max_epochs"
    for epoch in range(1, max_epochs + 1):
        model.train()
        epoch_start, total, seen = time.monotonic(), 0.0, 0
        order = torch.randperm(n, generator=generator)
        out_of_time = False
        for first in range(0, n, batch_size):
            batch = order[first:first + batch_size]
            for group in optimizer.param_groups:
                group["lr"] = lr * group["scale"] * _lr_factor(steps, warmup, total_steps, schedule)
            optimizer.zero_grad(set_to_none=True)
            for part in batch.split(micro):
                with _autocast(device, bf16):
                    logits = model(ids[part].to(device), mask[part].to(device))
                loss = F.cross_entropy(logits.float(), labels[part].to(device), reduction="sum")
                (loss / len(batch)).backward()
                total += float(loss.detach())
                seen += len(part)
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
            optimizer.step()
            steps += 1
            if deadline is not None and time.monotonic() > deadline:
                out_of_time = True
                break
        val_loss = evaluate_loss(model, valid, batch_size=max(micro, 64), bf16=bf16)
        if not math.isfinite(val_loss):
            raise FloatingPointError(f"validation loss became {val_loss} at epoch {epoch}; lower the learning rate ({lr})")
        history.append({"epoch": epoch, "train_loss": total / max(seen, 1), "val_loss": val_loss,
                        "seconds": time.monotonic() - epoch_start, "partial": out_of_time})
        if log is not None:
            log(f"epoch {epoch}: train loss {total / max(seen, 1):.4f}, val loss {val_loss:.4f}"
                f"{' (partial epoch, time budget reached)' if out_of_time else ''}")
        if val_loss < best_loss:
            best_loss, best_epoch, wait = val_loss, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            wait += 1
        if out_of_time:
            stopped = "time"
            break
        if wait >= patience:
            stopped = "patience"
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return FitResult(best_epoch=best_epoch, best_val_loss=best_loss, epochs=len(history), steps=steps,
                     stopped=stopped, seconds=time.monotonic() - started, history=history)


@torch.no_grad()
def predict_logits(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor, *, batch_size: int = 128,
                   bf16: bool = False) -> np.ndarray:
    """Class logits for every sequence: ``ids``/``mask`` (N, L) int64 -> (N, K) float32 numpy array."""
    model.eval()
    device = next(model.parameters()).device
    parts = []
    for first in range(0, ids.shape[0], batch_size):
        with _autocast(device, bf16):
            logits = model(ids[first:first + batch_size].to(device), mask[first:first + batch_size].to(device))
        parts.append(logits.float().cpu())
    return torch.cat(parts).numpy()


def evaluate_loss(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor, torch.Tensor], *,
                  batch_size: int = 128, bf16: bool = False) -> float:
    """Mean cross-entropy of ``model`` on ``(input_ids, attention_mask, labels)``."""
    ids, mask, labels = data
    logits = torch.from_numpy(predict_logits(model, ids, mask, batch_size=batch_size, bf16=bf16))
    return float(F.cross_entropy(logits, labels))


def _lr_factor(step: int, warmup: int, total: int, schedule: str) -> float:
    """Multiplier of the peak rate at optimiser step ``step`` (0-based)."""
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress))


def _scaled_groups(model: nn.Module, weight_decay: float, head_lr_scale: float) -> list[dict]:
    """param_groups split into backbone (scale 1) and head (scale ``head_lr_scale``) parts."""
    backbone = getattr(model, "backbone", None)
    in_backbone = {id(p) for p in backbone.parameters()} if backbone is not None else set()
    groups = []
    for group in param_groups(model, weight_decay):
        for is_body, scale in ((True, 1.0), (False, head_lr_scale)):
            params = [p for p in group["params"] if (id(p) in in_backbone) == is_body]
            if params:
                groups.append({"params": params, "weight_decay": group["weight_decay"], "scale": scale})
    return groups


def _autocast(device: torch.device, bf16: bool):
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
