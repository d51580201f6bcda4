"""Where to look for a motif: promoter windows and start-codon frames from the annotation.

All tables are 0-based, half-open forward-strand intervals ``[start, end)`` with the strand of
the transcript they come from. A transcript's TSS is its first base on its strand (``start`` on
``+``, ``end - 1`` on ``-``, as in :func:`ldarnet.genome.transcripts`); its start codon is the
first three CDS bases on its strand.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ldarnet.genome import read_annotation, transcripts

REGION_COLUMNS = ["seq_id", "start", "end", "strand", "transcript_id"]


def _transcripts(annotation) -> pd.DataFrame:
    if isinstance(annotation, (str, os.PathLike)):
        return transcripts(read_annotation(annotation))
    if isinstance(annotation, pd.DataFrame):
        return annotation if "cds_start" in annotation else transcripts(annotation)
    raise ValueError(f"annotation must be a GFF3/GTF path or a read_annotation() table, got {type(annotation).__name__}")


def _stranded_window(seq_id, anchor, strand, upstream: int, downstream: int, lengths) -> pd.DataFrame:
    """``[anchor - upstream, anchor + downstream)`` read on each row's strand, clipped to its record."""
    plus = strand == "+"
    start = np.where(plus, anchor - upstream, anchor - downstream + 1)
    end = np.where(plus, anchor + downstream, anchor + upstream + 1)
    start = np.maximum(start, 0)
    if lengths is not None:
        end = np.minimum(end, pd.Series(seq_id).map(lengths).to_numpy(np.int64))
    return pd.DataFrame({"seq_id": seq_id, "start": start.astype(np.int64), "end": end.astype(np.int64),
                         "strand": strand})


def _unique(table: pd.DataFrame, extra: dict) -> pd.DataFrame:
    table = table.assign(**extra)
    table = table[(table["end"] > table["start"])]
    table = table.drop_duplicates(["seq_id", "start", "end", "strand"])
    return table.sort_values(["seq_id", "start", "end", "strand"], kind="stable").reset_index(drop=True)


def promoter_windows(annotation, *, upstream: int = 300, downstream: int = 50,
                     lengths: dict[str, int] | None = None) -> pd.DataFrame:
    """Promoter windows ``-upstream..+downstream`` around every annotated TSS, strand-aware.

    Parameters
    ----------
    annotation : path or DataFrame
        GFF3/GTF file, a ``read_annotation`` table, or a ``transcripts`` table.
    upstream, downstream : int
        Bases before the TSS (5', on the transcript's strand) and from the TSS on (the TSS itself
        is the first of the ``downstream`` bases).
    lengths : dict[str, int], optional
        Record lengths to clip windows to.

    Returns
    -------
    DataFrame
        ``seq_id, start, end, strand, transcript_id, tss``; one row per distinct window (the
        first transcript's id is kept), sorted by record and start. Stranded transcripts only.
    """
    if upstream < 0 or downstream < 1:
        raise ValueError(f"upstream must be >= 0 and downstream >= 1, got {upstream}, {downstream}")
    tx = _transcripts(annotation)
    tx = tx[tx["strand"].isin(["+", "-"])]
    strand = tx["strand"].to_numpy()
    tss = np.where(strand == "+", tx["start"].to_numpy(np.int64), tx["end"].to_numpy(np.int64) - 1)
    win = _stranded_window(tx["seq_id"].to_numpy(), tss, strand, upstream, downstream, lengths)
    return _unique(win, {"transcript_id": tx["transcript_id"].to_numpy(), "tss": tss})


def start_codon_windows(annotation, *, upstream: int = 6, downstream: int = 4,
                        lengths: dict[str, int] | None = None) -> pd.DataFrame:
    """Windows around every annotated start codon (first CDS base on the transcript's strand).

    The defaults give the frame of the Kozak consensus ``GCCRCCATGG``: six bases before the A of
    the ATG and four from it, so a Kozak hit at a start codon lies exactly in its window.

    Returns
    -------
    DataFrame
        ``seq_id, start, end, strand, transcript_id, codon_start`` (``codon_start``: forward
        coordinate of the codon's first base on the forward strand, i.e. ``[codon_start,
        codon_start + 3)`` is the codon); one row per distinct window. Coding transcripts only.
    """
    if upstream < 0 or downstream < 1:
        raise ValueError(f"upstream must be >= 0 and downstream >= 1, got {upstream}, {downstream}")
    tx = _transcripts(annotation)
    tx = tx[tx["strand"].isin(["+", "-"]) & (tx["cds_start"] >= 0)]
    strand = tx["strand"].to_numpy()
    # the A of the ATG read on the transcript's strand: cds_start on +, cds_end - 1 on -
    first = np.where(strand == "+", tx["cds_start"].to_numpy(np.int64), tx["cds_end"].to_numpy(np.int64) - 1)
    win = _stranded_window(tx["seq_id"].to_numpy(), first, strand, upstream, downstream, lengths)
    codon = np.where(strand == "+", first, first - 2)
    return _unique(win, {"transcript_id": tx["transcript_id"].to_numpy(), "codon_start": codon})


def in_regions(hits: pd.DataFrame, regions: pd.DataFrame, *, stranded: bool = False, inside: bool = True) -> pd.DataFrame:
    """Hits wholly inside some region (``inside=True``) or overlapping none (``inside=False``).

    A hit that straddles a region edge is in neither answer. With ``stranded``, only regions on
    the hit's strand count (for inside and outside alike).

    Parameters
    ----------
    hits, regions : DataFrame
        ``seq_id, start, end`` (and ``strand`` when ``stranded``), 0-based half-open.

    Returns
    -------
    DataFrame
        The selected rows of ``hits`` (index and attrs kept).
    """
    keep = np.zeros(len(hits), dtype=bool)
    if len(hits) == 0:
        return hits.copy()
    h_start, h_end = hits["start"].to_numpy(np.int64), hits["end"].to_numpy(np.int64)
    keys = ["seq_id", "strand"] if stranded else ["seq_id"]
    h_key = list(zip(*(hits[k].to_numpy() for k in keys)))
    groups = {key: g for key, g in regions.groupby(keys if len(keys) > 1 else keys[0], sort=False)}
    for key in set(h_key):
        rows = np.flatnonzero([k == key for k in h_key])
        g = groups.get(key if len(keys) > 1 else key[0])
        s, e = h_start[rows], h_end[rows]
        if g is None or g.empty:
            keep[rows] = not inside
            continue
        r_start, r_end = g["start"].to_numpy(np.int64), g["end"].to_numpy(np.int64)
        # (n_hits, n_regions) is small here (hundreds of hits x hundreds of windows per record)
        within = ((r_start[None, :] <= s[:, None]) & (e[:, None] <= r_end[None, :])).any(axis=1)
        touches = ((r_start[None, :] < e[:, None]) & (s[:, None] < r_end[None, :])).any(axis=1)
        keep[rows] = within if inside else ~touches
    out = hits[keep]
    out.attrs = dict(hits.attrs)
    return out
