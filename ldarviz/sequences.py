"""Sequence encodings shared by the analyses: base codes, one-hot, record-name checks.

Sequence inputs (FASTA path, pyfaidx Fasta or dict of name -> str) are read by
``ldarnet.genome.sequence_source`` (upper-case by default). Coordinates are 0-based, half-open.
"""

from __future__ import annotations


import numpy as np

from ldarnet.genome import sequence_source  # noqa: F401  (the one reader of sequence inputs; the analyses import it from here)

#: byte -> base code: A 0, C 1, G 2, T 3, anything else -1
BASE_CODES = np.full(256, -1, dtype=np.int8)
for _k, _b in enumerate("ACGT"):
    BASE_CODES[ord(_b)] = BASE_CODES[ord(_b.lower())] = _k


def base_codes(sequence: str) -> np.ndarray:
    """(L,) int8 codes of a sequence: A 0, C 1, G 2, T 3, other (N, IUPAC) -1."""
    return BASE_CODES[np.frombuffer(sequence.encode("latin-1", errors="replace"), dtype=np.uint8)]


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
