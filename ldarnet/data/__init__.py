"""Pretraining data: the window corpus over FASTA files and MLM masking (FASTA access itself is in ``ldarnet.genome``)."""

from .corpus import TRAIN, VALIDATION, WindowCorpus
from .masking import IGNORE_INDEX, mask_batch, mask_tokens

__all__ = [
    "WindowCorpus", "TRAIN", "VALIDATION",
    "IGNORE_INDEX", "mask_batch", "mask_tokens",
]
