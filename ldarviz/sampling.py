"""Stratified subsampling: the same number of rows from every class, reproducibly.

Used where a notebook keeps a subset of a benchmark (07: promoters vs non-promoters) or of the
annotated junctions (04: donors vs acceptors), so each class is equally represented and the draw
is the same on every run with the same seed.
"""

from __future__ import annotations

import pandas as pd


def stratified_sample(table: pd.DataFrame, by: str, *, per_group: int | None = None, total: int | None = None,
                      seed: int = 0) -> pd.DataFrame:
    """The same number of rows from each value of ``table[by]``, drawn without replacement.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows to draw from; ``by`` names the class column.
    by : str
        Column whose values are the strata (e.g. ``"label"`` or ``"kind"``).
    per_group : int, optional
        Rows wanted per class.
    total : int, optional
        Rows wanted in all, split evenly: ``total // n_classes`` per class (the remainder is dropped
        so classes stay balanced). Give exactly one of ``per_group`` and ``total``.
    seed : int
        ``random_state`` of the draw.

    Returns
    -------
    pandas.DataFrame
        ``min(wanted, smallest class size)`` rows of each class, grouped by class in sorted order,
        index reset to ``0..n-1``.
    """
    if (per_group is None) == (total is None):
        raise ValueError("give exactly one of per_group and total")
    if by not in table.columns:
        raise ValueError(f"no column {by!r} to stratify by (columns: {list(table.columns)})")
    if table.empty:
        raise ValueError("cannot sample from an empty table")
    counts = table[by].value_counts()
    wanted = per_group if per_group is not None else total // len(counts)
    if wanted < 1:
        raise ValueError(f"asked for {wanted} rows per class ({by}: {len(counts)} classes); need at least 1")
    n = min(int(wanted), int(counts.min()))
    return table.groupby(by).sample(n=n, random_state=seed).reset_index(drop=True)
