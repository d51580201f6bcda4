"""The track store: per-base boundary probabilities as compressed float16 blocks, for notebooks.

Why this format: notebooks read many short regions out of a few long records; bedGraph must be
parsed line by line and bigWig hands back float32 through one C call per region. The store is a
plain zip (``PREFIX.store.npz``; ``numpy.load`` opens it too) with, per segment, blocks of
``BLOCK`` bases: ``prob/<k>/<b>.npy`` (float16) and ``mask/<k>/<b>.npy`` (the model's boundary
decisions, bit-packed), each deflate-compressed, plus ``index.json`` (segments, block size and the
run's provenance: checkpoint and FASTA hashes). A region read inflates only the blocks it touches
(~2 MB of float16 per 1 Mb block), with no new dependency; zarr would do the same with one more
package and a folder of files per record instead of one file.

All coordinates are 0-based, half-open, on the record (``chrom``), as in every track.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..io import atomic_write
from .regions import Segment
from .tiling import Piece

__all__ = ["BLOCK", "write_store", "TrackStore"]

BLOCK = 1 << 20  # bases per block: a region read inflates at most two blocks more than it needs


def _member(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    """Add ``name`` with a fixed timestamp, so equal values give an equal file, byte for byte."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data, compresslevel=6)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def write_store(pieces: Iterable[Piece], segments: Sequence[Segment], path: str | os.PathLike, *,
                provenance: dict | None = None) -> tuple[Iterator[Piece], Callable[[], Path]]:
    """Tee ``pieces`` into a store at ``path``: returns the same pieces, and ``finish()`` to call after them.

    The store is built under a temporary name and renamed by ``finish()`` (atomic); ``finish``
    raises if the pieces did not cover every segment.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.partial")  # the writers' hidden-temporary convention
    archive = zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6)
    index = {k: i for i, k in enumerate(segments)}
    state = {"seg": None, "prob": [], "mask": [], "filled": 0, "block": 0, "done": [0] * len(segments)}

    def flush(final: bool) -> None:
        prob, mask = np.concatenate(state["prob"]), np.concatenate(state["mask"])
        k = index[state["seg"]]
        while len(prob) >= BLOCK or (final and len(prob)):
            name = f"{k}/{state['block']:06d}.npy"
            _member(archive, f"prob/{name}", _npy(prob[:BLOCK]))
            _member(archive, f"mask/{name}", _npy(np.packbits(mask[:BLOCK])))
            state["done"][k] += min(BLOCK, len(prob))
            prob, mask, state["block"] = prob[BLOCK:], mask[BLOCK:], state["block"] + 1
        state["prob"], state["mask"] = [prob], [mask]

    def tee() -> Iterator[Piece]:
        for piece in pieces:
            if piece.segment is not state["seg"]:
                if state["seg"] is not None:
                    flush(True)
                state.update(seg=piece.segment, prob=[], mask=[], block=0)
            state["prob"].append(piece.prob)
            state["mask"].append(piece.mask)
            if sum(len(p) for p in state["prob"]) >= BLOCK:
                flush(False)
            yield piece
        if state["seg"] is not None:
            flush(True)

    def finish() -> Path:
        try:
            short = [s.name for s, n in zip(segments, state["done"]) if n != s.length]
            if short:
                raise ValueError(f"track store {path}: segment(s) {short[:3]} not fully covered")
            meta = {"block": BLOCK, "dtype": "float16", "segments": [[s.name, s.chrom, s.start, s.end] for s in segments],
                    **(provenance or {})}
            _member(archive, "index.json", json.dumps(meta, indent=1).encode())
            archive.close()
            atomic_write(path, lambda tmp: os.replace(temp, tmp))
        finally:
            archive.close()
            if temp.exists():
                temp.unlink()
        return path

    return tee(), finish


class TrackStore:
    """Read boundary probabilities (and decisions) for any region out of a ``PREFIX.store.npz``.

    >>> store = TrackStore("out/chr1.store.npz")
    >>> store.prob("chr1", 1_000, 2_000)      # (1000,) float16
    >>> store.mask("chr1", 1_000, 2_000)      # (1000,) bool
    >>> store.meta["checkpoint_sha256"]       # what the store was computed from
    """

    def __init__(self, path: str | os.PathLike, cache_blocks: int = 8):
        self.path = Path(path)
        self._zip = zipfile.ZipFile(self.path)
        self.meta = json.loads(self._zip.read("index.json"))
        self.block = int(self.meta["block"])
        self.segments = [Segment(*row) for row in self.meta["segments"]]
        self._read = lru_cache(maxsize=cache_blocks)(self._read_block)

    def close(self) -> None:
        self._zip.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _read_block(self, kind: str, k: int, b: int) -> np.ndarray:
        return np.lib.format.read_array(io.BytesIO(self._zip.read(f"{kind}/{k}/{b:06d}.npy")), allow_pickle=False)

    def _locate(self, chrom: str, start: int, end: int) -> tuple[int, Segment]:
        for k, seg in enumerate(self.segments):
            if seg.chrom == chrom and seg.start <= start and end <= seg.end:
                return k, seg
        raise ValueError(f"track store {self.path}: {chrom}:{start}-{end} is not inside one stored segment")

    def _get(self, kind: str, chrom: str, start: int, end: int) -> np.ndarray:
        if not 0 <= start < end:
            raise ValueError(f"region {chrom}:{start}-{end} is empty or negative")
        k, seg = self._locate(chrom, start, end)
        lo, hi = start - seg.start, end - seg.start
        out = []
        for b in range(lo // self.block, (hi - 1) // self.block + 1):
            data = self._read(kind, k, b)
            if kind == "mask":
                n = min(self.block, seg.length - b * self.block)
                data = np.unpackbits(data, count=n).astype(bool)
            out.append(data[max(lo - b * self.block, 0): hi - b * self.block])
        return np.concatenate(out)

    def prob(self, chrom: str, start: int, end: int) -> np.ndarray:
        """(end - start,) float16 boundary probabilities of ``chrom:[start, end)``."""
        return self._get("prob", chrom, start, end)

    def mask(self, chrom: str, start: int, end: int) -> np.ndarray:
        """(end - start,) bool: the model's boundary decisions over ``chrom:[start, end)``."""
        return self._get("mask", chrom, start, end)
