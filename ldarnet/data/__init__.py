"""Genome data for pretraining: FASTA access, the window corpus and MLM masking."""

from .fasta import FastaError, fasta_cache_dir, open_fasta, record_lengths, resolve_fasta

__all__ = ["FastaError", "fasta_cache_dir", "open_fasta", "record_lengths", "resolve_fasta"]
