"""Sequence-mixing layers: scans, BiMamba-2, local attention and the blocks built from them."""

from .attention import LocalAttention
from .blocks import Block, Isotropic
from .mamba2 import BiMamba2, RMSNorm, SwiGLU
from .scan import linear_scan, linear_scan_sequential, ssd_chunked, ssd_sequential

__all__ = ["LocalAttention", "Block", "Isotropic", "BiMamba2", "RMSNorm", "SwiGLU",
           "linear_scan", "linear_scan_sequential", "ssd_chunked", "ssd_sequential"]
