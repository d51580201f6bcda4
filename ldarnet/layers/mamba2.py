"""BiMamba-2: a Mamba-2 mixer run forward and in reverse with shared projections, in pure PyTorch.

Shared between the two directions: ``in_proj`` and ``out_proj`` (most of the parameters, as in
Caduceus' BiMamba and the paper's Eq. 7). Per direction: the depthwise convolution (weight and bias),
``dt_bias``, ``A_log``, ``D`` and the gated-norm weight; these are stored stacked with a leading
dimension of 2 (forward, reverse) so both directions run in one call of each op.

Padding: each sample is reversed *within its own valid length*, so pads trail in both directions
and a causal convolution or scan never carries them into a real token. Pad positions are also zeroed
before and after the convolution (its bias would otherwise make them non-zero).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..vocab import reverse_within_length
from . import gpu
from .scan import ssd_chunked_continue

# The SSD's chunk length on CPU, independent of the config's ``chunk_size`` (which the GPU kernel
# and parity tests use): the result does not depend on it beyond float rounding. Shorter chunks spend
# less on the O(Q^2) within-chunk products, longer ones less on chunk states; of 32/64/128, 64 was
# fastest for one 120m-shaped SSD call (2 x 4096 positions, 16 heads x 64, N = 128, 1 thread, machine
# at load ~9: 0.46 / 0.35 / 0.46 CPU-s; the old chunk-256 form: 1.99), and for one whole no-grad mixer
# at either preset's shapes, alternating in one process on 2 threads (proxy, L = 12,288: 103 / 84 / 119 ms;
# 120m, L = 4096: 273 / 255 / 282 ms). None: use the config's value.
CPU_CHUNK_SIZE: int | None = 64
# Positions per block of the no-grad CPU mixer on unpadded rows (BiMamba2._forward_in_blocks); longer rows
# go block by block, so a layer's intermediates stay the size of one block whatever the window. None: off.
CPU_MIXER_BLOCK: int | None = 4096


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x.float(), (x.shape[-1],), eps=self.eps).to(x.dtype) * self.weight


class SwiGLU(nn.Module):
    def __init__(self, d_model: int, d_intermediate: int):
        super().__init__()
        self.fc1 = nn.Linear(d_model, 2 * d_intermediate, bias=False)
        self.fc2 = nn.Linear(d_intermediate, d_model, bias=False)
        self.fc2._residual_out = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.fc1(x).chunk(2, dim=-1)
        return self.fc2(F.silu(gate) * up)


class BiMamba2(nn.Module):
    """Bidirectional Mamba-2 mixer with one B/C group; ``fusion`` is ``"mean"`` or ``"sum"``."""

    def __init__(self, d_model: int, d_state: int = 128, d_conv: int = 4, expand: int = 2, headdim: int = 64,
                 chunk_size: int = 64, fusion: str = "mean", eps: float = 1e-5,
                 dt_min: float = 1e-3, dt_max: float = 0.1, A_init_range: tuple[float, float] = (1.0, 16.0)):
        super().__init__()
        self.d_inner = expand * d_model
        self.d_state, self.d_conv, self.headdim, self.chunk_size = d_state, d_conv, headdim, chunk_size
        self.nheads = self.d_inner // headdim
        self.fusion_scale = 0.5 if fusion == "mean" else 1.0
        self.eps = eps
        conv_dim = self.d_inner + 2 * d_state
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner + 2 * d_state + self.nheads, bias=False)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)
        self.out_proj._residual_out = True

        bound = 1.0 / math.sqrt(d_conv)
        self.conv_weight = nn.Parameter(torch.empty(2, conv_dim, d_conv).uniform_(-bound, bound))
        self.conv_bias = nn.Parameter(torch.empty(2, conv_dim).uniform_(-bound, bound))
        # dt log-uniform in [dt_min, dt_max]; dt_bias is its inverse softplus (Mamba-2's init).
        dt = torch.exp(torch.rand(2, self.nheads) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)).clamp(min=1e-4)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.log(torch.empty(2, self.nheads).uniform_(*A_init_range)))
        self.D = nn.Parameter(torch.ones(2, self.nheads))
        self.norm_weight = nn.Parameter(torch.ones(2, self.d_inner))
        for p in (self.dt_bias, self.A_log, self.D):
            p._no_weight_decay = True

    def forward(self, x: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """x (B, L, d_model), mask (B, L) bool, lengths (B,) int64 -> (B, L, d_model), zero at pads."""
        b, length, _ = x.shape
        # Rows without padding (the common inference case) need no pad zeroing and reverse by a flip.
        # Checked on the host only on CPU, where it costs nothing; on GPU the general path avoids a sync.
        full = not x.is_cuda and bool((lengths == length).all())
        inplace = not torch.is_grad_enabled()  # in-place elementwise ops only where autograd keeps nothing
        if inplace and full and CPU_MIXER_BLOCK and length > CPU_MIXER_BLOCK and not torch.is_autocast_enabled("cpu"):
            return self._forward_in_blocks(x, CPU_MIXER_BLOCK)
        keep = mask.unsqueeze(-1).to(x.dtype)
        zxbcdt = self.in_proj(x)
        if not full:
            zxbcdt = zxbcdt * keep
        z, xbc, dt = torch.split(zxbcdt, [self.d_inner, self.d_inner + 2 * self.d_state, self.nheads], dim=-1)
        # Only what the scan reads is reversed for the reverse direction; the gate z is position-wise,
        # so the reverse output is brought back to forward order before gating instead.
        xbc = self._conv(xbc, _reverse(xbc, lengths, full), inplace)  # (2, B, L, conv_dim)
        if not full:
            xbc = xbc * keep
        xs, B, C = torch.split(xbc, [self.d_inner, self.d_state, self.d_state], dim=-1)
        dt = torch.stack([dt, _reverse(dt, lengths, full)])
        dt = F.softplus(dt + self.dt_bias[:, None, None, :].to(dt.dtype))  # (2, B, L, H)
        A = -torch.exp(self.A_log.float())  # (2, H)

        xs = xs.reshape(2 * b, length, self.nheads, self.headdim)
        chunk = self.chunk_size if x.is_cuda or CPU_CHUNK_SIZE is None else CPU_CHUNK_SIZE
        y = gpu.ssd(
            xs, dt.reshape(2 * b, length, self.nheads), A.repeat_interleave(b, dim=0)[:, None, :],
            B.reshape(2 * b, length, self.d_state), C.reshape(2 * b, length, self.d_state), chunk,
            row_blocks=2,  # forward rows, then reverse rows: one A each, so the kernel needs no host sync
        )
        D = self.D.repeat_interleave(b, dim=0)[:, None, :, None].to(xs.dtype)
        y = (y.addcmul_(xs, D) if inplace else y + xs * D).reshape(2, b, length, self.d_inner)
        gate = F.silu(z.float())
        fused = self._gated_norm(y[0], gate, 0)
        rev = self._gated_norm(_reverse(y[1], lengths, full), gate, 1)
        fused = fused.add_(rev) if inplace else fused + rev
        out = self.out_proj(fused.to(x.dtype))
        return out if full else out * keep

    def _forward_in_blocks(self, x: torch.Tensor, step: int) -> torch.Tensor:
        """``forward`` for unpadded rows without autograd, ``step`` positions at a time.

        The forward direction sweeps the blocks in order and the reverse direction from the end, each
        carrying its SSD state (``ssd_chunked_continue``) and taking its convolution's history from
        the neighbouring block; the reverse sweep adds its half of the fused output and applies
        ``out_proj`` block by block. Only ``in_proj``'s output and the fused output are full length:
        at 49,152 positions one extraction of the shipped proxy adds 0.27 GB to the process's peak
        against 0.35 GB with whole rows. Its speed depends on the host (bench/bench_windows.py, arms
        alternating in one process): 1.17x (12,288-base windows) and 1.14x (49,152) the whole-row rate
        in one run, 0.95x and 1.01x in another, the host running at about half the speed. Same arithmetic as
        ``forward``, up to rounding.
        """
        b, length, d_model = x.shape
        k, width = self.d_conv, self.d_inner + 2 * self.d_state
        z, xbc, dt_all = torch.split(self.in_proj(x), [self.d_inner, width, self.nheads], dim=-1)
        w = self.conv_weight.to(x.dtype).transpose(1, 2).contiguous()  # (2, k, C), as in _conv
        bias, A = self.conv_bias.to(x.dtype), -torch.exp(self.A_log.float())
        chunk = CPU_CHUNK_SIZE or self.chunk_size
        fused = torch.empty(b, length, self.d_inner, dtype=torch.float32, device=x.device)
        out = torch.empty(b, length, d_model, dtype=x.dtype, device=x.device)
        starts = list(range(0, length, step))
        for direction in (0, 1):
            state = None
            for s in starts if direction == 0 else reversed(starts):
                e = min(length, s + step)
                if direction == 0:  # history: the k - 1 positions before the block
                    lo = max(0, s - (k - 1))
                    src, hist, dt = xbc[:, lo:e].contiguous(), s - lo, dt_all[:, s:e]
                else:  # reversed, with the k - 1 positions after the block as its history
                    hi = min(length, e + k - 1)
                    src, hist, dt = xbc[:, s:hi].flip(1), hi - e, dt_all[:, s:e].flip(1)
                conv = _causal_conv_silu_(src, w[direction], bias[direction], torch.empty_like(src))[:, hist:]
                xs, B, C = torch.split(conv, [self.d_inner, self.d_state, self.d_state], dim=-1)
                xs = xs.reshape(b, e - s, self.nheads, self.headdim)
                dt = F.softplus(dt + self.dt_bias[direction].to(dt.dtype))
                y, state = ssd_chunked_continue(xs, dt, A[direction], B, C, state, chunk)
                y = y.addcmul_(xs, self.D[direction][:, None].to(y.dtype)).reshape(b, e - s, self.d_inner)
                g = self._gated_norm(y.flip(1) if direction else y, F.silu(z[:, s:e].float()), direction)
                if direction == 0:
                    fused[:, s:e] = g
                else:
                    out[:, s:e] = self.out_proj(fused[:, s:e].add_(g).to(x.dtype))
        return out

    def _conv(self, xbc: torch.Tensor, xbc_rev: torch.Tensor, inplace: bool) -> torch.Tensor:
        """Causal depthwise convolution + SiLU, a separate kernel per direction: two (B, L, C) -> (2, B, L, C).

        Written as d_conv shifted multiply-adds along time in the (·, L, C) layout: on CPU this is
        several times faster than ``conv1d``, which needs (·, C, L) copies in and out and runs a
        depthwise kernel that does not vectorise well for a 4-tap filter.
        """
        k, length = self.d_conv, xbc.shape[1]
        w = self.conv_weight.to(xbc.dtype).transpose(1, 2).contiguous()  # (2, k, C): see _causal_conv_silu_
        bias = self.conv_bias.to(xbc.dtype)
        if inplace:
            out = torch.empty(2, *xbc.shape, dtype=xbc.dtype, device=xbc.device)
            xbc = xbc.contiguous()  # a column slice of in_proj's output: strided reads made each tap ~4x slower
        else:
            outs = []
        for direction, src in enumerate((xbc, xbc_rev)):
            if inplace:
                _causal_conv_silu_(src, w[direction], bias[direction], out[direction])
            else:
                o = src * w[direction, k - 1] + bias[direction]
                for lag in range(1, min(k, length)):
                    o = o + F.pad(src[:, : length - lag] * w[direction, k - 1 - lag], (0, 0, lag, 0))
                outs.append(o)
        return out if inplace else F.silu(torch.stack(outs))

    def _gated_norm(self, y: torch.Tensor, gate: torch.Tensor, direction: int) -> torch.Tensor:
        """RMSNorm(y * silu(z)) * weight * fusion scale, one direction (Mamba-2's norm_before_gate=False).
        y (B, L, d_inner) and gate = silu(z) (fp32, same shape), in forward order -> fp32 (B, L, d_inner)."""
        g = gate * y
        w = self.norm_weight[direction].float() * self.fusion_scale
        if torch.is_grad_enabled():
            return F.rms_norm(g, (g.shape[-1],), weight=w, eps=self.eps)
        # No grad: the same arithmetic in place, without rms_norm's full-size temporaries (on CPU it is
        # not one kernel): the row norms of g, then the scale and the weight.
        scale = torch.linalg.vector_norm(g, dim=-1, keepdim=True).div_(math.sqrt(g.shape[-1]))
        scale = scale.square_().add_(self.eps).rsqrt_()
        return g.mul_(scale).mul_(w)


def _causal_conv_silu_(src: torch.Tensor, w: torch.Tensor, bias: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``out`` = SiLU(causal depthwise convolution of ``src``), zero before its first position; no autograd.

    src and out (B, T, C), contiguous; w (k, C), each tap's weights contiguous (a strided weight row
    kept every tap's multiply-add from vectorising); bias (C,). Returns ``out``.
    """
    k, length = w.shape[0], src.shape[1]
    o = torch.mul(src, w[k - 1], out=out).add_(bias)  # lag 0
    for lag in range(1, min(k, length)):
        o[:, lag:].addcmul_(src[:, : length - lag], w[k - 1 - lag])
    return F.silu(o, inplace=True)


def _reverse(t: torch.Tensor, lengths: torch.Tensor, full: bool) -> torch.Tensor:
    """``reverse_within_length`` along dim -2 of (..., B, L, ·); a plain flip when no row is padded."""
    if full:
        return t.flip(-2)
    return reverse_within_length(t, lengths)
