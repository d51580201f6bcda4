"""Are motifs segmentation landmarks? Boundary rates at, inside and beside motif hits.

The paper's claim (§5.2) is that the router places boundaries near promoter motifs, treating
them "as segmentation landmarks rather than splitting them". For hits of width ``w`` aligned on
their own strand (offset 0 = the cut before the motif's first base, see :mod:`ldarviz.profiles`)
three statistics ask it:

- ``start``: the boundary rate at offset 0 (a chunk starts where the motif starts); tested
  for *more* boundaries than expected;
- ``inside``: the rate at the cuts between motif bases, offsets ``1..w-1``; tested for *fewer*
  (avoidance: the motif is kept whole);
- ``flanks``: the rate at offsets ``-flank..-1`` and ``w+1..w+flank`` (the cut at ``w``, the
  motif's end, is in neither); tested for *more* (boundaries near the motif).

Each statistic is the mean boundary value over those offsets and sites. Its null moves the
same geometry to a random place in each site's own neighbourhood: every site's row of offsets
``-radius..w+radius`` is circularly shifted by an independent random amount, which keeps the
site's own values but breaks their alignment to the motif. ``expected`` is the null mean,
``enrichment = observed / expected`` and the p-value is one-sided, ``(1 + #{null as extreme})
/ (1 + n_perm)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .profiles import site_matrix

LANDMARK_STATISTICS = ("start", "inside", "flanks")
ALTERNATIVES = {"start": "greater", "inside": "less", "flanks": "greater"}
STAT_COLUMNS = ["statistic", "alternative", "observed", "expected", "enrichment", "pvalue", "n_sites", "n_perm"]


def landmark_offsets(width: int, flank: int = 10) -> dict[str, np.ndarray]:
    """Offsets (relative to the motif start, on its strand) that each statistic averages over."""
    if width < 2:
        raise ValueError(f"motif width must be >= 2 to have cuts inside it, got {width}")
    if flank < 1:
        raise ValueError(f"flank must be >= 1, got {flank}")
    return {"start": np.array([0]), "inside": np.arange(1, width),
            "flanks": np.concatenate([np.arange(-flank, 0), np.arange(width + 1, width + flank + 1)])}


def landmark_matrix(boundaries: dict[str, np.ndarray], sites: pd.DataFrame, width: int, *, radius: int = 100,
                    position: str | None = None) -> np.ndarray:
    """Boundary values at offsets ``-radius..width+radius`` around each site, strand-aware.

    Parameters
    ----------
    boundaries : dict[str, np.ndarray]
        seq_id -> (L,) boundary probabilities or mask (cut-before-base convention).
    sites : DataFrame
        Motif hits (``seq_id, start, end, strand``) or sites with a ``position``/``anchor`` column.
    width : int
        Motif width ``w``.

    Returns
    -------
    np.ndarray
        (n_sites, 2 * radius + width + 1) float64, column ``j`` = offset ``j - radius``; NaN off the record.
    """
    full = site_matrix(boundaries, sites, flank=radius + width, position=position)  # offsets -(r+w)..r+w
    return full[:, width:]


def landmark_stats(matrix: np.ndarray, width: int, *, radius: int | None = None, flank: int = 10,
                   n_perm: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The three landmark statistics of an aligned matrix, each with its permutation p-value.

    Parameters
    ----------
    matrix : (n_sites, K) float array
        From :func:`landmark_matrix`: column ``j`` is offset ``j - radius``; NaN = missing.
    width : int
        Motif width.
    radius : int, optional
        Offsets before the motif start held in the matrix (default ``(K - width - 1) // 2``).
    flank : int
        Bases either side of the motif in the ``flanks`` statistic.

    Returns
    -------
    DataFrame
        One row per statistic: ``statistic, alternative, observed, expected, enrichment, pvalue,
        n_sites, n_perm`` (NaN statistics when no site has a value there).
    """
    n_sites, k = matrix.shape
    radius = (k - width - 1) // 2 if radius is None else radius
    offsets = landmark_offsets(width, flank)
    if radius < flank or k < radius + width + flank + 1:
        raise ValueError(f"matrix of {k} columns with radius {radius} cannot hold flank {flank} around width {width}")
    valid = ~np.isnan(matrix)
    filled = np.where(valid, matrix, 0.0)
    rng = np.random.default_rng(seed)
    shifts = rng.integers(0, k, size=(n_perm, n_sites)) if n_perm > 0 else np.zeros((0, n_sites), np.int64)
    # (n_perm, n_sites) flat positions of each site's shifted column: one `take` per array is about
    # twice as fast as indexing with a (rows, shifts) pair, and gathers the same values in the same order
    flat = np.arange(n_sites)[None, :] * k + shifts
    out = []
    for name in LANDMARK_STATISTICS:
        cols = offsets[name] + radius
        # sums over `cols` after a circular shift by r, for every r: (n_sites, K)
        s = sum(np.roll(filled, -c, axis=1) for c in cols)
        n = sum(np.roll(valid, -c, axis=1).astype(np.int64) for c in cols)
        with np.errstate(invalid="ignore", divide="ignore"):
            observed = s[:, 0].sum() / n[:, 0].sum() if n_sites else np.nan
            null = s.ravel().take(flat).sum(-1) / n.ravel().take(flat).sum(-1) if n_sites else np.zeros(0)
        null = null[np.isfinite(null)]
        alternative = ALTERNATIVES[name]
        if np.isfinite(observed) and len(null):
            extreme = null <= observed + 1e-12 if alternative == "less" else null >= observed - 1e-12
            pvalue = (1 + extreme.sum()) / (1 + len(null))
            expected = float(null.mean())
        else:
            pvalue, expected = np.nan, np.nan
        with np.errstate(invalid="ignore", divide="ignore"):
            enrichment = np.float64(observed) / np.float64(expected)
        out.append({"statistic": name, "alternative": alternative, "observed": float(observed),
                    "expected": expected, "enrichment": float(enrichment), "pvalue": float(pvalue),
                    "n_sites": int(n_sites), "n_perm": int(n_perm)})
    return pd.DataFrame(out, columns=STAT_COLUMNS)


CONTROLS = ("gc_matched", "planted_shuffle", "shuffled_pwm")


def _lookup(mapping, motif_id: str, default=None):
    """Value of the key that names ``motif_id`` exactly or as its JASPAR base/versioned prefix."""
    for key, value in (mapping or {}).items():
        if motif_id == key or motif_id.startswith(key + "_") or motif_id.startswith(key + "."):
            return value
    return default


def _restrict(group: pd.DataFrame, regions, stranded: bool, inside: bool) -> pd.DataFrame:
    from .promoters import in_regions

    return group if regions is None else in_regions(group, regions, stranded=stranded, inside=inside)


def motif_landmarks(boundaries: dict[str, np.ndarray], hits: pd.DataFrame, sequences, *, regions: pd.DataFrame | None = None,
                    motif_regions: dict | None = None, stranded=(), pvalue=None, boundary_fn=None, controls=CONTROLS,
                    outside: bool = True, radius: int = 100, flank: int = 10, gc_window: int | None = None,
                    gc_bin_width: float = 0.02, planted_context: int = 256, max_planted: int | None = 2000, motifs=None,
                    n_perm: int = 1000, n_boot: int = 1000, seed: int = 0, model=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Landmark statistics of motif hits inside regions, next to their controls and the hits outside.

    Parameters
    ----------
    boundaries : dict[str, np.ndarray]
        seq_id -> (L,) boundary probabilities over ``sequences`` (cut-before-base convention).
    hits : DataFrame
        From :func:`ldarviz.scan_motifs` over the same sequences (scanned at the loosest threshold used).
    sequences : path, pyfaidx.Fasta or dict[str, str]
    regions : DataFrame, optional
        Where true hits lie (e.g. :func:`ldarviz.promoter_windows`); ``None``: every hit is true.
    motif_regions : dict, optional
        Motif id (or JASPAR base id / consensus name) -> regions for that motif instead of ``regions``
        (e.g. ``{"Kozak": start_codon_windows(annotation)}``).
    stranded : collection of str
        Motif ids whose hits must lie on their region's strand (e.g. ``("Kozak",)``).
    pvalue : float or dict, optional
        FIMO threshold per motif (a float for all, or id -> float); hits above it are dropped and
        the column-shuffled PWM is scanned at it. Default: the threshold recorded in ``hits``.
    boundary_fn : callable, optional
        ``dict name -> str`` to ``dict name -> (L,) array``; needed for ``planted_shuffle``.
    controls : iterable of str
        ``gc_matched`` (random positions matched on window GC and length, strand and width copied),
        ``planted_shuffle`` (the motif at the same offset in a dinucleotide-shuffled copy of its
        surroundings), ``shuffled_pwm`` (hits of the column-shuffled PWM in the same regions).
    outside : bool
        Also report the hits of the same PWM wholly outside the regions (set ``outside``).
    radius, flank : int
        Neighbourhood of the null and width of the flanks (see module doc).
    model : ldarviz.Loaded, optional
        The loaded model the boundaries came from; its checkpoint hash goes in the provenance.

    Returns
    -------
    profiles : DataFrame
        ``motif_id, set, offset, mean, lo, hi, n`` for offsets ``-radius..w+radius``.
    stats : DataFrame
        ``motif_id, set, width`` + :data:`STAT_COLUMNS`: three rows per (motif, set); a set
        without sites has ``n_sites`` 0 and NaN statistics.
    """
    from .matching import gc_matched_positions
    from .motifs import load_motifs, scan_motifs, shuffle_columns
    from .profiles import _pwms_named_in, motif_anchors, planted_windows, profile_from_matrix
    from .provenance import attach, make_provenance

    unknown = set(controls) - set(CONTROLS)
    if unknown:
        raise ValueError(f"controls: unknown control(s) {sorted(unknown)}; choose from {CONTROLS}")
    if "planted_shuffle" in controls and boundary_fn is None:
        raise ValueError("boundary_fn: the planted_shuffle control needs a function from sequences to boundary arrays")
    default_p = hits.attrs.get("provenance", {}).get("parameters", {}).get("pvalue", 1e-4)
    threshold = {m: (_lookup(pvalue, m, default_p) if isinstance(pvalue, dict) else (pvalue or default_p))
                 for m in pd.unique(hits["motif_id"])}
    gc_window = gc_window or 2 * radius + 1
    decoys = None
    if "shuffled_pwm" in controls and len(hits):
        pwms = load_motifs(motifs) if motifs is not None else _pwms_named_in(hits)
        pwms = {k: v for k, v in pwms.items() if k in threshold}
        decoys = scan_motifs(sequences, shuffle_columns(pwms, seed=seed), pvalue=max(threshold.values()))
    profiles, stats = [], []
    for motif_id, group in hits.groupby("motif_id", sort=True):
        group = group[group["pvalue"] < threshold[motif_id]]
        widths = pd.unique(group["end"] - group["start"])
        if len(widths) > 1:
            raise ValueError(f"hits of {motif_id} have several widths {sorted(widths)}; one PWM has one width")
        if len(widths) == 0:
            continue
        width = int(widths[0])
        where = _lookup(motif_regions, motif_id, regions)
        strict = _lookup({k: True for k in stranded}, motif_id, False)
        true = _restrict(group, where, strict, inside=True)
        sets = [("true", landmark_matrix(boundaries, true, width, radius=radius))]
        if outside and where is not None:
            sets.append(("outside", landmark_matrix(boundaries, _restrict(group, where, strict, inside=False), width, radius=radius)))
        if "gc_matched" in controls and len(true):
            matched = gc_matched_positions(true.assign(anchor=motif_anchors(true)), sequences, position="anchor",
                                           window=gc_window, gc_bin_width=gc_bin_width, seed=seed)
            sets.append(("gc_matched", landmark_matrix(boundaries, matched, width, radius=radius, position="anchor")))
        if "planted_shuffle" in controls and len(true):
            windows, sites = planted_windows(true, sequences, flank=radius + width, context=planted_context,
                                             max_sites=max_planted, seed=seed)
            matrix = landmark_matrix(boundary_fn(windows), sites, width, radius=radius, position="anchor") if windows \
                else np.zeros((0, 2 * radius + width + 1))
            sets.append(("planted_shuffle", matrix))
        if decoys is not None:
            own = decoys[(decoys["motif_id"] == f"{motif_id}_colshuf") & (decoys["pvalue"] < threshold[motif_id])]
            sets.append(("shuffled_pwm", landmark_matrix(boundaries, _restrict(own, where, strict, inside=True), width,
                                                         radius=radius)))
        for name, matrix in sets:
            table = landmark_stats(matrix, width, radius=radius, flank=flank, n_perm=n_perm, seed=seed)
            stats.append(table.assign(motif_id=motif_id, set=name, width=width))
            if len(matrix):
                prof = profile_from_matrix(matrix, n_boot=n_boot, seed=seed)
                prof["offset"] = np.arange(matrix.shape[1]) - radius
                profiles.append(prof.assign(motif_id=motif_id, set=name))
    columns = ["motif_id", "set", "offset", "mean", "lo", "hi", "n"]
    profiles = pd.concat(profiles, ignore_index=True)[columns] if profiles else pd.DataFrame(columns=columns)
    stats = pd.concat(stats, ignore_index=True)[["motif_id", "set", "width"] + STAT_COLUMNS] if stats \
        else pd.DataFrame(columns=["motif_id", "set", "width"] + STAT_COLUMNS)
    record = make_provenance(model=model, seed=seed, analysis="motif_landmarks", controls=list(controls),
                             radius=radius, flank=flank, gc_window=gc_window, gc_bin_width=gc_bin_width, outside=outside,
                             planted_context=planted_context, max_planted=max_planted, n_perm=n_perm, n_boot=n_boot,
                             pvalue=threshold, restricted_to_regions=regions is not None or bool(motif_regions))
    hit_record = hits.attrs.get("provenance", {})
    record["jaspar_release"] = hit_record.get("jaspar_release")
    record["inputs"].update(hit_record.get("inputs", {}))
    return attach(profiles, record), attach(stats, record)


def landmark_table(stats: pd.DataFrame) -> pd.DataFrame:
    """The statistics of :func:`motif_landmarks` one row per (motif, set), for reading.

    Returns
    -------
    DataFrame
        Indexed by ``motif_id, set``; columns ``n_sites`` then ``<statistic> enrichment`` and
        ``<statistic> p`` for start, inside and flanks (unadjusted one-sided p-values).
    """
    wide = stats.pivot(index=["motif_id", "set"], columns="statistic", values=["enrichment", "pvalue"])
    out = pd.DataFrame({"n_sites": stats.groupby(["motif_id", "set"])["n_sites"].first()})
    for name in LANDMARK_STATISTICS:
        if ("enrichment", name) in wide:
            out[f"{name} enrichment"] = wide[("enrichment", name)]
            out[f"{name} p"] = wide[("pvalue", name)]
    return out


def plot_landmark_stats(stats: pd.DataFrame, statistic: str, *, ax=None, save_path=None, title: str | None = None):
    """Enrichment (observed / expected) of one landmark statistic per motif, one bar per set.

    A dashed line marks 1 (as many boundaries as the shifted null expects); a star marks bars with
    an unadjusted one-sided p-value below 0.05 (the verdict adjusts; this figure does not).
    """
    import matplotlib.pyplot as plt

    from .provenance import finish_figure

    if statistic not in LANDMARK_STATISTICS:
        raise ValueError(f"statistic must be one of {LANDMARK_STATISTICS}, got {statistic!r}")
    rows = stats[stats["statistic"] == statistic]
    if rows.empty:
        raise ValueError(f"no rows for statistic {statistic!r}")
    fig, ax = plt.subplots(figsize=(7, 3.4)) if ax is None else (ax.figure, ax)
    motifs = list(pd.unique(rows["motif_id"]))
    sets = list(pd.unique(rows["set"]))
    step = 0.8 / len(sets)
    for j, name in enumerate(sets):
        sub = rows[rows["set"] == name].set_index("motif_id").reindex(motifs)
        x = np.arange(len(motifs)) + (j - (len(sets) - 1) / 2) * step
        bars = ax.bar(x, sub["enrichment"].to_numpy(np.float64), width=step, label=name)
        for xi, p, e in zip(x, sub["pvalue"], sub["enrichment"]):
            if np.isfinite(p) and p < 0.05:
                ax.annotate("*", (xi, e), ha="center", va="bottom", color=bars.patches[0].get_facecolor())
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    ax.set_xticks(np.arange(len(motifs)), [m.split("_")[-1] for m in motifs])
    ax.set_ylabel("observed / expected")
    ax.set_title(title or f"{statistic} ({ALTERNATIVES[statistic]} than expected is the landmark signal)")
    ax.legend(fontsize="small", ncol=min(len(sets), 3))
    return finish_figure(fig, save_path=save_path, provenance=stats.attrs.get("provenance"))
