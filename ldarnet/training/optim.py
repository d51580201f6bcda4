"""The optimiser of LDARNet pretraining: AdamW parameter groups, stage-wise LR multipliers, WSD schedule.

- AdamW with betas (0.9, 0.95) and weight decay 0.01 (paper App. A.2), no decay on biases, norm
  weights, any parameter of fewer than 2 dimensions, and parameters flagged ``_no_weight_decay``
  (the SSM's ``A_log``, ``D``, ``dt_bias``).
- Stage-wise learning-rate multiplier (paper Eq. 19, after H-Net): a parameter at nesting level
  ``l`` trains at ``lr * prod_{s >= l} sqrt(N_s) * d_{s+1} / d_s`` over the stages inside it, so the
  backbone gets 1 and the outer level of a one-stage model ``sqrt(N) * d_inner / d_outer``
  (3.0 for ``ldarnet-120m``, 4.0 for ``ldarnet-proxy``). A stage with router ``none`` does not
  compress, so its N counts as 1.
- Warmup-stable-decay: linear warmup over the first 10% of steps, a plateau for 70%, then an
  inverse-square-root decay over the last 20% that ends exactly at 5% of the peak:
  ``f(u) = 1 / sqrt(1 + (1 / 0.05**2 - 1) * u)`` for decay progress ``u`` in [0, 1].
"""

from __future__ import annotations

import math

import torch

__all__ = ["stage_lr_multipliers", "build_param_groups", "build_optimizer", "wsd_factor", "set_learning_rate"]


def stage_lr_multipliers(config) -> list[float]:
    """LR multiplier per nesting level (outermost first; the innermost backbone is 1.0).

    Parameters
    ----------
    config : LDARNetConfig
        Uses ``d_model``, ``target_ratio`` and ``router`` per stage.

    Returns
    -------
    list of float
        One entry per level, ``len(config.d_model)`` long.
    """
    n_levels = len(config.d_model)
    mults = [1.0] * n_levels
    for level in range(n_levels - 2, -1, -1):
        ratio = 1.0 if config.router[level] == "none" else float(config.target_ratio[level])
        mults[level] = mults[level + 1] * math.sqrt(ratio) * config.d_model[level + 1] / config.d_model[level]
    return mults


def _decays(name: str, param: torch.nn.Parameter) -> bool:
    if getattr(param, "_no_weight_decay", False) or param.ndim < 2:
        return False
    leaf = name.rsplit(".", 1)[-1]
    return "bias" not in leaf and "norm" not in name.lower()


def build_param_groups(model, *, lr: float, weight_decay: float = 0.01,
                       lr_multipliers: list[float] | None = None) -> list[dict]:
    """AdamW parameter groups, one per (nesting level, decays or not), with names kept for logging.

    Each group dict carries ``params``, ``lr`` (= ``lr`` times its level's multiplier),
    ``weight_decay``, and the bookkeeping keys ``level``, ``lr_multiplier`` and ``names``.
    Every trainable parameter lands in exactly one group.
    """
    core = getattr(model, "module", model)  # DistributedDataParallel wraps the model
    levels = core.parameter_levels()
    mults = lr_multipliers if lr_multipliers is not None else stage_lr_multipliers(core.config)
    groups: dict[tuple[int, bool], dict] = {}
    for name, param in core.named_parameters():
        if not param.requires_grad:
            continue
        level = levels[name]
        decays = _decays(name, param)
        key = (level, decays)
        if key not in groups:
            groups[key] = {"params": [], "names": [], "level": level, "lr_multiplier": float(mults[level]),
                           "lr": lr * mults[level], "weight_decay": weight_decay if decays else 0.0}
        groups[key]["params"].append(param)
        groups[key]["names"].append(name)
    return [groups[k] for k in sorted(groups)]


def build_optimizer(model, *, lr: float, weight_decay: float = 0.01, betas=(0.9, 0.95), eps: float = 1e-8,
                    lr_multipliers: list[float] | None = None) -> torch.optim.AdamW:
    """AdamW over :func:`build_param_groups` (fused/foreach left to torch's defaults)."""
    groups = build_param_groups(model, lr=lr, weight_decay=weight_decay, lr_multipliers=lr_multipliers)
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)


def wsd_factor(step: int, total_steps: int, *, warmup: float = 0.1, decay: float = 0.2,
               final: float = 0.05) -> float:
    """LR factor in (0, 1] for optimiser step ``step`` (0-based) of ``total_steps``; see module doc.

    Step 0 uses ``1 / warmup_steps`` (never a zero learning rate); the last step uses ``final``.
    """
    if total_steps < 1:
        raise ValueError(f"total_steps={total_steps} must be >= 1")
    warmup_steps = max(1, round(warmup * total_steps)) if warmup > 0 else 0
    decay_steps = round(decay * total_steps)
    stable_end = total_steps - decay_steps
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if step < stable_end or decay_steps == 0:
        return 1.0
    u = (step - stable_end + 1) / decay_steps
    return 1.0 / math.sqrt(1.0 + (1.0 / final**2 - 1.0) * u)


def set_learning_rate(optimizer: torch.optim.Optimizer, base_lr: float, factor: float) -> float:
    """Put ``base_lr * factor * multiplier`` into every group; returns ``base_lr * factor``."""
    for group in optimizer.param_groups:
        group["lr"] = base_lr * factor * group.get("lr_multiplier", 1.0)
    return base_lr * factor
