"""BERT-style masking for the masked-language-model objective, restricted to real bases.

Only A/C/G/T positions are ever selected: N, [MASK] and [PAD] are never targets. Of the selected
positions, 80% become [MASK], 10% a uniformly random base (A/C/G/T, possibly the same one) and 10%
stay unchanged. ``labels`` hold the original id at selected positions and -100 everywhere else,
which is what ``LDARNet.forward(labels=...)`` and ``F.cross_entropy(ignore_index=-100)`` expect.

Randomness comes from an explicit ``numpy.random.Generator`` so that a window's mask is a pure
function of the generator's seed (the corpus seeds one generator per window), independent of any
global RNG state.
"""

from __future__ import annotations

import numpy as np
import torch

from ..vocab import A_ID, C_ID, G_ID, MASK_ID, T_ID

__all__ = ["IGNORE_INDEX", "mask_tokens", "mask_batch"]

IGNORE_INDEX = -100
_BASES = np.array([A_ID, C_ID, G_ID, T_ID], dtype=np.int64)


def mask_tokens(
    ids: np.ndarray,
    rng: np.random.Generator,
    *,
    mask_prob: float = 0.15,
    mask_token_fraction: float = 0.8,
    random_token_fraction: float = 0.1,
    at_least_one: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Choose MLM targets among the A/C/G/T positions of ``ids`` and corrupt them.

    Parameters
    ----------
    ids : np.ndarray
        Token ids, shape (L,) or (B, L), integer dtype.
    rng : np.random.Generator
        Source of all randomness.
    mask_prob : float
        Probability that each A/C/G/T position becomes a target (independently per position).
    mask_token_fraction, random_token_fraction : float
        Of the targets, the share replaced by [MASK] and by a random base; the rest stay unchanged.
    at_least_one : bool
        Make one target in any row that has a base but drew none, so that a loss always exists.

    Returns
    -------
    inputs : np.ndarray
        Same shape as ``ids``, int64: the corrupted ids fed to the model.
    labels : np.ndarray
        Same shape, int64: the original id at targets, ``IGNORE_INDEX`` (-100) elsewhere.
    """
    if not 0.0 <= mask_prob <= 1.0:
        raise ValueError(f"mask_prob={mask_prob} must be in [0, 1]")
    if mask_token_fraction < 0 or random_token_fraction < 0 or mask_token_fraction + random_token_fraction > 1:
        raise ValueError("mask_token_fraction and random_token_fraction must be >= 0 and sum to at most 1")
    ids = np.asarray(ids, dtype=np.int64)
    rows = ids.reshape(-1, ids.shape[-1]) if ids.ndim else ids.reshape(1, 1)
    is_base = (rows >= A_ID) & (rows <= T_ID)
    target = is_base & (rng.random(rows.shape) < mask_prob)
    if at_least_one:
        for row in np.flatnonzero(is_base.any(axis=1) & ~target.any(axis=1)):
            candidates = np.flatnonzero(is_base[row])
            target[row, candidates[rng.integers(len(candidates))]] = True
    labels = np.where(target, rows, IGNORE_INDEX)
    roll = rng.random(rows.shape)
    to_mask = target & (roll < mask_token_fraction)
    to_random = target & (roll >= mask_token_fraction) & (roll < mask_token_fraction + random_token_fraction)
    inputs = rows.copy()
    inputs[to_mask] = MASK_ID
    inputs[to_random] = _BASES[rng.integers(0, 4, size=int(to_random.sum()))]
    return inputs.reshape(ids.shape), labels.reshape(ids.shape)


def mask_batch(input_ids: torch.Tensor, seed: int, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`mask_tokens` for a (B, L) int64 tensor, with a generator seeded by ``seed``.

    Returns (inputs, labels), both (B, L) int64 tensors on the device of ``input_ids``.
    """
    rng = np.random.default_rng(seed)
    inputs, labels = mask_tokens(input_ids.detach().cpu().numpy(), rng, **kwargs)
    return torch.from_numpy(inputs).to(input_ids.device), torch.from_numpy(labels).to(input_ids.device)
