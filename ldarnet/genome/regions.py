"""What to extract from: sequence sources (dict, FASTA path, pyfaidx Fasta) and regions (BED or tuples).

All coordinates are 0-based, half-open.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .fasta import open_fasta

__all__ = ["Segment", "read_regions", "sequence_source", "whole_records"]

_READ_PIECE = 1 << 20


@dataclass(frozen=True)
class Segment:
    """One stretch of sequence extracted as a whole: a FASTA record or a BED region.

    ``name`` labels the result (the record name, or ``chrom:start-end`` for a region); ``chrom``,
    ``start`` and ``end`` place it on its record (0-based, half-open). The model sees only the bases
    of the segment, so a region's first base is a sequence start.
    """

    name: str
    chrom: str
    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start


# -- inputs ----------------------------------------------------------------------------------------
def sequence_source(sequences, *, upper: bool = True) -> tuple[dict[str, int], Callable[[str, int, int], str]]:
    """Record lengths and a ``fetch(name, start, end)`` for any accepted sequence input.

    Parameters
    ----------
    sequences : str, PathLike, pyfaidx.Fasta or dict[str, str]
        A FASTA file (plain, bgzip or plain gzip: :func:`open_fasta`), an open Fasta, or a dict of
        name -> sequence.
    upper
        Upper-case every read (soft-masked repeats are ordinary bases); ``False`` returns the bases
        as stored, for callers that fold case themselves.

    Returns
    -------
    lengths : dict[str, int]
        Record name -> length, in input order.
    fetch : callable
        ``fetch(name, start, end) -> str``, bases ``start..end-1`` (0-based, half-open).
    """
    if isinstance(sequences, (str, os.PathLike)):
        sequences = open_fasta(sequences, quiet=True)
    if isinstance(sequences, dict):
        for name, seq in sequences.items():
            if not isinstance(seq, str):
                raise ValueError(f"sequence {name!r} must be a str, got {type(seq).__name__}")
        lengths = {name: len(seq) for name, seq in sequences.items()}

        def fetch(name, start, end):
            return sequences[name][start:end]
    elif hasattr(sequences, "keys") and hasattr(sequences, "__getitem__"):  # pyfaidx.Fasta
        lengths = {name: len(sequences[name]) for name in sequences.keys()}

        def fetch(name, start, end):
            # pyfaidx slows down sharply on reads of tens of Mb (16 s for 30 Mb against 1 s in
            # 1 Mb pieces), so long reads are made piecewise
            if end - start <= _READ_PIECE:
                return str(sequences[name][start:end])
            return "".join(str(sequences[name][k:min(k + _READ_PIECE, end)]) for k in range(start, end, _READ_PIECE))
    else:
        raise ValueError(f"sequences must be a dict of name -> str, a FASTA path or a pyfaidx.Fasta, got {type(sequences).__name__}")
    if not upper:
        return lengths, fetch
    return lengths, lambda name, start, end: fetch(name, start, end).upper()


def whole_records(lengths: dict[str, int]) -> list[Segment]:
    """One segment per non-empty record, in file order."""
    return [Segment(name, name, 0, n) for name, n in lengths.items() if n > 0]


def read_regions(source, lengths: dict[str, int], *, allow_overlap: bool = False) -> list[Segment]:
    """Regions to extract, as segments: a BED file, or a list of ``(chrom, start, end)`` tuples.

    A BED file's first three columns are read; blank, ``#``, ``track`` and ``browser`` lines are
    skipped. Each region is checked against ``lengths`` (record name -> length); a mistake raises
    ValueError naming the file and line (or the list item). Overlapping regions on one record are
    refused unless ``allow_overlap``, because their bedGraph lines would cover a base twice.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as err:
            raise ValueError(f"cannot read BED file {path}: {getattr(err, 'strerror', None) or err}") from None
        rows = [(f"{path} line {k}", line.split("\t") if "\t" in line else line.split())
                for k, line in enumerate(text.splitlines(), 1)
                if line.strip() and not line.startswith(("#", "track", "browser"))]
        origin = f"BED file {path}"
    else:
        rows = [(f"regions item {k}", [str(v) for v in row]) for k, row in enumerate(source)]
        origin = "the region list"
    segments, labels = [], []
    for at, fields in rows:
        if len(fields) < 3:
            raise ValueError(f"{at}: expected at least 3 columns (chrom, start, end), got {len(fields)}")
        chrom = fields[0]
        try:
            start, end = int(fields[1]), int(fields[2])
        except ValueError:
            raise ValueError(f"{at}: start and end must be integers, got {fields[1]!r} and {fields[2]!r}") from None
        if chrom not in lengths:
            known = ", ".join(list(lengths)[:5]) + (", ..." if len(lengths) > 5 else "")
            raise ValueError(f"{at}: record {chrom!r} is not in the FASTA (records: {known})")
        if not 0 <= start < end <= lengths[chrom]:
            raise ValueError(f"{at}: region {start}-{end} is not within record {chrom!r} (0-{lengths[chrom]}) or is empty")
        segments.append(Segment(f"{chrom}:{start}-{end}", chrom, start, end))
        labels.append(at)
    if not segments:
        raise ValueError(f"{origin} has no regions")
    if not allow_overlap:  # in start order, any overlap shows up between neighbours
        order = sorted(range(len(segments)), key=lambda k: (segments[k].chrom, segments[k].start))
        for i, j in zip(order, order[1:]):
            a, b = segments[i], segments[j]
            if a.chrom == b.chrom and b.start < a.end:
                raise ValueError(f"{labels[i]} and {labels[j]}: regions {a.name} and {b.name} overlap")
    return segments


