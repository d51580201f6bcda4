"""Sequence encodings shared by the analyses: base codes, one-hot, record-name checks.

Sequence inputs (FASTA path, pyfaidx Fasta or dict of name -> str) are read by
``ldarnet.genome.sequence_source`` (upper-case by default). Coordinates are 0-based, half-open.
"""

from __future__ import annotations

import numpy as np

# the one reader of sequence inputs and the one base coder; the analyses import them from here
from ldarnet.genome import BASE_CODES, base_codes, sequence_source  # noqa: F401


def one_hot(sequence: str) -> np.ndarray:
    """(4, L) int8 one-hot encoding in ACGT order; N and other letters are all-zero columns."""
    codes = base_codes(sequence)
    return (codes[None, :] == np.arange(4, dtype=np.int8)[:, None]).astype(np.int8)


def one_hot_bool(sequence: str) -> np.ndarray:
    """(4, L) bool one-hot in ACGT order, any case (other letters: all False).

    Byte comparisons, no gather: the fast path for long scans (memelite reads bool one-hot
    through an int8 view, without a copy).
    """
    raw = np.frombuffer(sequence.encode("latin-1", errors="replace"), dtype=np.uint8) & np.uint8(0xDF)  # fold case
    out = np.empty((4, len(raw)), dtype=bool)
    for k, base in enumerate(b"ACGT"):
        np.equal(raw, base, out=out[k])
    return out


def check_seq_ids(seq_ids, lengths: dict[str, int], what: str) -> None:
    """Raise ValueError naming the first ``seq_id`` missing from ``lengths``."""
    missing = sorted(set(seq_ids) - set(lengths))
    if missing:
        shown = ", ".join(repr(m) for m in missing[:3])
        raise ValueError(f"{what}: record(s) {shown} not in the sequences (have {len(lengths)} records, "
                         f"e.g. {next(iter(lengths), None)!r})")
