"""The learned router's probabilities in one Triton kernel (fwd + bwd); the projections stay matmuls.

From the raw projections q, k (B, L, d), for each position t (reference: ``Router`` in
``ldarnet/chunking.py``):

    cf_t = cos(q_{t-1}, k_t),  cb_t = cos(q_t, k_{t-1}),  p_t = clamp((1 - (cf_t + cb_t)/2) / 2, 0, 1)
    p_0 = 1,  boundary_t = p_t > 0.5,  both zeroed at pads,

plus the ratio loss's sums over valid positions (sum of p, number of boundaries, number of valid
positions), without materialising the normalised q and k. The forward kernel walks d in blocks,
accumulating norms and the two neighbour dot products per position; it saves the cosines and norms
(B, L each), so the backward kernel is one elementwise pass over (B, L, d) that uses
``qn_t . dqn_t = s_{t+1} cf_{t+1} + s_t cb_t`` (s = dL/dcos) instead of a second reduction.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl

from ._common import configs, on_device

EPS = tl.constexpr(1e-12)  # F.normalize's default (a constexpr: kernels read no other globals)

_FWD_CONFIGS = configs(dict(BLOCK_T=8, BLOCK_D=8), (dict(BLOCK_T=16, BLOCK_D=64), 4), (dict(BLOCK_T=32, BLOCK_D=64), 4))
_BWD_CONFIGS = configs(dict(BLOCK_T=8, BLOCK_D=8), (dict(BLOCK_T=16, BLOCK_D=64), 4), (dict(BLOCK_T=32, BLOCK_D=64), 4))


@triton.autotune(_FWD_CONFIGS, key=["D"], reset_to_zero=["SUMS"])
@triton.jit(do_not_specialize=["B", "L", "NT"])
def _router_fwd(Q, K, MASK, P, BOUND, COS, NORM, SUMS, B, L, D, NT,
                BLOCK_T: tl.constexpr, BLOCK_D: tl.constexpr):
    b = tl.program_id(0).to(tl.int64)
    tile = tl.program_id(1)
    t = tile * BLOCK_T + tl.arange(0, BLOCK_T)
    valid = t < L
    has_prev = valid & (t >= 1)
    row = b * L * D
    qq = tl.zeros([BLOCK_T], dtype=tl.float32)
    kk = tl.zeros([BLOCK_T], dtype=tl.float32)
    qq_prev = tl.zeros([BLOCK_T], dtype=tl.float32)
    kk_prev = tl.zeros([BLOCK_T], dtype=tl.float32)
    dot_f = tl.zeros([BLOCK_T], dtype=tl.float32)  # q_{t-1} . k_t
    dot_b = tl.zeros([BLOCK_T], dtype=tl.float32)  # q_t . k_{t-1}
    for d0 in range(0, D, BLOCK_D):
        cols = d0 + tl.arange(0, BLOCK_D)
        cm = cols[None, :] < D
        here = row + t[:, None].to(tl.int64) * D + cols[None, :]
        m_here = valid[:, None] & cm
        m_prev = has_prev[:, None] & cm
        q = tl.load(Q + here, mask=m_here, other=0.0).to(tl.float32)
        k = tl.load(K + here, mask=m_here, other=0.0).to(tl.float32)
        q_prev = tl.load(Q + here - D, mask=m_prev, other=0.0).to(tl.float32)
        k_prev = tl.load(K + here - D, mask=m_prev, other=0.0).to(tl.float32)
        qq += tl.sum(q * q, axis=1)
        kk += tl.sum(k * k, axis=1)
        qq_prev += tl.sum(q_prev * q_prev, axis=1)
        kk_prev += tl.sum(k_prev * k_prev, axis=1)
        dot_f += tl.sum(q_prev * k, axis=1)
        dot_b += tl.sum(q * k_prev, axis=1)
    nq = tl.maximum(tl.sqrt(qq), EPS)
    nk = tl.maximum(tl.sqrt(kk), EPS)
    cf = dot_f / (tl.maximum(tl.sqrt(qq_prev), EPS) * nk)
    cb = dot_b / (nq * tl.maximum(tl.sqrt(kk_prev), EPS))
    p = tl.minimum(tl.maximum((1.0 - 0.5 * (cf + cb)) / 2.0, 0.0), 1.0)
    p = tl.where(t == 0, 1.0, p)
    keep = tl.load(MASK + b * L + t, mask=valid, other=0) != 0
    bound = (p > 0.5) & keep
    p = tl.where(keep, p, 0.0)
    pos = b * L + t
    tl.store(P + pos, p, mask=valid)
    tl.store(BOUND + pos, bound.to(tl.int8), mask=valid)
    tl.store(COS + pos, cf, mask=valid)
    tl.store(COS + B * L + pos, cb, mask=valid)
    tl.store(NORM + pos, nq, mask=valid)
    tl.store(NORM + B * L + pos, nk, mask=valid)
    sums = SUMS + (b * NT + tile) * 3
    tl.store(sums, tl.sum(p, axis=0))
    tl.store(sums + 1, tl.sum(bound.to(tl.float32), axis=0))
    tl.store(sums + 2, tl.sum(keep.to(tl.float32), axis=0))


@triton.autotune(_BWD_CONFIGS, key=["D"])
@triton.jit(do_not_specialize=["B", "L"])
def _router_bwd(Q, K, DCOS, COS, NORM, DQ, DK, B, L, D, BLOCK_T: tl.constexpr, BLOCK_D: tl.constexpr):
    b = tl.program_id(0).to(tl.int64)
    t = tl.program_id(1) * BLOCK_T + tl.arange(0, BLOCK_T)
    cols = tl.program_id(2) * BLOCK_D + tl.arange(0, BLOCK_D)
    valid = t < L
    has_prev = valid & (t >= 1)
    has_next = (t + 1) < L
    pos = b * L + t
    # s_t = dLoss/dcf_t = dLoss/dcb_t (zero at t = 0 and at pads, set by the caller)
    s = tl.load(DCOS + pos, mask=valid, other=0.0)
    s_next = tl.load(DCOS + pos + 1, mask=has_next, other=0.0)
    cf = tl.load(COS + pos, mask=valid, other=0.0)
    cb = tl.load(COS + B * L + pos, mask=valid, other=0.0)
    cf_next = tl.load(COS + pos + 1, mask=has_next, other=0.0)
    cb_next = tl.load(COS + B * L + pos + 1, mask=has_next, other=0.0)
    nq = tl.load(NORM + pos, mask=valid, other=1.0)
    nk = tl.load(NORM + B * L + pos, mask=valid, other=1.0)
    nq_prev = tl.load(NORM + pos - 1, mask=has_prev, other=1.0)
    nk_prev = tl.load(NORM + B * L + pos - 1, mask=has_prev, other=1.0)
    nq_next = tl.load(NORM + pos + 1, mask=has_next, other=1.0)
    nk_next = tl.load(NORM + B * L + pos + 1, mask=has_next, other=1.0)
    # the projection onto the unit vector drops out where the norm was clamped to EPS (F.normalize)
    proj_q = tl.where(nq > EPS, s_next * cf_next + s * cb, 0.0)
    proj_k = tl.where(nk > EPS, s * cf + s_next * cb_next, 0.0)

    cm = cols[None, :] < D
    here = b * L * D + t[:, None].to(tl.int64) * D + cols[None, :]
    m_here = valid[:, None] & cm
    m_prev = has_prev[:, None] & cm
    m_next = has_next[:, None] & cm
    q = tl.load(Q + here, mask=m_here, other=0.0).to(tl.float32)
    k = tl.load(K + here, mask=m_here, other=0.0).to(tl.float32)
    q_prev = tl.load(Q + here - D, mask=m_prev, other=0.0).to(tl.float32)
    k_prev = tl.load(K + here - D, mask=m_prev, other=0.0).to(tl.float32)
    q_next = tl.load(Q + here + D, mask=m_next, other=0.0).to(tl.float32)
    k_next = tl.load(K + here + D, mask=m_next, other=0.0).to(tl.float32)
    dqn = (s_next / nk_next)[:, None] * k_next + (s / nk_prev)[:, None] * k_prev
    dkn = (s / nq_prev)[:, None] * q_prev + (s_next / nq_next)[:, None] * q_next
    dq = (dqn - (proj_q / nq)[:, None] * q) / nq[:, None]
    dk = (dkn - (proj_k / nk)[:, None] * k) / nk[:, None]
    tl.store(DQ + here, dq, mask=m_here)
    tl.store(DK + here, dk, mask=m_here)


@dataclass
class RouterProbs:
    p: torch.Tensor  # (B, L) float32, 1 at t = 0, 0 at pads; differentiable in q, k
    boundary: torch.Tensor  # (B, L) bool, p > 0.5 at valid positions
    sum_p: torch.Tensor  # () float32, sum of p over valid positions; differentiable
    n_boundary: torch.Tensor  # () float32, number of boundaries
    n_valid: torch.Tensor  # () float32, number of valid positions


class _RouterFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, mask):
        b, length, d = q.shape
        q, k = q.contiguous(), k.contiguous()
        keep = mask.to(torch.int8).contiguous()
        dev = q.device
        p = torch.empty(b, length, device=dev, dtype=torch.float32)
        bound = torch.empty(b, length, device=dev, dtype=torch.int8)
        cos = torch.empty(2, b, length, device=dev, dtype=torch.float32)
        norm = torch.empty(2, b, length, device=dev, dtype=torch.float32)
        tiles = triton.cdiv(length, min(c.kwargs["BLOCK_T"] for c in _FWD_CONFIGS))
        sums = torch.zeros(b, tiles, 3, device=dev, dtype=torch.float32)
        if b and length and d:
            with on_device(q):
                _router_fwd[lambda meta: (b, triton.cdiv(length, meta["BLOCK_T"]))](
                    q, k, keep, p, bound, cos, norm, sums, b, length, d, tiles)
        ctx.save_for_backward(q, k, keep, cos, norm)
        boundary = bound.bool()
        ctx.mark_non_differentiable(boundary)
        total = sums.sum(dim=(0, 1))  # fixed order: deterministic
        return p, boundary, total

    @staticmethod
    def backward(ctx, grad_p, _grad_boundary, grad_total):
        q, k, keep, cos, norm = ctx.saved_tensors
        b, length, d = q.shape
        g = grad_p if grad_p is not None else torch.zeros(b, length, device=q.device)
        if grad_total is not None:
            g = g + grad_total[0]  # only the sum of p is differentiable
        raw = (1 - 0.5 * (cos[0] + cos[1])) / 2
        s = -0.25 * g * keep * ((raw >= 0) & (raw <= 1))  # clamp passes gradient inside [0, 1]
        s[:, 0] = 0  # p_0 = 1 is a constant
        dq = torch.empty(b, length, d, device=q.device, dtype=torch.float32)
        dk = torch.empty_like(dq)
        if b and length and d:
            grid = lambda meta: (b, triton.cdiv(length, meta["BLOCK_T"]), triton.cdiv(d, meta["BLOCK_D"]))  # noqa: E731
            with on_device(q):
                _router_bwd[grid](q, k, s.float().contiguous(), cos, norm, dq, dk, b, length, d)
        return dq.to(q.dtype), dk.to(k.dtype), None


def router_probs(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor) -> RouterProbs:
    """Boundary probabilities and decisions of the learned router from its raw projections.

    Parameters
    ----------
    q, k : (B, L, d) outputs of the query and key projections, any float dtype (read as fp32).
    mask : (B, L) bool, valid positions.

    Returns
    -------
    RouterProbs; ``p`` and ``sum_p`` carry gradients to ``q`` and ``k`` (in their dtype).
    """
    if q.dim() != 3 or k.shape != q.shape or mask.shape != q.shape[:2]:
        raise ValueError(f"expected q, k (B, L, d) and mask (B, L); got {tuple(q.shape)}, "
                         f"{tuple(k.shape)}, {tuple(mask.shape)}")
    p, boundary, total = _RouterFn.apply(q, k, mask)
    return RouterProbs(p=p, boundary=boundary, sum_p=total[0], n_boundary=total[1].detach(),
                       n_valid=total[2].detach())
