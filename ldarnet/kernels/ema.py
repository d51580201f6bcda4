"""Fused bidirectional EMA over chunks: the dechunker's smoothing in one Triton kernel (fwd + bwd).

Computes, for each sample b with ``n = lengths[b]`` valid chunks and channels d,

    f_j = gf_j z_j + (1 - gf_j) f_{j-1},   f_{-1} = 0        (forward EMA, j = 0 .. n-1)
    r_j = gb_j z_j + (1 - gb_j) r_{j+1},   r_n = 0           (reverse EMA, within the length)
    out_j = (f_j + r_j) / 2,  out_j = 0 for j >= n

with fp32 state whatever the dtype of ``z``. The gates are inputs, so the convention for the reverse
gate (ours: the boundary after chunk j) stays in ``ldarnet/chunking.py``. The reference is the two
``ema`` passes there (a chunked scan, the reverse one between two per-sample reversals); here the
reversal is in the addressing and both directions run as programs of one launch.

Grid: (batch, channel blocks, direction x segment). Each program walks one segment of its sample's
chunks in tiles of ``BLOCK_T`` positions, scans a tile in parallel (``tl.associative_scan``) and
carries the state to the next tile. A long sequence in a small batch is cut into segments so the
GPU has enough programs: a first launch keeps each segment's end state and total decay, a small
kernel scans those summaries into the state entering each segment, and the real pass starts each
segment from it (z is read twice; with one segment, the usual case in training, once).
The two directions add into a zeroed output: two addends in any order give the same float, so the
result is deterministic. Backward runs the adjoint recurrences the same way, reading the saved
states for the gate gradients, whose per-block partial sums are added in PyTorch (fixed order).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ._common import INTERPRET, configs, on_device, scan_tile

# Narrow channel blocks keep a long single sequence (B = 1) spread over many programs.
_CONFIGS = configs(dict(BLOCK_T=8, BLOCK_D=4), (dict(BLOCK_T=64, BLOCK_D=8), 2), (dict(BLOCK_T=32, BLOCK_D=16), 2),
                   (dict(BLOCK_T=64, BLOCK_D=16), 4), (dict(BLOCK_T=64, BLOCK_D=32), 4))


@triton.autotune(_CONFIGS, key=["D", "ENDS_ONLY"], reset_to_zero=["OUT"])
@triton.jit(do_not_specialize=["B", "M", "SEG", "S"])
def _ema_fwd(Z, G, LEN, OUT, STATES, ENDS, LOGDEC, CIN, B, M, D, SEG, S,
             SAVE: tl.constexpr, ENDS_ONLY: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_D: tl.constexpr):
    # One program: sample b, a block of channels, one direction, one segment of SEG positions in that
    # direction's order. ENDS_ONLY: scan from a zero state and keep only the segment's end state and
    # log total decay; else start from the carried state CIN and write the states.
    b = tl.program_id(0).to(tl.int64)
    direction = tl.program_id(2) % 2
    seg = tl.program_id(2) // 2
    n = tl.load(LEN + b).to(tl.int64)
    rows = tl.arange(0, BLOCK_T)
    cols = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    cmask = cols < D
    gates = G + direction * B * M + b * M
    zrow = Z + b * M * D
    summary = (direction * B + b) * S + seg  # row of ENDS / LOGDEC / CIN
    if ENDS_ONLY:
        carry = tl.zeros([BLOCK_D], dtype=tl.float32)
    else:
        carry = tl.load(CIN + summary * D + cols, mask=cmask, other=0.0)
    log_decay = 0.0
    seg_start = seg.to(tl.int64) * SEG
    seg_stop = tl.minimum(seg_start + SEG, n)
    for start in range(seg_start, seg_stop, BLOCK_T):
        k = start + rows  # position in this direction's order
        valid = k < seg_stop
        j = tl.where(direction == 0, k, n - 1 - k)  # position in the sequence
        g = tl.load(gates + j, mask=valid, other=0.0)
        offs = j[:, None] * D + cols[None, :]
        m2 = valid[:, None] & cmask[None, :]
        z = tl.load(zrow + offs, mask=m2, other=0.0).to(tl.float32)
        a = tl.where(valid, 1.0 - g, 1.0)
        s, carry = scan_tile(a, g[:, None] * z, carry, rows, BLOCK_T)
        if ENDS_ONLY:
            log_decay += tl.sum(tl.log(tl.maximum(a, 1e-30)), axis=0)  # a = 0: no decay to speak of
        else:
            if SAVE:
                tl.store(STATES + direction * B * M * D + b * M * D + offs, s, mask=m2)
            tl.atomic_add(OUT + b * M * D + offs, 0.5 * s, mask=m2, sem="relaxed")
    if ENDS_ONLY:
        tl.store(ENDS + summary * D + cols, carry, mask=cmask)
        tl.store(LOGDEC + summary, log_decay)  # every channel block writes the same value


@triton.autotune(_CONFIGS, key=["D", "ENDS_ONLY"], reset_to_zero=["DZ", "DG"])
@triton.jit(do_not_specialize=["B", "M", "NB", "SEG", "S"])
def _ema_bwd(Z, G, LEN, GRAD, STATES, DZ, DG, ENDS, LOGDEC, CIN, B, M, D, NB, SEG, S,
             ENDS_ONLY: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_D: tl.constexpr):
    # direction 0: adjoint of the forward EMA, lam_j = g_j/2 + (1 - gf_{j+1}) lam_{j+1}, run in descending j;
    # direction 1: adjoint of the reverse EMA, mu_j = g_j/2 + (1 - gb_{j-1}) mu_{j-1}, run in ascending j.
    # Segments and ENDS_ONLY as in _ema_fwd, in the adjoint's order.
    b = tl.program_id(0).to(tl.int64)
    block = tl.program_id(1)
    direction = tl.program_id(2) % 2
    seg = tl.program_id(2) // 2
    n = tl.load(LEN + b).to(tl.int64)
    rows = tl.arange(0, BLOCK_T)
    cols = block * BLOCK_D + tl.arange(0, BLOCK_D)
    cmask = cols < D
    gates = G + direction * B * M + b * M
    states = STATES + direction * B * M * D + b * M * D
    zrow = Z + b * M * D
    step = tl.where(direction == 0, 1, -1)  # from j to the neighbour whose gate decays the adjoint into j
    summary = (direction * B + b) * S + seg
    if ENDS_ONLY:
        carry = tl.zeros([BLOCK_D], dtype=tl.float32)
    else:
        carry = tl.load(CIN + summary * D + cols, mask=cmask, other=0.0)
    log_decay = 0.0
    seg_start = seg.to(tl.int64) * SEG
    seg_stop = tl.minimum(seg_start + SEG, n)
    for start in range(seg_start, seg_stop, BLOCK_T):
        k = start + rows
        valid = k < seg_stop
        j = tl.where(direction == 0, n - 1 - k, k)
        nb = j + step
        g_nb = tl.load(gates + nb, mask=valid & (nb >= 0) & (nb < n), other=1.0)
        offs = j[:, None] * D + cols[None, :]
        m2 = valid[:, None] & cmask[None, :]
        go = tl.load(GRAD + b * M * D + offs, mask=m2, other=0.0).to(tl.float32)
        a = tl.where(valid, 1.0 - g_nb, 1.0)
        adj, carry = scan_tile(a, 0.5 * go, carry, rows, BLOCK_T)
        if ENDS_ONLY:
            log_decay += tl.sum(tl.log(tl.maximum(a, 1e-30)), axis=0)  # a = 0: no decay to speak of
        else:
            g = tl.load(gates + j, mask=valid, other=0.0)
            z = tl.load(zrow + offs, mask=m2, other=0.0).to(tl.float32)
            prev = j - step  # the state this direction's recurrence at j starts from
            s_prev = tl.load(states + prev[:, None] * D + cols[None, :],
                             mask=m2 & (prev[:, None] >= 0) & (prev[:, None] < n), other=0.0)
            tl.atomic_add(DZ + b * M * D + offs, g[:, None] * adj, mask=m2, sem="relaxed")
            dg = tl.sum(tl.where(m2, adj * (z - s_prev), 0.0), axis=1)
            tl.store(DG + ((direction * NB + block) * B + b) * M + j, dg, mask=valid)
    if ENDS_ONLY:
        tl.store(ENDS + summary * D + cols, carry, mask=cmask)
        tl.store(LOGDEC + summary, log_decay)


@triton.jit(do_not_specialize=["B", "S"])
def _ema_carry(ENDS, LOGDEC, CIN, B, S, D, BLOCK_D: tl.constexpr):
    # The state entering each segment: a sequential scan over the (few) segment summaries.
    b = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    cmask = cols < D
    base = (tl.program_id(2) * B + b) * S
    carry = tl.zeros([BLOCK_D], dtype=tl.float32)
    for s in range(0, S):
        tl.store(CIN + (base + s) * D + cols, carry, mask=cmask)
        end = tl.load(ENDS + (base + s) * D + cols, mask=cmask, other=0.0)
        carry = tl.exp(tl.load(LOGDEC + base + s)) * carry + end


def _segments(b: int, m: int, d: int, device: torch.device, segment: int | None) -> tuple[int, int]:
    """(positions per segment, segments per sequence). One segment unless batch x channel blocks x 2
    directions leave the GPU idle (a long single sequence): then enough segments for ~4 programs per SM."""
    if segment is None:
        sms = torch.cuda.get_device_properties(device).multi_processor_count if device.type == "cuda" else 1
        want = triton.cdiv(4 * sms, b * triton.cdiv(d, 16) * 2)
        segment = max(256, triton.cdiv(triton.cdiv(m, want), 64) * 64) if want > 1 else m
    segment = max(1, min(segment, m))
    return segment, triton.cdiv(m, segment)


def _scan(kernel, b, m, d, seg, nseg, z, args_before, args_after, **meta):
    """Run ``kernel`` over all segments: first their end states, then the carries, then the real pass."""
    dev = z.device
    cin = torch.zeros(2, b, nseg, d, device=dev, dtype=torch.float32)
    ends = torch.zeros(2, b, nseg, d, device=dev, dtype=torch.float32)
    logdec = torch.zeros(2, b, nseg, device=dev, dtype=torch.float32)
    grid = lambda meta: (b, triton.cdiv(d, meta["BLOCK_D"]), 2 * nseg)  # noqa: E731
    with on_device(z):
        if nseg > 1:
            kernel[grid](*args_before, ends, logdec, cin, *args_after, ENDS_ONLY=True, **meta)
            block = 4 if INTERPRET else 64
            _ema_carry[(b, triton.cdiv(d, block), 2)](ends, logdec, cin, b, nseg, d, BLOCK_D=block)
        kernel[grid](*args_before, ends, logdec, cin, *args_after, ENDS_ONLY=False, **meta)


class _BidirectionalEMA(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, gate_fwd, gate_bwd, lengths, segment):
        b, m, d = z.shape
        z = z.contiguous()
        gates = torch.stack([gate_fwd, gate_bwd]).float().contiguous()  # (2, B, M)
        lengths = lengths.to(device=z.device, dtype=torch.int32).clamp(0, m).contiguous()
        save = any(ctx.needs_input_grad[:3])
        out = torch.zeros(b, m, d, device=z.device, dtype=torch.float32)
        states = torch.empty(2, b, m, d, device=z.device, dtype=torch.float32) if save else out  # read only where written
        seg, nseg = _segments(b, m, d, z.device, segment)
        if b and m and d:
            _scan(_ema_fwd, b, m, d, seg, nseg, z, (z, gates, lengths, out, states), (b, m, d, seg, nseg), SAVE=save)
        ctx.save_for_backward(z, gates, lengths, states)
        ctx.segments = seg, nseg
        return out

    @staticmethod
    def backward(ctx, grad):
        z, gates, lengths, states = ctx.saved_tensors
        b, m, d = z.shape
        seg, nseg = ctx.segments
        grad = grad.float().contiguous()
        dz = torch.zeros(b, m, d, device=z.device, dtype=torch.float32)
        # per-channel-block partial gate gradients: allocated for the smallest block, the largest count
        blocks = triton.cdiv(d, min(c.kwargs["BLOCK_D"] for c in _CONFIGS))
        dg = torch.zeros(2, blocks, b, m, device=z.device, dtype=torch.float32)
        if b and m and d:
            _scan(_ema_bwd, b, m, d, seg, nseg, z, (z, gates, lengths, grad, states, dz, dg),
                  (b, m, d, blocks, seg, nseg))
        dg = dg.sum(dim=1)  # unused blocks are zero
        return dz.to(z.dtype), dg[0], dg[1], None, None


def bidirectional_ema(z: torch.Tensor, gate_fwd: torch.Tensor, gate_bwd: torch.Tensor,
                      lengths: torch.Tensor, segment: int | None = None) -> torch.Tensor:
    """Half the sum of a forward and a within-length reverse EMA over chunks, fp32.

    Parameters
    ----------
    z : (B, M, d) chunk vectors, any float dtype (read as fp32; positions >= length are ignored).
    gate_fwd : (B, M) gate of the forward EMA at each chunk, in (0, 1).
    gate_bwd : (B, M) gate of the reverse EMA at each chunk, in (0, 1).
    lengths : (B,) int, valid chunks per sample.
    segment : positions scanned by one program; ``None`` picks one segment per sequence unless the
        batch is too small to fill the GPU (see ``_segments``). Results do not depend on it beyond rounding.

    Returns
    -------
    (B, M, d) float32, zero at positions >= length. Differentiable in ``z`` and both gates.
    """
    if z.dim() != 3 or gate_fwd.shape != z.shape[:2] or gate_bwd.shape != z.shape[:2]:
        raise ValueError(f"expected z (B, M, d) and gates (B, M); got {tuple(z.shape)}, "
                         f"{tuple(gate_fwd.shape)}, {tuple(gate_bwd.shape)}")
    return _BidirectionalEMA.apply(z, gate_fwd, gate_bwd, lengths, segment)
