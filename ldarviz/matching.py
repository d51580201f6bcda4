"""Controls matched on window GC content and window length, for analyses: GC of sites' windows and
GC-matched random positions. Windows, GC content and the matching cells are defined once, in
``ldarnet.genome.gc`` (:func:`ldarnet.genome.match_on_gc` is the matcher).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ldarnet.genome import match_on_gc, record_cumsums, window_stats

from .sequences import check_seq_ids, sequence_source


def window_gc(sites: pd.DataFrame, sequences, *, position: str = "junction", window: int = 200) -> pd.Series:
    """GC content of the window around each site's ``position`` column, indexed like ``sites``."""
    lengths, fetch = sequence_source(sequences)
    check_seq_ids(sites["seq_id"].unique(), lengths, "sites")
    out = pd.Series(np.nan, index=sites.index, name="gc")
    for name, group in sites.groupby("seq_id", sort=False):
        _, gc_cum, acgt_cum = record_cumsums(fetch, name, lengths[name])
        out.loc[group.index] = window_stats(gc_cum, acgt_cum, group[position].to_numpy(np.int64), window)[0]
    return out


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
