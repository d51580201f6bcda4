"""bigWig output (pyBigWig): per-base values as a binary, indexed track that genome browsers stream.

bedGraph stays the plain-text format; bigWig holds the same intervals and values (as float32),
zoomable and random-access. All coordinates are 0-based, half-open, as in bedGraph.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["write_bigwig", "bedgraph_to_bigwig", "read_bedgraph"]

_BLOCK = 1_000_000  # intervals per addEntries call: bounds memory on genome-sized tracks


def read_bedgraph(path: str | os.PathLike) -> pd.DataFrame:
    """A bedGraph as ``chrom, start, end, value`` (``track``/``browser``/``#`` lines skipped).

    Raises ValueError naming the file and line of the first malformed line.
    """
    rows = []
    with open(path) as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip() or line.startswith(("track", "browser", "#")):
                continue
            fields = line.rstrip("\n").split("\t")
            try:
                chrom, start, end, value = fields[0], int(fields[1]), int(fields[2]), float(fields[3])
            except (IndexError, ValueError):
                raise ValueError(f"{path}, line {number}: expected 'chrom<TAB>start<TAB>end<TAB>value', got {line.strip()[:80]!r}") from None
            if not 0 <= start < end:
                raise ValueError(f"{path}, line {number}: interval [{start}, {end}) is empty or negative")
            rows.append((chrom, start, end, value))
    return pd.DataFrame(rows, columns=["chrom", "start", "end", "value"])


def write_bigwig(path: str | os.PathLike, intervals: pd.DataFrame, chrom_sizes: dict[str, int]) -> Path:
    """Write ``intervals`` (``chrom, start, end, value``; non-overlapping per chrom) as a bigWig.

    Chromosomes are written in the order of ``chrom_sizes``; intervals are sorted by start within
    each. The file is written under a temporary name and renamed when complete.

    Raises
    ------
    ValueError
        An interval on a chromosome missing from ``chrom_sizes``, past its end, or overlapping another.
    """
    import pyBigWig

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    unknown = sorted(set(intervals["chrom"]) - set(chrom_sizes))
    if unknown:
        raise ValueError(f"bigWig {path}: chromosome(s) {unknown[:3]} not among the {len(chrom_sizes)} given sizes")
    temp = path.with_name(f".{path.name}.{os.getpid()}.partial")  # the hidden-temporary convention of write_tracks
    try:
        handle = pyBigWig.open(str(temp), "w")
        try:
            handle.addHeader([(name, int(size)) for name, size in chrom_sizes.items()])
            groups = dict(tuple(intervals.groupby("chrom", sort=False)))
            for name, size in chrom_sizes.items():
                part = groups.get(name)
                if part is None or part.empty:
                    continue
                part = part.sort_values("start", kind="stable")
                starts, ends = part["start"].to_numpy(np.int64), part["end"].to_numpy(np.int64)
                if ends.max() > size:
                    raise ValueError(f"bigWig {path}: an interval on {name} ends at {ends.max()}, past its length {size}")
                if (starts[1:] < ends[:-1]).any():
                    k = int(np.flatnonzero(starts[1:] < ends[:-1])[0])
                    raise ValueError(f"bigWig {path}: intervals on {name} overlap at [{starts[k]}, {ends[k]}) and "
                                     f"[{starts[k + 1]}, {ends[k + 1]})")
                values = part["value"].to_numpy(np.float64)
                for b in range(0, len(starts), _BLOCK):
                    sl = slice(b, b + _BLOCK)
                    handle.addEntries([name] * len(starts[sl]), starts[sl].tolist(), ends=ends[sl].tolist(),
                                      values=values[sl].tolist())
        finally:
            handle.close()
        os.replace(temp, path)
    finally:
        if temp.exists():
            temp.unlink()
    return path


def bedgraph_to_bigwig(bedgraph: str | os.PathLike, chrom_sizes: dict[str, int], out: str | os.PathLike) -> Path:
    """Convert a bedGraph file to bigWig (values as float32); see :func:`write_bigwig`."""
    return write_bigwig(out, read_bedgraph(bedgraph), chrom_sizes)
