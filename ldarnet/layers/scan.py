"""Linear recurrences in matrix ("chunked") form, with slow sequential references for tests.

Two primitives, both pure PyTorch:

- ``linear_scan``: ``s_t = exp(a_t) * s_{t-1} + u_t``, a diagonal scalar-decay recurrence. It is the
  EMA of the dechunker and the inter-chunk pass of the SSD.
- ``ssd_chunked``: the Mamba-2 state-space dual (Dao & Gu 2024, the four-step matrix form) with one
  B/C group: ``h_t = exp(dt_t A) h_{t-1} + dt_t x_t B_t^T``, ``y_t = h_t C_t``.

Both split the sequence into chunks of ``chunk_size``. Inside a chunk the recurrence is a lower-
triangular matrix product; the state carried between chunks is a scalar-decay recurrence over the
chunks (recursive ``linear_scan`` there; a loop over chunks in the SSD), so the cost stays linear
in length (the chunk-to-chunk pass is not the O(n_chunks^2) matrix of the reference listing). The
result does not depend on ``chunk_size`` beyond float rounding, so callers may pick it for speed.

Numerics. ``linear_scan`` sums decays with a masked cumulative sum (exact even when the sums are
large). ``ssd_chunked`` takes within-chunk decays as ``exp(cs_i - cs_j)`` from one cumulative sum
``cs`` of the log-decays per chunk (as mamba_ssm's kernel does): O(Q) work per position instead of
O(Q^2) for the masked cumsum. Its rounding error in ``cs_i - cs_j`` is a few ulps of ``|cs_i|``,
the log-decay from the chunk start, which the chunk length bounds; it is tested against the
sequential recurrence in fp32 (incl. heads that forget at once) at 1e-4 of the output scale.
``ssd_chunked_masked`` keeps the masked-cumsum formulation as a second reference.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def decay_matrix(a: torch.Tensor) -> torch.Tensor:
    """Within-chunk decays: (..., T) -> (..., T, T) with ``out[..., i, j] = exp(a[j+1] + ... + a[i])``
    for ``j <= i`` (1 on the diagonal) and 0 above it.

    Computed without -inf: the masked cumulative sum is exactly 0 above the diagonal, so its
    exponential is finite there (and zeroed after), which keeps gradients defined and avoids the
    slow path ``exp`` takes on -inf inputs.
    """
    T = a.shape[-1]
    lower = torch.ones(T, T, dtype=a.dtype, device=a.device).tril()
    return torch.exp(_masked_cumsum(a)) * lower  # a multiply is several times faster than masked_fill here


def _masked_cumsum(a: torch.Tensor) -> torch.Tensor:
    """``out[..., i, j] = a[j+1] + ... + a[i]`` for ``i > j``, exactly 0 elsewhere (a masked cumsum
    rather than a difference of cumsums, which loses precision once the sums are large)."""
    T = a.shape[-1]
    strict = torch.ones(T, T, dtype=a.dtype, device=a.device).tril(-1)
    return (a.unsqueeze(-1) * strict).cumsum(dim=-2)


def _pad_time(t: torch.Tensor, multiple: int) -> torch.Tensor:
    """Right-pad dim 1 with zeros to a multiple of ``multiple`` (zero log-decay = no decay, zero input)."""
    extra = (-t.shape[1]) % multiple
    if not extra:
        return t
    pad = [0, 0] * (t.dim() - 2) + [0, extra]
    return F.pad(t, pad)


def _shift_chunks(states: torch.Tensor) -> torch.Tensor:
    """(B, C, ...) states after each chunk -> states entering each chunk (zeros before the first)."""
    return torch.cat([torch.zeros_like(states[:, :1]), states[:, :-1]], dim=1)


def linear_scan(log_a: torch.Tensor, u: torch.Tensor, chunk_size: int = 64) -> torch.Tensor:
    """All states of ``s_t = exp(log_a_t) * s_{t-1} + u_t`` with ``s_{-1} = 0``.

    Parameters
    ----------
    log_a : torch.Tensor
        (B, L, H) log-decays, <= 0.
    u : torch.Tensor
        (B, L, H, D) inputs.
    chunk_size : int
        Positions per chunk of the matrix form.

    Returns
    -------
    torch.Tensor
        (B, L, H, D) states, dtype of ``u``.
    """
    b, length, h, d = u.shape
    Q = chunk_size
    if length <= Q:
        return (decay_matrix(log_a.transpose(1, 2)) @ u.transpose(1, 2)).transpose(1, 2)
    a = _pad_time(log_a, Q)
    x = _pad_time(u, Q)
    c = a.shape[1] // Q
    a = a.view(b, c, Q, h).permute(0, 3, 1, 2)  # (b, h, c, Q)
    x = x.view(b, c, Q, h, d).permute(0, 3, 1, 2, 4)  # (b, h, c, Q, d)
    within = decay_matrix(a) @ x  # (b, h, c, Q, d): states from inputs of the same chunk
    a_cum = a.cumsum(dim=-1)  # decay from the chunk start to each position
    carried = linear_scan(a_cum[..., -1].transpose(1, 2), within[..., -1, :].transpose(1, 2), Q)  # (b, c, h, d)
    carried = _shift_chunks(carried).transpose(1, 2)  # state entering each chunk
    s = within + torch.exp(a_cum).unsqueeze(-1) * carried.unsqueeze(-2)
    return s.permute(0, 2, 3, 1, 4).reshape(b, c * Q, h, d)[:, :length]


def ssd_chunked(
    x: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, chunk_size: int = 64
) -> torch.Tensor:
    """Mamba-2 SSD output (without the D skip) in chunked matrix form.

    Parameters
    ----------
    x : (batch, L, H, P) inputs per head.
    dt : (batch, L, H) positive step sizes (after softplus).
    A : (H,) or (batch, 1, H) negative decay rates. (The no-grad path relies on dt > 0 and A < 0:
        the log-decays then only fall along a chunk.)
    B, C : (batch, L, N) input and output projections, shared by all heads (one group).
    chunk_size : int
        Positions per chunk; any value gives the same result up to rounding (64 is fastest on
        CPUs; see ``BiMamba2``).

    Returns
    -------
    torch.Tensor
        (batch, L, H, P).

    Layout: the within-chunk product runs head-major, (batch, chunk, H, Q, P); the chunk states
    and the carried-state output run position-major, (batch, chunk, Q, H*P), so B and C (shared
    by all heads) enter one matrix product per chunk instead of being copied for every head.
    """
    b, length, h, p = x.shape
    Q = max(1, min(chunk_size, length))
    x, dt, B, C = (_pad_time(t, Q) for t in (x, dt, B, C))  # zero dt: no decay, no input
    A = A.reshape(-1, 1, 1, h) if A.dim() > 1 else A  # broadcasts against (b, chunks, Q, h)
    if torch.is_grad_enabled() and any(t.requires_grad for t in (x, dt, A, B, C)):
        return _ssd_autograd(x, dt, A, B, C, Q)[:, :length]
    return _ssd_inference(x, dt, A, B, C, Q)[0][:, :length]


def ssd_chunked_continue(x: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                         state: torch.Tensor | None, chunk_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """``ssd_chunked`` without autograd, continued from the state a previous call returned.

    Running a sequence in consecutive pieces, each from the last one's state, gives ``ssd_chunked``
    of the whole (up to rounding): a caller can take a long sequence a block of time at a time.

    Parameters
    ----------
    x, dt, A, B, C, chunk_size
        As ``ssd_chunked``; A is (H,) or (batch, 1, H).
    state : (batch, N, H*P) fp32 (fp64 for fp64 inputs), or None for a zero state.

    Returns
    -------
    (y, state)
        y (batch, L, H, P) in x's dtype; the state after the last position.
    """
    if torch.is_grad_enabled() and any(t.requires_grad for t in (x, dt, A, B, C)):
        raise RuntimeError("ssd_chunked_continue has no autograd (it updates its state in place); use ssd_chunked")
    b, length, h, p = x.shape
    Q = max(1, min(chunk_size, length))
    x, dt, B, C = (_pad_time(t, Q) for t in (x, dt, B, C))  # zero dt: the state passes the padding unchanged
    A = A.reshape(-1, 1, 1, h) if A.dim() > 1 else A
    y, state = _ssd_inference(x, dt, A, B, C, Q, state=state)
    return y[:, :length], state


def _ssd_inference(x, dt, A, B, C, Q: int, block_positions: int = 2048,
                   state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``ssd_chunked`` without autograd, on inputs padded to a multiple of Q: in-place elementwise
    ops, and the sequence taken in blocks of ``block_positions`` so that every intermediate is the
    size of one block (memory stays flat in length; a block's tensors stay in the last-level cache).

    Runs in fp32 (fp64 for fp64 inputs) with autocast off, whatever the caller's autocast: the in-place products
    (``baddbmm_``, ``out=``) cannot take autocast's bf16 operands into an fp32 state, and the
    decays exp(cs_i - cs_j) and the carried state are the sums bf16 would round worst. The output
    comes back in ``x``'s dtype, with the state after the last position (``state``: the one before the
    first; None: zero)."""
    compute = torch.promote_types(x.dtype, torch.float32)  # fp32, or fp64 when the caller asks for it
    with torch.autocast(device_type=x.device.type, enabled=False):
        y, state = _ssd_inference_fp32(*(t.to(compute) for t in (x, dt, A, B, C)), Q, block_positions, state)
    return y.to(x.dtype), state


def _ssd_inference_fp32(x, dt, A, B, C, Q: int, block_positions: int,
                        state: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    b, padded, h, p = x.shape
    n, c = B.shape[-1], padded // Q
    xv, dtv = x.view(b, c, Q, h, p), dt.view(b, c, Q, h)
    Bc, Cc = B.view(b, c, Q, n), C.view(b, c, Q, n)
    lower = torch.ones(Q, Q, dtype=x.dtype, device=x.device).tril()
    y = torch.empty(b, c, Q, h, p, dtype=x.dtype, device=x.device)
    fresh = state is None  # a zero state: the first chunk reads nothing from it
    # the state at the end of the last chunk done (a copy: the caller's tensor is not changed in place)
    state = torch.zeros(b, n, h * p, dtype=x.dtype, device=x.device) if fresh else state.to(x.dtype).clone()
    per_block = max(1, block_positions // Q)
    for first in range(0, c, per_block):
        blk = slice(first, min(c, first + per_block))
        g = blk.stop - blk.start
        xb, dtb, Bb, Cb = xv[:, blk], dtv[:, blk], Bc[:, blk], Cc[:, blk]
        cs = (dtb * A).cumsum(dim=2)  # (b, g, Q, h) log-decay from the chunk start
        cs_h = cs.transpose(2, 3).contiguous()  # (b, g, h, Q); contiguous, so M below is too (else matmul copies it)
        # 1. within chunks: (C_i . B_j) * exp(cs_i - cs_j) * dt_j x_j for j <= i. cs only falls along a
        # chunk (dt > 0, A < 0), so cs_i - cs_j <= 0 below the diagonal and the clamp changes nothing there;
        # above it the clamp keeps exp finite (exp of -inf takes a slow path) and the causal mask is folded
        # into C.B, which is h times smaller than M.
        M = torch.empty(b, g, h, Q, Q, dtype=x.dtype, device=x.device)
        torch.sub(cs_h.unsqueeze(-1), cs_h.unsqueeze(-2), out=M).clamp_max_(0).exp_()
        M.mul_((Cb @ Bb.transpose(-1, -2)).mul_(lower).unsqueeze(2))  # (b, g, h, Q, Q)
        X = torch.empty(b, g, h, Q, p, dtype=x.dtype, device=x.device)
        torch.mul(xb.transpose(2, 3), dtb.transpose(2, 3).unsqueeze(-1), out=X)  # scale and permute in one pass
        y_in = M @ X  # (b, g, h, Q, p)
        del M, X
        # 2-4. chunk by chunk: output from the state entering the chunk, then the state leaving it.
        # The state (b, N, H*P) stays in cache and no (b, chunks, N, H, P) tensor is built (twice
        # the size of x at Q = 64); each step is two small matrix products and one multiply.
        to_end = torch.exp(cs[:, :, -1:, :] - cs).mul_(dtb)  # (b, g, Q, h): decay to the chunk's end
        Xw = (xb * to_end.unsqueeze(-1)).reshape(b, g, Q, h * p)
        gate = torch.exp(cs[:, :, -1, :]).view(b, g, 1, h, 1)  # decay across each whole chunk
        off = torch.empty(g, b, Q, h * p, dtype=x.dtype, device=x.device)  # C_t . (state entering t's chunk)
        for i in range(g):
            if first + i == 0 and fresh:
                off[i].zero_()
            else:
                torch.bmm(Cb[:, i], state, out=off[i])
                state.view(b, n, h, p).mul_(gate[:, i])
            state.baddbmm_(Bb[:, i].transpose(1, 2), Xw[:, i])
        out = y[:, blk]
        torch.mul(off.view(g, b, Q, h, p).transpose(0, 1), torch.exp(cs).unsqueeze(-1), out=out)
        out.add_(y_in.transpose(2, 3))
    return y.view(b, c * Q, h, p), state


def _ssd_autograd(x, dt, A, B, C, Q: int) -> torch.Tensor:
    """``ssd_chunked`` with autograd (no in-place ops), on inputs padded to a multiple of Q."""
    b, padded, h, p = x.shape
    n, c = B.shape[-1], padded // Q
    xv, dtv = x.view(b, c, Q, h, p), dt.view(b, c, Q, h)
    Bc, Cc = B.view(b, c, Q, n), C.view(b, c, Q, n)
    cs = (dtv * A).cumsum(dim=2)
    cs_h = cs.transpose(2, 3)
    upper = torch.ones(Q, Q, dtype=torch.bool, device=x.device).triu(1)
    M = torch.exp((cs_h.unsqueeze(-1) - cs_h.unsqueeze(-2)).masked_fill(upper, -math.inf))
    M = M * (Cc @ Bc.transpose(-1, -2)).unsqueeze(2)
    y_in = M @ (xv * dtv.unsqueeze(-1)).transpose(2, 3)  # (b, c, h, Q, p)
    Xw = (xv * (torch.exp(cs[:, :, -1:, :] - cs) * dtv).unsqueeze(-1)).reshape(b, c, Q, h * p)
    gate = torch.exp(cs[:, :, -1, :]).view(b, c, 1, h, 1)
    offs, state = [x.new_zeros(b, Q, h * p)], None
    for i in range(c - 1):
        own = Bc[:, i].transpose(1, 2) @ Xw[:, i]
        state = own if state is None else (state.view(b, n, h, p) * gate[:, i]).view(b, n, h * p) + own
        offs.append(Cc[:, i + 1] @ state)
    y = torch.stack(offs, dim=1).view(b, c, Q, h, p) * torch.exp(cs).unsqueeze(-1) + y_in.transpose(2, 3)
    return y.reshape(b, c * Q, h, p)


def ssd_chunked_masked(
    x: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, chunk_size: int = 64
) -> torch.Tensor:
    """``ssd_chunked`` in the previous formulation: masked-cumsum decays, head-major layout throughout.

    Kept as a second reference (exact decays; tests) and for the speed comparison in
    ``bench/bench_120m_cpu.py --baseline-src`` (old package copy against this one). Same arguments and result as ``ssd_chunked``.

    Parameters
    ----------
    x : (batch, L, H, P) inputs per head.
    dt : (batch, L, H) positive step sizes (after softplus).
    A : (H,) or (batch, 1, H) negative decay rates.
    B, C : (batch, L, N) input and output projections, shared by all heads (one group).
    chunk_size : int

    Returns
    -------
    torch.Tensor
        (batch, L, H, P).
    """
    b, length, h, p = x.shape
    n = B.shape[-1]
    Q = chunk_size
    a = _pad_time(dt * A, Q)  # (b, L', h) log-decays
    xdt = _pad_time(x * dt.unsqueeze(-1), Q)
    Bp, Cp = _pad_time(B, Q), _pad_time(C, Q)
    c = a.shape[1] // Q
    a = a.view(b, c, Q, h).permute(0, 3, 1, 2)  # (b, h, c, Q)
    X = xdt.view(b, c, Q, h, p).permute(0, 3, 1, 2, 4)  # (b, h, c, Q, p)
    Bc, Cc = Bp.view(b, 1, c, Q, n), Cp.view(b, 1, c, Q, n)

    decay = decay_matrix(a)  # (b, h, c, Q, Q)
    # 1. outputs from inputs of the same chunk: (C_t . B_s) * decay(s -> t) * x_s
    y = (decay * (Cc @ Bc.transpose(-1, -2))) @ X
    # 2. state at the end of each chunk from its own inputs
    to_end = decay[..., -1, :].unsqueeze(-1)  # (b, h, c, Q, 1)
    states = (X * to_end).transpose(-1, -2) @ Bc  # (b, h, c, p, n)
    # 3. states carried across chunks: a scalar-decay scan over chunks
    a_cum = a.cumsum(dim=-1)
    chunk_decay = a_cum[..., -1].transpose(1, 2)  # (b, c, h)
    flat = states.permute(0, 2, 1, 3, 4).reshape(b, c, h, p * n)
    carried = linear_scan(chunk_decay, flat, Q)
    carried = _shift_chunks(carried)  # state entering each chunk
    carried = carried.view(b, c, h, p, n).permute(0, 2, 1, 3, 4)  # (b, h, c, p, n)
    # 4. outputs from the carried state
    y = y + (Cc @ carried.transpose(-1, -2)) * torch.exp(a_cum).unsqueeze(-1)
    return y.permute(0, 2, 3, 1, 4).reshape(b, c * Q, h, p)[:, :length]


def linear_scan_sequential(log_a: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Reference for ``linear_scan``: one Python step per position. Slow; tests and benchmarks only."""
    s = torch.zeros_like(u[:, 0])
    out = []
    for t in range(u.shape[1]):
        s = torch.exp(log_a[:, t]).unsqueeze(-1) * s + u[:, t]
        out.append(s)
    return torch.stack(out, dim=1)


def ssd_sequential(x: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """Reference for ``ssd_chunked``: the recurrent form, one Python step per position."""
    b, length, h, p = x.shape
    state = x.new_zeros(b, h, p, B.shape[-1])
    decay = torch.exp(dt * A)  # (b, L, h)
    out = []
    for t in range(length):
        inp = (x[:, t] * dt[:, t].unsqueeze(-1)).unsqueeze(-1) * B[:, t, None, None, :]
        state = decay[:, t, :, None, None] * state + inp
        out.append(state @ C[:, t, None, :, None])
    return torch.stack(out, dim=1).squeeze(-1)
