"""A pretraining corpus: random fixed-length windows drawn from several FASTA files.

Every window is a pure function of ``(seed, split, index)``: window ``k`` of the training stream is
drawn with its own generator ``numpy.random.default_rng([seed, 0, k])``, which picks the file (by
sampling weight), the position (uniform over every valid start in that file), the strand
(reverse complement with probability ``rc_prob``, training only) and the MLM mask. So the stream is
deterministic, needs no state beyond "how many windows were consumed" to resume, and any process
can produce any part of it (distributed ranks read disjoint slices of the same stream).

Held-out data: whole records (``val_records``, by name) and/or regions (``val_regions``: a BED
file or ``(record, start, end)`` tuples, 0-based half-open) are removed from training; a training
window never overlaps them. Validation windows are drawn from the held-out parts only, round-robin
over the files that have any, with no reverse complement and a fixed mask.

Windows with more than ``max_n_fraction`` N are redrawn. Soft-masked (lowercase) bases are read as
upper case.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..vocab import N_ID, encode, reverse_complement
from ..genome import open_fasta
from .masking import mask_tokens

__all__ = ["WindowCorpus", "TRAIN", "VALIDATION"]

TRAIN, VALIDATION = 0, 1


@dataclass
class _Source:
    path: Path
    weight: float
    record_lengths: dict[str, int]
    train: list[tuple[str, int, int]] = field(default_factory=list)  # (record, start, end) intervals
    val: list[tuple[str, int, int]] = field(default_factory=list)

    def starts(self, split: int, window: int) -> np.ndarray:
        """Cumulative count of valid window starts over this source's intervals of ``split``."""
        intervals = self.train if split == TRAIN else self.val
        return np.cumsum([max(0, end - start - window + 1) for _, start, end in intervals], dtype=np.int64)


class WindowCorpus:
    """Random windows of ``window_length`` bp from ``paths``; see the module doc for the guarantees.

    Parameters
    ----------
    paths : sequence of path
        FASTA files (plain, bgzip or plain gzip; see :func:`ldarnet.genome.open_fasta`).
    window_length : int
        Window length L in bp.
    weights : sequence of float, optional
        Sampling weight of each file (normalised); default proportional to each file's trainable bases.
    max_n_fraction : float
        Windows with a larger fraction of N are redrawn.
    val_records : iterable of str
        Record names held out whole (matched in every file).
    val_regions : path or iterable of (record, start, end), optional
        Regions held out (BED file or tuples; 0-based half-open).
    rc_prob : float
        Probability of reverse-complementing a training window.
    mask_prob : float
        MLM target rate among A/C/G/T positions (see :mod:`ldarnet.data.masking`).
    seed : int
        Seed of the whole stream.
    max_tries : int
        Redraws allowed per window before giving up with an error naming the file.
    """

    def __init__(self, paths: Sequence[str | os.PathLike], *, window_length: int,
                 weights: Sequence[float] | None = None, max_n_fraction: float = 0.1,
                 val_records: Iterable[str] = (), val_regions=None, rc_prob: float = 0.5,
                 mask_prob: float = 0.15, seed: int = 0, max_tries: int = 1000,
                 cache_dir: str | os.PathLike | None = None, quiet: bool = False):
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        if not paths:
            raise ValueError("no FASTA file given")
        if not isinstance(window_length, int) or window_length < 1:
            raise ValueError(f"window_length={window_length!r} must be a positive integer")
        if weights is not None and len(weights) != len(paths):
            raise ValueError(f"{len(weights)} sampling weight(s) for {len(paths)} FASTA file(s); give one per file")
        if weights is not None and (any(not np.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0):
            raise ValueError(f"sampling weights {list(weights)} must be >= 0 with a positive sum")
        if not 0.0 <= max_n_fraction <= 1.0:
            raise ValueError(f"max_n_fraction={max_n_fraction} must be in [0, 1]")
        self.window_length, self.max_n_fraction = window_length, max_n_fraction
        self.rc_prob, self.mask_prob, self.seed, self.max_tries = rc_prob, mask_prob, int(seed), max_tries
        self._fastas = [open_fasta(p, uppercase=True, cache_dir=cache_dir, quiet=quiet) for p in paths]
        self.sources = [_Source(Path(p), 0.0, {k: len(f[k]) for k in f.keys()}) for p, f in zip(paths, self._fastas)]
        self._split(set(val_records), _as_regions(val_regions))
        usable = [int(src.starts(TRAIN, window_length)[-1]) if src.train else 0 for src in self.sources]
        for i, (src, n_starts) in enumerate(zip(self.sources, usable)):
            if n_starts == 0 and src.train and (weights is None or weights[i] > 0):
                longest = max(end - start for _, start, end in src.train)
                raise ValueError(f"{src.path}: no training window of {window_length} bp fits: every record "
                                 f"(outside the held-out data) is shorter (longest stretch {longest:,} bp)")
        if not any(usable):
            raise ValueError("no training data left: every record of every FASTA file is held out")
        # a file whose every record is held out serves validation only: it gets no training weight
        raw = np.asarray(weights if weights is not None else usable, dtype=np.float64) * (np.asarray(usable) > 0)
        if raw.sum() <= 0:
            raise ValueError(f"sampling weights {list(weights)} put no weight on any file with training data")
        for src, w in zip(self.sources, raw / raw.sum()):
            src.weight = float(w)
        self._train_starts = [src.starts(TRAIN, window_length) if src.train else None for src in self.sources]
        self._val_sources = [i for i, src in enumerate(self.sources)
                             if src.val and src.starts(VALIDATION, window_length)[-1] > 0]
        self._val_starts = {i: self.sources[i].starts(VALIDATION, window_length) for i in self._val_sources}

    # -- set-up --------------------------------------------------------------------------------
    def _split(self, val_records: set[str], val_regions: list[tuple[str, int, int]]) -> None:
        known = {name for src in self.sources for name in src.record_lengths}
        for name in sorted(val_records - known):
            raise ValueError(f"held-out record {name!r} is in none of the FASTA files "
                             f"({', '.join(str(s.path) for s in self.sources)})")
        for name, start, end in val_regions:
            if name not in known:
                raise ValueError(f"held-out region {name}:{start}-{end}: record {name!r} is in none of the FASTA files")
        for src in self.sources:
            for name, length in src.record_lengths.items():
                if name in val_records:
                    src.val.append((name, 0, length))
                    continue
                cuts = sorted((max(0, s), min(length, e)) for r, s, e in val_regions if r == name and s < length)
                pos = 0
                for s, e in cuts:
                    s = max(s, pos)
                    if s > pos:
                        src.train.append((name, pos, s))
                    if e > s:
                        src.val.append((name, s, e))
                    pos = max(pos, e)
                if pos < length:
                    src.train.append((name, pos, length))

    # -- windows -------------------------------------------------------------------------------
    @property
    def has_validation(self) -> bool:
        return bool(self._val_sources)

    def window(self, index: int, split: int = TRAIN) -> tuple[np.ndarray, np.ndarray, dict]:
        """Window ``index`` of ``split``: (inputs (L,) int64, labels (L,) int64, where-it-came-from dict)."""
        rng = np.random.default_rng([self.seed, split, int(index)])
        L = self.window_length
        if split == VALIDATION:
            if not self._val_sources:
                raise ValueError("this corpus has no held-out data: give val_records or val_regions")
            order = [self._val_sources[int(index) % len(self._val_sources)]]
        failures: dict[int, int] = {}
        for _ in range(self.max_tries):
            if split == TRAIN:
                s = int(rng.choice(len(self.sources), p=[src.weight for src in self.sources]))
                starts = self._train_starts[s]
                intervals = self.sources[s].train
            else:
                s = order[0]
                starts, intervals = self._val_starts[s], self.sources[s].val
            draw = int(rng.integers(starts[-1]))
            k = int(np.searchsorted(starts, draw, side="right"))
            record, lo, _ = intervals[k]
            start = lo + draw - (int(starts[k - 1]) if k else 0)
            ids = self._fetch(s, record, start, start + L)
            if np.count_nonzero(ids == N_ID) <= self.max_n_fraction * L:
                break
            failures[s] = failures.get(s, 0) + 1
        else:
            worst = self.sources[max(failures, key=failures.get)].path
            raise ValueError(f"{worst}: no window of {L} bp with at most {self.max_n_fraction:.0%} N found in "
                             f"{self.max_tries} random draws; the file is (nearly) all N or --max-n is too strict")
        strand = "+"
        if split == TRAIN and rng.random() < self.rc_prob:
            ids, strand = reverse_complement(ids), "-"
        inputs, labels = mask_tokens(ids, rng, mask_prob=self.mask_prob)
        where = {"file": str(self.sources[s].path), "record": record, "start": start, "end": start + L, "strand": strand}
        return inputs, labels, where

    def batch(self, indices: Iterable[int], split: int = TRAIN) -> tuple[torch.Tensor, torch.Tensor]:
        """Windows ``indices`` of ``split`` stacked: (input_ids (B, L) int64, labels (B, L) int64)."""
        pairs = [self.window(i, split)[:2] for i in indices]
        inputs = torch.from_numpy(np.stack([p[0] for p in pairs]))
        labels = torch.from_numpy(np.stack([p[1] for p in pairs]))
        return inputs, labels

    def _fetch(self, s: int, record: str, start: int, end: int) -> np.ndarray:
        text = self._fastas[s][record][start:end].seq
        try:
            return encode(text).numpy()
        except ValueError as err:
            raise ValueError(f"{self.sources[s].path}: record {record} [{start}, {end}): {err}") from None

    # -- reporting -----------------------------------------------------------------------------
    def describe(self) -> list[dict]:
        """Per file: path, sampling weight, records, trainable and held-out bases."""
        return [{
            "file": str(src.path), "weight": src.weight, "records": len(src.record_lengths),
            "train_bp": int(sum(e - s for _, s, e in src.train)), "val_bp": int(sum(e - s for _, s, e in src.val)),
        } for src in self.sources]

    def close(self) -> None:
        for fasta in self._fastas:
            fasta.close()


def _read_bed(path: str | os.PathLike) -> list[tuple[str, int, int]]:
    """Read a BED file (first three columns; 0-based half-open) as (record, start, end) tuples."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        raise ValueError(f"{path}: cannot read the region list ({err.strerror})") from None
    regions = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        cols = line.split("\t") if "\t" in line else line.split()
        try:
            name, start, end = cols[0], int(cols[1]), int(cols[2])
        except (IndexError, ValueError):
            raise ValueError(f"{path}:{number}: expected 'record<TAB>start<TAB>end' (BED), got {line[:80]!r}") from None
        if start < 0 or end <= start:
            raise ValueError(f"{path}:{number}: region [{start}, {end}) is empty or negative")
        regions.append((name, start, end))
    return regions


def _as_regions(val_regions) -> list[tuple[str, int, int]]:
    if val_regions is None:
        return []
    if isinstance(val_regions, (str, os.PathLike)):
        return _read_bed(val_regions)
    regions = []
    for item in val_regions:
        name, start, end = item
        if int(start) < 0 or int(end) <= int(start):
            raise ValueError(f"held-out region {name}:{start}-{end} is empty or negative")
        regions.append((str(name), int(start), int(end)))
    return regions
