"""bigWig straight from the stitched pieces: runs of equal float16 values, handed to pyBigWig as arrays.

The bedGraph route (write text, parse it back line by line, then pyBigWig) spends Python work on
every run; here each piece's runs are found with numpy and added in one ``addEntries`` call. The
intervals and values are exactly those of :func:`ldarnet.genome.bedgraph_to_bigwig` on the
bedGraph of the same pieces (runs merged across pieces; each value the float32 of the float16's
shortest decimal text), so both routes give the same track.

All coordinates are 0-based, half-open.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from .tiling import Piece

__all__ = ["bigwig_tee"]

_VALUES: list[np.ndarray] = []


def _float16_values() -> np.ndarray:
    """(65536,) float64: the value the bedGraph text of each float16 bit pattern reads back as."""
    if not _VALUES:
        every = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
        _VALUES.append(np.array([float(np.format_float_positional(v, trim="-")) for v in every]))
    return _VALUES[0]


def bigwig_tee(pieces: Iterable[Piece], chrom_sizes: dict[str, int], path: str | os.PathLike):
    """Tee ``pieces`` into a bigWig at ``path``; returns ``(pieces, finish)``, ``finish()`` after the pieces.

    The pieces must come record by record in the order of ``chrom_sizes`` and by position within a
    record (true of whole-record runs); the file is written under a hidden temporary name and
    renamed by ``finish()``.
    """
    import pyBigWig

    path = Path(path)
    temp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    handle = pyBigWig.open(str(temp), "w")
    handle.addHeader([(name, int(size)) for name, size in chrom_sizes.items()])
    table = _float16_values()
    state = {"chrom": None, "run": None}  # run: (start, end, bits) of the still-open run

    def add(chrom: str, starts: np.ndarray, ends: np.ndarray, bits: np.ndarray) -> None:
        if len(starts):
            handle.addEntries([chrom] * len(starts), starts.astype(np.int64), ends=ends.astype(np.int64), values=table[bits])

    def close_run() -> None:
        if state["run"] is not None:
            start, end, bits = state["run"]
            add(state["chrom"], np.array([start]), np.array([end]), np.array([bits]))
        state["run"] = None

    def tee() -> Iterator[Piece]:
        try:
            for piece in pieces:
                chrom = piece.segment.chrom
                if chrom != state["chrom"]:
                    close_run()
                    state["chrom"] = chrom
                bits = piece.prob.view(np.uint16)
                n = len(bits)
                cut = np.flatnonzero(bits[1:] != bits[:-1]) + 1
                starts = piece.start + np.concatenate([[0], cut])
                ends = piece.start + np.concatenate([cut, [n]])
                run_bits = bits[starts - piece.start]
                run = state["run"]
                if run is not None and run[1] == starts[0] and run[2] == run_bits[0]:
                    starts[0] = run[0]  # the open run continues into this piece
                else:
                    close_run()
                add(chrom, starts[:-1], ends[:-1], run_bits[:-1])
                state["run"] = (int(starts[-1]), int(ends[-1]), int(run_bits[-1]))
                yield piece
            close_run()
        except BaseException:
            handle.close()
            temp.unlink(missing_ok=True)
            raise

    def finish() -> Path:
        handle.close()
        try:
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)
        return path

    return tee(), finish
