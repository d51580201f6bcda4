"""Verdicts: does a statistic of the true sites beat its controls?

Input is a tidy table with one row per (group, set): a group is what is tested (a motif and a
statistic, a splice-site kind), a set is ``"true"`` (the real sites) or the name of a control.
Each row carries the statistic's ``enrichment`` (observed over expected; above 1 means more
boundaries than expected, below 1 fewer), its one-sided permutation ``pvalue`` and the direction
tested (``alternative``: ``"greater"`` or ``"less"``).

What "beats its controls" means here (the unit tests pin each clause down):

1. **significant**: the true set's p-value, adjusted over the family of true rows tested together
   (Bonferroni by default, Holm on request), is below ``alpha``;
2. **beyond every control**: for every control that must be beaten, the true enrichment lies
   strictly beyond the control's in the tested direction (a tie does not beat it) *and* the
   control does not show the effect itself (its unadjusted p-value is at least ``alpha``; using
   the unadjusted p-value makes it easier for a control to count as showing the effect, so the
   verdict errs against the claim);
3. a control with no row (no sites) or no value cannot be beaten.

Sets named in ``compare`` (e.g. the motif planted in a shuffled context, or hits outside
promoters) are reported, never required: whether they show the effect too is read from the same
rule as clause 2 and listed in ``also_in``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

METHODS = ("bonferroni", "holm")
VERDICT_COLUMNS = ["alternative", "n_sites", "enrichment", "pvalue", "pvalue_adjusted", "significant",
                   "beaten", "not_beaten", "also_in", "beats_controls", "verdict"]


def adjust_pvalues(pvalues, method: str = "bonferroni", n_tests: int | None = None) -> np.ndarray:
    """Family-wise adjusted p-values.

    Parameters
    ----------
    pvalues : array-like of float, shape (m,)
        NaN entries stay NaN and do not count towards the family size.
    method : {"bonferroni", "holm"}
        Bonferroni multiplies by the family size; Holm's step-down multiplies the k-th smallest by
        ``n - k + 1`` and keeps the result monotone. Both control the family-wise error rate.
    n_tests : int, optional
        Family size (default: the number of non-NaN p-values). Larger than ``m`` when some tests
        of the family are not in this array.

    Returns
    -------
    np.ndarray
        (m,) float64 adjusted p-values, capped at 1.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    p = np.asarray(pvalues, dtype=np.float64)
    ok = ~np.isnan(p)
    n = int(ok.sum()) if n_tests is None else int(n_tests)
    if n < ok.sum():
        raise ValueError(f"n_tests ({n}) is smaller than the number of p-values ({int(ok.sum())})")
    out = np.full(p.shape, np.nan)
    if method == "bonferroni":
        out[ok] = np.minimum(1.0, p[ok] * n)
        return out
    order = np.argsort(p[ok], kind="stable")
    stepped = p[ok][order] * (n - np.arange(len(order)))
    adjusted = np.minimum(1.0, np.maximum.accumulate(stepped))
    values = np.empty(len(order))
    values[order] = adjusted
    out[ok] = values
    return out


def _beyond(true_value: float, control_value: float, alternative: str) -> bool:
    if not (np.isfinite(true_value) and np.isfinite(control_value)):
        return False
    return bool(true_value < control_value) if alternative == "less" else bool(true_value > control_value)


def _shows_effect(row: pd.Series, alternative: str, alpha: float) -> bool:
    """The set shows the effect itself: unadjusted p < alpha with enrichment on the tested side of 1."""
    side = row["enrichment"] < 1 if alternative == "less" else row["enrichment"] > 1
    return bool(np.isfinite(row["pvalue"]) and row["pvalue"] < alpha and side)


def beats_controls(stats: pd.DataFrame, *, by: str | Sequence[str], set_column: str = "set", true: str = "true",
                   controls: Sequence[str] | None = None, compare: Sequence[str] = (), alpha: float = 0.05,
                   method: str = "bonferroni", n_tests: int | None = None) -> pd.DataFrame:
    """One verdict per group: is the true set significant and beyond every control?

    Parameters
    ----------
    stats : DataFrame
        Tidy statistics: the ``by`` columns, ``set_column``, ``enrichment`` (float, observed over
        expected), ``pvalue`` (one-sided, in the direction of ``alternative``), optional
        ``alternative`` (``"greater"`` or ``"less"``; default ``"greater"``) and ``n_sites``.
    by : str or list of str
        Columns that name a test, e.g. ``["motif_id", "statistic"]`` or ``"kind"``.
    controls : list of str, optional
        Sets the true set must beat (default: every set that is neither ``true`` nor in ``compare``).
    compare : list of str
        Sets reported in ``also_in`` when they show the effect, never required to be beaten.
    alpha : float
        Family-wise error rate.
    method : {"bonferroni", "holm"}
        Adjustment over the true rows (the family), see :func:`adjust_pvalues`.
    n_tests : int, optional
        Family size when it is larger than the number of true rows in ``stats``.

    Returns
    -------
    DataFrame
        One row per group (in order of first appearance): the ``by`` columns, then
        ``alternative, n_sites, enrichment, pvalue, pvalue_adjusted, significant, beaten,
        not_beaten, also_in, beats_controls, verdict``; ``beaten``/``not_beaten``/``also_in`` are
        comma-separated set names (``""`` when none); ``verdict`` a short phrase.
        ``attrs["method"]``, ``attrs["alpha"]`` and ``attrs["n_tests"]`` record the adjustment.
    """
    by = [by] if isinstance(by, str) else list(by)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    missing = [c for c in by + [set_column, "enrichment", "pvalue"] if c not in stats]
    if missing:
        raise ValueError(f"stats table lacks column(s) {missing} (columns: {list(stats.columns)})")
    table = stats.copy()
    if "alternative" not in table:
        table["alternative"] = "greater"
    bad = set(table["alternative"]) - {"greater", "less"}
    if bad:
        raise ValueError(f"alternative must be 'greater' or 'less', got {sorted(bad)}")
    if table.duplicated(by + [set_column]).any():
        raise ValueError(f"stats table has more than one row per {by + [set_column]}")
    truth = table[table[set_column] == true].reset_index(drop=True)
    if truth.empty:
        raise ValueError(f"stats table has no {set_column} == {true!r} rows")
    adjusted = adjust_pvalues(truth["pvalue"].to_numpy(np.float64), method=method, n_tests=n_tests)
    others = [s for s in pd.unique(table[set_column]) if s != true]
    must_beat = [s for s in others if s not in compare] if controls is None else list(controls)
    rows = []
    for k, real in truth.iterrows():
        key = tuple(real[c] for c in by)
        same = table[(table[by] == pd.Series(dict(zip(by, key)))).all(axis=1)].set_index(set_column)
        alt = real["alternative"]
        significant = bool(np.isfinite(adjusted[k]) and adjusted[k] < alpha)
        beaten, not_beaten = [], []
        for name in must_beat:
            ok = name in same.index and _beyond(real["enrichment"], same.loc[name, "enrichment"], alt) \
                and not _shows_effect(same.loc[name], alt, alpha)
            (beaten if ok else not_beaten).append(name)
        also = [s for s in list(must_beat) + [c for c in compare if c not in must_beat]
                if s in same.index and _shows_effect(same.loc[s], alt, alpha)]
        beats = significant and not not_beaten
        if beats:
            verdict = "beats its controls"
        elif not significant:
            verdict = f"not significant (adjusted p = {adjusted[k]:.3g})"
        else:
            verdict = f"significant, but not beyond {', '.join(not_beaten)}"
        rows.append({**dict(zip(by, key)), "alternative": alt,
                     "n_sites": int(real["n_sites"]) if "n_sites" in real and pd.notna(real["n_sites"]) else -1,
                     "enrichment": float(real["enrichment"]), "pvalue": float(real["pvalue"]),
                     "pvalue_adjusted": float(adjusted[k]), "significant": significant,
                     "beaten": ", ".join(beaten), "not_beaten": ", ".join(not_beaten), "also_in": ", ".join(also),
                     "beats_controls": beats, "verdict": verdict})
    out = pd.DataFrame(rows, columns=by + VERDICT_COLUMNS)
    out.attrs.update(method=method, alpha=alpha, n_tests=int(n_tests or np.isfinite(truth["pvalue"]).sum()),
                     compare=[c for c in compare if c not in must_beat])
    return out


def _label(row: pd.Series, by: list[str]) -> str:
    return " ".join(str(row[c]) for c in by)


def verdict_text(verdicts: pd.DataFrame, *, by: str | Sequence[str] | None = None, what: str = "test") -> str:
    """One line saying which tests beat their controls, computed from :func:`beats_controls`' table.

    Parameters
    ----------
    verdicts : DataFrame
        The output of :func:`beats_controls` (its ``attrs`` give the adjustment named in the line).
    by : str or list of str, optional
        Columns naming a test in the line (default: the columns before ``alternative``).
    what : str
        What one row is called (``"test"``, ``"statistic"``, ``"junction kind"``).
    """
    by = list(verdicts.columns[: list(verdicts.columns).index("alternative")]) if by is None else (
        [by] if isinstance(by, str) else list(by))
    method = verdicts.attrs.get("method", "bonferroni")
    alpha = verdicts.attrs.get("alpha", 0.05)
    n = verdicts.attrs.get("n_tests", len(verdicts))
    how = f"{method.capitalize()} over {n} {what}{'s' if n != 1 else ''}, alpha {alpha:g}"
    winners = verdicts[verdicts["beats_controls"]]
    if winners.empty:
        near = verdicts[verdicts["significant"]]
        tail = "" if near.empty else "; significant but not beyond a control: " + "; ".join(
            f"{_label(r, by)} (not beyond {r.not_beaten})" for _, r in near.iterrows())
        return f"No {what} beats its controls ({how}){tail}."
    parts = []
    for _, r in winners.iterrows():
        side = "more" if r["alternative"] == "greater" else "fewer"
        shown = [c.strip() for c in r["also_in"].split(",") if c.strip()]
        absent = [c for c in verdicts.attrs.get("compare", []) if c not in shown]
        also = (f"; also in {r.also_in}" if shown else "") + (f"; not in {', '.join(absent)}" if absent else "")
        parts.append(f"{_label(r, by)} ({side} boundaries than expected: enrichment {r.enrichment:.2f}, "
                     f"adjusted p {r.pvalue_adjusted:.2g}{also})")
    return f"{len(winners)} of {len(verdicts)} {what}s beat their controls ({how}): " + "; ".join(parts) + "."
