"""Genome data for pretraining: FASTA access, the window corpus and MLM masking."""

from .corpus import TRAIN, VALIDATION, WindowCorpus, read_regions
from .fasta import FastaError, fasta_cache_dir, open_fasta, record_lengths, resolve_fasta
from .masking import IGNORE_INDEX, mask_batch, mask_tokens

__all__ = [
    "FastaError", "fasta_cache_dir", "open_fasta", "record_lengths", "resolve_fasta",
    "WindowCorpus", "read_regions", "TRAIN", "VALIDATION",
    "IGNORE_INDEX", "mask_batch", "mask_tokens",
]
