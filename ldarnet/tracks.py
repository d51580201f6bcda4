"""Inputs and outputs of boundary extraction: sequences, BED regions, and the bedGraph/BED writers.

The tiling and stitching live in :mod:`ldarnet.extract`; this module holds what it reads from and
writes to. All coordinates are 0-based, half-open.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data.fasta import open_fasta


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


@dataclass(frozen=True)
class Piece:
    """Stitched output for ``segment`` over ``[start, start + len(prob))`` on ``segment.chrom``.

    ``prob`` is (n,) float16 boundary probability; ``mask`` is (n,) bool, the model's own boundary
    decision. The pieces of a segment arrive in order and tile it exactly.
    """

    segment: Segment
    start: int
    prob: np.ndarray
    mask: np.ndarray


# -- inputs ----------------------------------------------------------------------------------------
def sequence_source(sequences) -> tuple[dict[str, int], Callable[[str, int, int], str]]:
    """Record lengths and a ``fetch(name, start, end)`` for a dict name -> str, a FASTA path or a pyfaidx Fasta."""
    if isinstance(sequences, (str, os.PathLike)):
        sequences = open_fasta(sequences, quiet=True)
    if isinstance(sequences, dict):
        for name, seq in sequences.items():
            if not isinstance(seq, str):
                raise ValueError(f"sequence {name!r} must be a str, got {type(seq).__name__}")
        return {name: len(seq) for name, seq in sequences.items()}, lambda name, start, end: sequences[name][start:end]
    if hasattr(sequences, "keys") and hasattr(sequences, "__getitem__"):  # pyfaidx.Fasta
        lengths = {name: len(sequences[name]) for name in sequences.keys()}
        return lengths, lambda name, start, end: str(sequences[name][start:end])
    raise ValueError(f"sequences must be a dict of name -> str, a FASTA path or a pyfaidx.Fasta, got {type(sequences).__name__}")


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


# -- writers ---------------------------------------------------------------------------------------
_FLOAT16_TEXT: list[str] = []


def _float16_text(bits: np.ndarray) -> list[str]:
    """Shortest text that reads back as the same float16, for each of ``bits`` (n,) uint16 float16 patterns."""
    if not _FLOAT16_TEXT:
        every = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
        _FLOAT16_TEXT.extend(np.format_float_positional(v, trim="-") for v in every)
    return [_FLOAT16_TEXT[c] for c in bits.tolist()]


def _lines(chrom: str, edges: np.ndarray, values: list[str] | None = None) -> str:
    """BED lines for the abutting intervals ``[edges[i], edges[i + 1])``, with an optional value column."""
    pos = list(map(str, edges.tolist()))
    if len(pos) < 2:
        return ""
    columns = [[chrom] * (len(pos) - 1), pos[:-1], pos[1:]] + ([values] if values is not None else [])
    return "\n".join(map("\t".join, zip(*columns))) + "\n"  # ~2x faster than an f-string per line


def write_tracks(pieces: Iterable[Piece], prefix: str | os.PathLike) -> dict:
    """Write ``PREFIX.bedgraph`` (per-base probability) and ``PREFIX.chunks.bed`` (chunks) from ``pieces``.

    bedGraph lines merge runs of bases with the same float16 value; chunks start at every base the
    model marks as a boundary and at every segment start. Both files cover every base of every
    segment exactly once, 0-based half-open, in the order the pieces come. They are written under
    temporary names and renamed only when complete.

    Returns
    -------
    dict
        ``bedgraph`` and ``chunks_bed`` paths, and the counts ``bases``, ``chunks`` and ``segments``.
    """
    prefix = str(prefix)
    Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    paths = {"bedgraph": prefix + ".bedgraph", "chunks_bed": prefix + ".chunks.bed"}
    temps = {key: f"{path}.{os.getpid()}.tmp" for key, path in paths.items()}
    counts = {"bases": 0, "chunks": 0, "segments": 0}
    seg, run, chunk_start = None, None, 0  # run: the open bedGraph run (start, end, float16 bits)
    try:
        with open(temps["bedgraph"], "w") as graph, open(temps["chunks_bed"], "w") as bed:
            for piece in pieces:
                if piece.segment is not seg:
                    if seg is not None:
                        _close_segment(graph, bed, seg, run, chunk_start, counts)
                    seg, run, chunk_start = piece.segment, None, piece.segment.start
                    counts["segments"] += 1
                n = len(piece.prob)
                counts["bases"] += n
                bits = piece.prob.view(np.uint16)
                cut = np.flatnonzero(bits[1:] != bits[:-1]) + 1
                edges = piece.start + np.concatenate([[0], cut, [n]])
                run_bits = bits[np.concatenate([[0], cut])]
                if run is not None and run[2] == run_bits[0]:
                    edges[0] = run[0]
                elif run is not None:
                    edges, run_bits = np.concatenate([[run[0]], edges]), np.concatenate([[run[2]], run_bits])
                graph.write(_lines(seg.chrom, edges[:-1], _float16_text(run_bits[:-1])))
                run = (int(edges[-2]), int(edges[-1]), run_bits[-1])
                begins = piece.start + np.flatnonzero(piece.mask)
                begins = begins[begins > chunk_start]
                if len(begins):
                    bed.write(_lines(seg.chrom, np.concatenate([[chunk_start], begins])))
                    counts["chunks"] += len(begins)
                    chunk_start = int(begins[-1])
            if seg is not None:
                _close_segment(graph, bed, seg, run, chunk_start, counts)
            for handle in (graph, bed):
                handle.flush()
                os.fsync(handle.fileno())
        for key in paths:
            os.replace(temps[key], paths[key])
    finally:
        for temp in temps.values():
            if os.path.exists(temp):
                os.unlink(temp)
    return {**paths, **counts}


def _close_segment(graph, bed, seg: Segment, run, chunk_start: int, counts: dict) -> None:
    graph.write(_lines(seg.chrom, np.array(run[:2]), _float16_text(np.array([run[2]], np.uint16))))
    bed.write(_lines(seg.chrom, np.array([chunk_start, seg.end])))
    counts["chunks"] += 1
