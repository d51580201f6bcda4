"""bigWig straight from the stitched pieces: runs of equal float16 values, handed to pyBigWig as arrays.

The bedGraph route (write text, parse it back line by line, then pyBigWig) spends Python work on
every line; here each piece goes to pyBigWig in one fixed-step ``addEntries`` call (span 1).
The per-base values are exactly those of :func:`ldarnet.genome.bedgraph_to_bigwig` on the
bedGraph of the same pieces (the float32 of the float16's shortest decimal text); only the
intervals differ (one per base rather than merged runs).

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

    def tee() -> Iterator[Piece]:
        try:
            for piece in pieces:
                # one fixed-step entry per base: ~1 run per base in real tracks, so merging runs saves nothing,
                # and pyBigWig takes fixed-step values ~6x faster than interval lists (measured, 300k bases)
                handle.addEntries(piece.segment.chrom, int(piece.start), values=table[piece.prob.view(np.uint16)], span=1, step=1)
                yield piece
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
