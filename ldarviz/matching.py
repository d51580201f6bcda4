"""Controls matched on window GC content and window length.

A window around position ``p`` is ``[p - window // 2, p - window // 2 + window)`` clipped to its
record (0-based, half-open); its length is the clipped length and its GC content is
``(#G + #C) / (#A + #C + #G + #T)`` (N and other letters are left out of both counts).
Matching happens within cells of (group, window length, GC bin of width ``gc_bin_width``);
inside a cell, controls are drawn at random without replacement and then paired with sites in
GC rank order, so each pair's GC differs by less than one bin.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .sequences import base_codes, check_seq_ids, sequence_source


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


def window_gc(sites: pd.DataFrame, sequences, *, position: str = "junction", window: int = 200) -> pd.Series:
    """GC content of the window around each site's ``position`` column, indexed like ``sites``."""
    lengths, fetch = sequence_source(sequences)
    check_seq_ids(sites["seq_id"].unique(), lengths, "sites")
    out = pd.Series(np.nan, index=sites.index, name="gc")
    for name, group in sites.groupby("seq_id", sort=False):
        _, gc_cum, acgt_cum = record_cumsums(fetch, name, lengths[name])
        out.loc[group.index] = window_stats(gc_cum, acgt_cum, group[position].to_numpy(np.int64), window)[0]
    return out


def match_on_gc(site_cells: pd.DataFrame, cand_cells: pd.DataFrame, *, n_per_site: int, gc_bin_width: float,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pair sites with candidate controls inside (group, length, GC bin) cells.

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
    if not site_out:
        return empty, empty
    return np.concatenate(site_out).astype(np.int64), np.concatenate(cand_out).astype(np.int64)


def warn_unmatched(n_sites: int, matched_sites: np.ndarray, n_per_site: int, what: str) -> None:
    """Warn when some sites got fewer than ``n_per_site`` controls."""
    counts = np.bincount(matched_sites, minlength=n_sites)
    short = int((counts < n_per_site).sum())
    if short:
        warnings.warn(f"{what}: {short} of {n_sites} sites got fewer than {n_per_site} matched control(s) "
                      "(no unused candidate in their GC bin and window length)", stacklevel=3)


def gc_matched_positions(sites: pd.DataFrame, sequences, *, position: str = "anchor", window: int = 101,
                         gc_bin_width: float = 0.02, n_per_site: int = 1, n_candidates: int | None = None,
                         min_distance: int | None = None, max_n_fraction: float = 0.1, seed: int = 0) -> pd.DataFrame:
    """Random genomic positions matched to sites on window GC content and window length.

    Candidates are drawn uniformly from the records that hold sites, at least ``min_distance``
    (default ``window // 2``) from every site; each control inherits its site's strand.

    Parameters
    ----------
    sites : DataFrame
        ``seq_id``, ``strand`` and the ``position`` column (0-based forward-strand index).
    sequences
        FASTA path, pyfaidx Fasta or dict of name -> str.
    n_candidates : int, optional
        Candidate positions drawn per record (default ``max(200 * sites in it, 20_000)``, capped at its length).

    Returns
    -------
    DataFrame
        ``seq_id, <position>, strand, gc`` indexed by the label of the site each control matches.
    """
    if n_per_site < 1:
        raise ValueError(f"n_per_site must be >= 1, got {n_per_site}")
    rng = np.random.default_rng(seed)
    lengths, fetch = sequence_source(sequences)
    check_seq_ids(sites["seq_id"].unique(), lengths, "sites")
    min_distance = window // 2 if min_distance is None else min_distance
    site_parts, cand_parts = [], []
    for name, group in sites.groupby("seq_id", sort=False):
        n = lengths[name]
        _, gc_cum, acgt_cum = record_cumsums(fetch, name, n)
        pos = group[position].to_numpy(np.int64)
        gc, win, _ = window_stats(gc_cum, acgt_cum, pos, window)
        site_parts.append(pd.DataFrame({"seq_id": name, "pos": pos, "strand": group["strand"].to_numpy(),
                                        "gc": gc, "length": win, "label": group.index}))
        draw = min(n, n_candidates or max(200 * len(group), 20_000))
        cand = np.sort(rng.choice(n, size=draw, replace=False))
        sorted_pos = np.sort(pos)
        near = np.searchsorted(sorted_pos, cand)
        dist_left = np.abs(cand - sorted_pos[np.clip(near - 1, 0, len(pos) - 1)])
        dist_right = np.abs(sorted_pos[np.clip(near, 0, len(pos) - 1)] - cand)
        cand = cand[np.minimum(dist_left, dist_right) >= max(min_distance, 1)]
        cgc, cwin, cn = window_stats(gc_cum, acgt_cum, cand, window)
        keep = cn <= max_n_fraction
        cand_parts.append(pd.DataFrame({"seq_id": name, "pos": cand[keep], "gc": cgc[keep], "length": cwin[keep]}))
    site_table = pd.concat(site_parts, ignore_index=True)
    cand_table = pd.concat(cand_parts, ignore_index=True)
    # strand is assigned from the site, so candidates of any record serve any site
    site_rows, cand_rows = match_on_gc(site_table.assign(group=0), cand_table.assign(group=0),
                                       n_per_site=n_per_site, gc_bin_width=gc_bin_width, rng=rng)
    warn_unmatched(len(site_table), site_rows, n_per_site, "gc_matched_positions")
    out = pd.DataFrame({
        "seq_id": cand_table["seq_id"].to_numpy()[cand_rows],
        position: cand_table["pos"].to_numpy()[cand_rows],
        "strand": site_table["strand"].to_numpy()[site_rows],
        "gc": cand_table["gc"].to_numpy()[cand_rows],
    }, index=pd.Index(site_table["label"].to_numpy()[site_rows], name="site"))
    return out.sort_index(kind="stable")
