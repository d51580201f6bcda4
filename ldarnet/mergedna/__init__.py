"""MergeDNA (Li et al., AAAI 2026) beside LDARNet: a learned token-merging tokenizer with the same vocabulary.

Modules: ``config`` (MergeDNAConfig, presets), ``merging`` (local/global merging, source map,
unmerging), ``model`` (MergeDNA), ``losses`` (MTR, latent MTR, AMTM).
"""

from .config import PRESETS, MergeDNAConfig
from .model import MergeDNA, MergeDNAOutput

__all__ = ["MergeDNA", "MergeDNAConfig", "MergeDNAOutput", "PRESETS"]
