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
from .scan import ssd_chunked


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * self.weight


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
        keep = mask.unsqueeze(-1).to(x.dtype)
        zxbcdt = self.in_proj(x) * keep
        both = torch.stack([zxbcdt, reverse_within_length(zxbcdt, lengths)])  # (2, B, L, ·)
        z, xbc, dt = torch.split(both, [self.d_inner, self.d_inner + 2 * self.d_state, self.nheads], dim=-1)

        xbc = self._conv(xbc) * keep  # (2, B, L, conv_dim)
        xs, B, C = torch.split(xbc, [self.d_inner, self.d_state, self.d_state], dim=-1)
        dt = F.softplus(dt + self.dt_bias[:, None, None, :].to(dt.dtype))  # (2, B, L, H)
        A = -torch.exp(self.A_log.float())  # (2, H)

        xs = xs.reshape(2 * b, length, self.nheads, self.headdim)
        y = gpu.ssd(
            xs, dt.reshape(2 * b, length, self.nheads), A.repeat_interleave(b, dim=0)[:, None, :],
            B.reshape(2 * b, length, self.d_state), C.reshape(2 * b, length, self.d_state), self.chunk_size,
            row_blocks=2,  # forward rows, then reverse rows: one A each, so the kernel needs no host sync
        )
        y = y + xs * self.D.repeat_interleave(b, dim=0)[:, None, :, None].to(xs.dtype)
        y = self._gated_norm(y.reshape(2, b, length, self.d_inner), z)
        fused = (y[0] + reverse_within_length(y[1], lengths)) * self.fusion_scale
        return self.out_proj(fused) * keep

    def _conv(self, xbc: torch.Tensor) -> torch.Tensor:
        """Causal depthwise convolution + SiLU, a separate kernel per direction. (2, B, L, C) -> same."""
        two, b, length, ch = xbc.shape
        inp = xbc.permute(1, 0, 3, 2).reshape(b, two * ch, length)
        w = self.conv_weight.reshape(two * ch, 1, self.d_conv).to(xbc.dtype)
        out = F.conv1d(F.pad(inp, (self.d_conv - 1, 0)), w, self.conv_bias.reshape(-1).to(xbc.dtype), groups=two * ch)
        return F.silu(out.reshape(b, two, ch, length).permute(1, 0, 3, 2))

    def _gated_norm(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """RMSNorm(y * silu(z)) with a per-direction weight (Mamba-2's norm_before_gate=False)."""
        g = (y * F.silu(z)).float()
        g = g * torch.rsqrt(g.pow(2).mean(-1, keepdim=True) + self.eps)
        return g.to(y.dtype) * self.norm_weight[:, None, None, :].to(y.dtype)
