"""GC content of windows and GC-matched controls: one matcher for every user.

``ldarnet make-task`` (GC-matched decoy splice sites) and ``ldarviz`` (matched controls of splice
sites, motif hits and other landmarks) draw their controls through :func:`match_on_gc`.

A window around position ``p`` is ``[p - window // 2, p - window // 2 + window)`` clipped to its
record (0-based, half-open); its length is the clipped length and its GC content is
``(#G + #C) / (#A + #C + #G + #T)`` (N and other letters are left out of both counts).
Matching happens within cells of (group, window length, GC bin of width ``gc_bin_width``);
inside a cell, controls are drawn at random without replacement and then paired with sites in
GC rank order, so each pair's GC differs by less than one bin.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["BASE_CODES", "base_codes", "record_cumsums", "window_stats", "match_on_gc"]

#: byte -> base code: A 0, C 1, G 2, T 3, anything else -1
BASE_CODES = np.full(256, -1, dtype=np.int8)
for _k, _b in enumerate("ACGT"):
    BASE_CODES[ord(_b)] = BASE_CODES[ord(_b.lower())] = _k


def base_codes(sequence: str) -> np.ndarray:
    """(L,) int8 codes of a sequence: A 0, C 1, G 2, T 3, other (N, IUPAC) -1."""
    return BASE_CODES[np.frombuffer(sequence.encode("latin-1", errors="replace"), dtype=np.uint8)]


def record_cumsums(fetch, name: str, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Base codes (L,) int8 and prefix sums (L+1,) int32 of GC and of A/C/G/T for one record."""
    codes = base_codes(fetch(name, 0, length))
    gc = np.zeros(length + 1, dtype=np.int32)
    acgt = np.zeros(length + 1, dtype=np.int32)
    np.cumsum((codes == 1) | (codes == 2), out=gc[1:])
    np.cumsum(codes >= 0, out=acgt[1:])
    return codes, gc, acgt


def window_stats(gc_cum: np.ndarray, acgt_cum: np.ndarray, positions: np.ndarray, window: int):
    """GC fraction, clipped window length and N fraction of windows centred on ``positions``.

    Returns three (n,) arrays: float64 GC (NaN when the window has no A/C/G/T), int64 length,
    float64 fraction of non-ACGT bases.
    """
    length = len(gc_cum) - 1
    lo = np.clip(positions - window // 2, 0, length)
    hi = np.clip(positions - window // 2 + window, 0, length)
    n_acgt = (acgt_cum[hi] - acgt_cum[lo]).astype(np.float64)
    win = (hi - lo).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        gc = (gc_cum[hi] - gc_cum[lo]) / n_acgt
        n_frac = np.where(win > 0, 1.0 - n_acgt / np.maximum(win, 1), 1.0)
    return gc, win, n_frac


def match_on_gc(site_cells: pd.DataFrame, cand_cells: pd.DataFrame, *, n_per_site: int, gc_bin_width: float,
                rng: np.random.Generator, fill_nearest: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Pair sites with candidate controls inside (group, length, GC bin) cells.

    With ``fill_nearest``, a site left short in its cell then takes, one by one, the unused
    candidate of its group and length nearest in GC (so every site gets ``n_per_site`` controls
    while candidates last, at the cost of pairs more than one bin apart).

    Parameters
    ----------
    site_cells, cand_cells : DataFrame
        Columns ``group`` (hashable), ``length`` (int) and ``gc`` (float); rows with NaN GC are ignored.

    Returns
    -------
    site_rows, cand_rows : (m,) int64
        Positional row numbers into ``site_cells`` and ``cand_cells`` of each matched pair; each
        candidate is used at most once, each site at most ``n_per_site`` times.
    """
    empty = np.zeros(0, np.int64)
    if len(site_cells) == 0 or len(cand_cells) == 0:
        return empty, empty
    groups, _ = pd.factorize(np.concatenate([site_cells["group"].to_numpy(), cand_cells["group"].to_numpy()]))
    n_bins = int(np.ceil(1.0 / gc_bin_width)) + 2
    max_len = int(max(site_cells["length"].max(), cand_cells["length"].max())) + 1

    def keys(frame, group_codes):
        gc = frame["gc"].to_numpy(np.float64)
        ok = ~np.isnan(gc)
        b = np.floor(np.where(ok, gc, 0) / gc_bin_width).astype(np.int64)
        key = (group_codes.astype(np.int64) * max_len + frame["length"].to_numpy(np.int64)) * n_bins + b
        return key, gc, ok

    s_key, s_gc, s_ok = keys(site_cells, groups[: len(site_cells)])
    c_key, c_gc, c_ok = keys(cand_cells, groups[len(site_cells):])
    # a random order first, then a stable sort by cell: each cell's candidates come out shuffled
    c_rows = rng.permutation(np.flatnonzero(c_ok))
    c_rows = c_rows[np.argsort(c_key[c_rows], kind="stable")]
    c_sorted = c_key[c_rows]
    s_rows = np.flatnonzero(s_ok)
    s_rows = s_rows[np.lexsort((s_gc[s_rows], s_key[s_rows]))]
    cells, first, counts = np.unique(s_key[s_rows], return_index=True, return_counts=True)
    lo = np.searchsorted(c_sorted, cells, side="left")
    hi = np.searchsorted(c_sorted, cells, side="right")
    site_out, cand_out = [], []
    for cell_lo, cell_hi, s0, count in zip(lo, hi, first, counts):
        if cell_hi == cell_lo:
            continue
        chosen = c_rows[cell_lo: min(cell_hi, cell_lo + count * n_per_site)]
        chosen = chosen[np.argsort(c_gc[chosen], kind="stable")]
        owner = (np.arange(len(chosen)) * count) // len(chosen)  # GC-rank pairing inside the cell
        site_out.append(s_rows[s0: s0 + count][owner])
        cand_out.append(chosen)
    site_out = np.concatenate(site_out).astype(np.int64) if site_out else empty
    cand_out = np.concatenate(cand_out).astype(np.int64) if cand_out else empty
    if fill_nearest:
        site_out, cand_out = _fill_nearest(site_cells, cand_cells, s_ok, c_ok, site_out, cand_out, n_per_site)
    return site_out, cand_out


def _fill_nearest(site_cells, cand_cells, s_ok, c_ok, site_out, cand_out, n_per_site):
    """Top up short sites with the nearest-GC unused candidate of the same group and length."""
    used = np.zeros(len(cand_cells), bool)
    used[cand_out] = True
    have = np.bincount(site_out, minlength=len(site_cells))
    s_gc, c_gc = site_cells["gc"].to_numpy(np.float64), cand_cells["gc"].to_numpy(np.float64)
    same = {}  # (group, length) -> candidate rows sorted by GC
    for key, rows in pd.Series(np.flatnonzero(c_ok)).groupby(
            [cand_cells["group"].to_numpy()[c_ok], cand_cells["length"].to_numpy()[c_ok]]):
        rows = rows.to_numpy()
        same[key] = rows[np.argsort(c_gc[rows], kind="stable")]
    extra_s, extra_c = [], []
    for s in np.flatnonzero(s_ok & (have < n_per_site)):
        rows = same.get((site_cells["group"].iloc[s], site_cells["length"].iloc[s]))
        if rows is None:
            continue
        for _ in range(n_per_site - have[s]):
            free = rows[~used[rows]]
            if not len(free):
                break
            pick = free[np.argmin(np.abs(c_gc[free] - s_gc[s]))]
            used[pick] = True
            extra_s.append(s)
            extra_c.append(pick)
    if not extra_s:
        return site_out, cand_out
    return (np.concatenate([site_out, np.array(extra_s, np.int64)]),
            np.concatenate([cand_out, np.array(extra_c, np.int64)]))


