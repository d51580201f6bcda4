"""Residual blocks and the isotropic stack that encoders, backbones and decoders are made of."""

from __future__ import annotations

import torch
import torch.nn as nn

from ..config import LDARNetConfig
from .attention import LocalAttention
from .mamba2 import BiMamba2, RMSNorm, SwiGLU


class Block(nn.Module):
    """Pre-norm residual block: ``h + mixer(norm(h))``, then ``h + SwiGLU(norm(h))`` for uppercase kinds."""

    def __init__(self, kind: str, config: LDARNetConfig, level: int):
        super().__init__()
        d = config.d_model[level]
        self.norm = RMSNorm(d, config.norm_eps)
        if kind in "mM":
            self.mixer = BiMamba2(d, config.d_state, config.d_conv, config.expand, config.headdim,
                                  config.chunk_size, config.fusion, config.norm_eps)
        else:
            self.mixer = LocalAttention(d, config.num_heads[level], config.rotary_emb_dim[level], config.window_size[level])
        self.mlp = None
        if kind.isupper():
            self.mlp_norm = RMSNorm(d, config.norm_eps)
            self.mlp = SwiGLU(d, config.d_intermediate[level])

    def forward(self, h: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h = h + self.mixer(self.norm(h), mask, lengths)
        if self.mlp is not None:
            h = h + self.mlp(self.mlp_norm(h)) * mask.unsqueeze(-1).to(h.dtype)
        return h


class Isotropic(nn.Module):
    """A stack of blocks at one width, closed by an RMSNorm. Output is zero at pads."""

    def __init__(self, kinds: list[str], config: LDARNetConfig, level: int):
        super().__init__()
        self.blocks = nn.ModuleList(Block(k, config, level) for k in kinds)
        self.norm = RMSNorm(config.d_model[level], config.norm_eps)

    def forward(self, h: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            h = block(h, mask, lengths)
        return self.norm(h) * mask.unsqueeze(-1).to(h.dtype)
