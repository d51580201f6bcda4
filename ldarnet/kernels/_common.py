"""Shared pieces of our Triton kernels: autotune configs and the first-order scan of one tile."""

from __future__ import annotations

import contextlib
import os

import torch
import triton
import triton.language as tl

# Under the interpreter the autotuner cannot benchmark (no driver), so it gets exactly one config;
# small blocks there make short test sequences span several tiles.
INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"


def configs(interpret: dict, *candidates: tuple[dict, int]) -> list[triton.Config]:
    """``interpret`` under the interpreter, else one config per ``(meta-parameters, num_warps)``.

    Few candidates on purpose: each costs a compile (2-20 s) the first time a shape is seen.
    """
    if INTERPRET:
        return [triton.Config(interpret, num_warps=1)]
    return [triton.Config(meta, num_warps=warps) for meta, warps in candidates]


def on_device(t: torch.Tensor):
    """Launch on ``t``'s GPU (triton launches on the current one), a no-op for CPU tensors."""
    return torch.cuda.device(t.device) if t.is_cuda else contextlib.nullcontext()


@triton.jit
def _affine_combine(a1, u1, a2, u2):
    # (x -> a1 x + u1) then (x -> a2 x + u2) is x -> a1 a2 x + (a2 u1 + u2)
    return a1 * a2, a2 * u1 + u2


@triton.jit
def scan_tile(a, u, carry, rows, BLOCK_T: tl.constexpr):
    """States of ``s_t = a_t s_{t-1} + u_t`` over one tile, entering with ``carry``.

    a (BLOCK_T,), u (BLOCK_T, BLOCK_D), carry (BLOCK_D,), all fp32 -> (states (BLOCK_T, BLOCK_D),
    state after the last row). Rows past the data must have a = 1, u = 0 so the state passes through.
    """
    a_cum, u_cum = tl.associative_scan((tl.broadcast_to(a[:, None], u.shape), u), 0, _affine_combine)
    states = u_cum + a_cum * carry[None, :]
    last = tl.sum(tl.where(rows[:, None] == BLOCK_T - 1, states, 0.0), axis=0)
    return states, last
