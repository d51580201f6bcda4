"""Sequence inputs shared by the analyses: FASTA path, pyfaidx Fasta or dict of name -> str.

All reads are upper-cased (soft-masked repeats are ordinary bases here) and use 0-based,
half-open coordinates.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from ldarnet.data.fasta import open_fasta
from ldarnet.extract import sequence_source as _ldarnet_source

_READ_PIECE = 1 << 20

#: byte -> base code: A 0, C 1, G 2, T 3, anything else -1
BASE_CODES = np.full(256, -1, dtype=np.int8)
for _k, _b in enumerate("ACGT"):
    BASE_CODES[ord(_b)] = BASE_CODES[ord(_b.lower())] = _k


def sequence_source(sequences, *, upper: bool = True) -> tuple[dict[str, int], Callable[[str, int, int], str]]:
    """Record lengths and an upper-case ``fetch(name, start, end)`` for any accepted input.

    Parameters
    ----------
    sequences : str, PathLike, pyfaidx.Fasta or dict[str, str]
        A FASTA file (plain, bgzip or plain gzip: ``ldarnet.data.fasta.open_fasta``), an open
        Fasta, or a dict of name -> sequence.

    Returns
    -------
    lengths : dict[str, int]
        Record name -> length, in input order.
    fetch : callable
        ``fetch(name, start, end) -> str``, bases ``start..end-1`` (0-based, half-open), upper case
        unless ``upper=False`` (then as stored, for callers that fold case themselves).
    """
    if isinstance(sequences, (str, os.PathLike)):
        sequences = open_fasta(sequences, quiet=True)
    lengths, raw_fetch = _ldarnet_source(sequences)
    if isinstance(sequences, dict):
        fetch = raw_fetch
    else:
        def fetch(name, start, end):
            # pyfaidx slows down sharply on reads of tens of Mb (16 s for 30 Mb against 1 s in
            # 1 Mb pieces), so long reads are made piecewise
            if end - start <= _READ_PIECE:
                return raw_fetch(name, start, end)
            return "".join(raw_fetch(name, k, min(k + _READ_PIECE, end)) for k in range(start, end, _READ_PIECE))
    if not upper:
        return lengths, fetch
    return lengths, lambda name, start, end: fetch(name, start, end).upper()


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
