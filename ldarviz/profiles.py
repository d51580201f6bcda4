"""Boundary profiles aligned on motif starts or splice junctions, with controls and statistics.

Boundary arrays follow the extraction contract: ``boundaries[seq_id]`` is an (L,) array (float16
probabilities or a bool mask) whose value at ``p`` refers to a chunk starting at base ``p``,
i.e. a cut between ``p - 1`` and ``p`` (0-based, forward strand).

Alignment is strand-aware. Each site has an ``anchor``: a cut position in that convention. For a
motif hit ``[start, end)`` the anchor is the cut before its first base read on its own strand:
``start`` on ``+`` and ``end`` on ``-``. Offset ``k`` reads the cut ``anchor + k`` on ``+`` and
``anchor - k`` on ``-``, so positive offsets always run downstream on the site's strand and
offset 0 is the cut at the motif start (or splice junction).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .matching import gc_matched_positions
from .motifs import load_motifs, scan_motifs, shuffle_columns
from .provenance import attach, make_provenance
from .sequences import check_seq_ids, one_hot, sequence_source

PROFILE_COLUMNS = ["offset", "mean", "lo", "hi", "n"]


def motif_anchors(hits: pd.DataFrame) -> np.ndarray:
    """(n,) int64 anchor of each hit: ``start`` on ``+``, ``end`` on ``-`` (see module doc)."""
    return np.where(hits["strand"].to_numpy() == "-", hits["end"].to_numpy(np.int64), hits["start"].to_numpy(np.int64))


def _positions(sites: pd.DataFrame, position: str | None) -> np.ndarray:
    if position is None:
        position = "anchor" if "anchor" in sites else ("junction" if "junction" in sites else None)
    if position is None:
        return motif_anchors(sites)
    if position not in sites:
        raise ValueError(f"sites table has no column {position!r} (columns: {list(sites.columns)})")
    return sites[position].to_numpy(np.int64)


def site_matrix(boundaries: dict[str, np.ndarray], sites: pd.DataFrame, *, flank: int = 50,
                position: str | None = None) -> np.ndarray:
    """Boundary values around every site, strand-aware.

    Parameters
    ----------
    boundaries : dict[str, np.ndarray]
        seq_id -> (L,) boundary probabilities or mask (cut-before-base convention).
    sites : DataFrame
        ``seq_id``, ``strand`` and a position: the ``position`` column if given, else ``anchor``,
        else ``junction``, else motif anchors from ``start``/``end``.
    flank : int
        Offsets ``-flank..flank``.

    Returns
    -------
    np.ndarray
        (n_sites, 2 * flank + 1) float64; NaN where the offset falls outside the record.
    """
    check_seq_ids(sites["seq_id"].unique(), boundaries, "sites")
    offsets = np.arange(-flank, flank + 1)
    anchor = _positions(sites, position)
    sign = np.where(sites["strand"].to_numpy() == "-", -1, 1)
    where = anchor[:, None] + sign[:, None] * offsets[None, :]
    out = np.full(where.shape, np.nan)
    seq_ids = sites["seq_id"].to_numpy()
    for name in pd.unique(seq_ids):
        rows = np.flatnonzero(seq_ids == name)
        values = np.asarray(boundaries[name])
        idx = where[rows]
        ok = (idx >= 0) & (idx < len(values))
        block = np.full(idx.shape, np.nan)
        block[ok] = values[idx[ok]].astype(np.float64)
        out[rows] = block
    return out


def profile_from_matrix(matrix: np.ndarray, *, n_boot: int = 1000, ci: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Mean boundary value per offset with a percentile bootstrap band over sites.

    Parameters
    ----------
    matrix : (n_sites, K) float array with NaN for missing values; offsets are ``-(K//2)..K//2``.

    Returns
    -------
    DataFrame
        ``offset, mean, lo, hi, n`` (K rows); ``lo``/``hi`` are the ``(1-ci)/2`` and ``(1+ci)/2``
        percentiles of ``n_boot`` resampled means; ``n`` counts sites with a value there.
    """
    n_sites, width = matrix.shape
    valid = ~np.isnan(matrix)
    filled = np.where(valid, matrix, 0.0)
    counts = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=0) / counts
    lo = hi = np.full(width, np.nan)
    if n_sites > 1 and n_boot > 0:
        rng = np.random.default_rng(seed)
        boots = []
        for start in range(0, n_boot, 100):  # 100 resamples at a time keeps the weights small
            w = rng.multinomial(n_sites, np.full(n_sites, 1.0 / n_sites), size=min(100, n_boot - start)).astype(np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                boots.append((w @ filled) / (w @ valid))
        boots = np.concatenate(boots)
        alpha = (1 - ci) / 2
        lo, hi = np.nanquantile(boots, [alpha, 1 - alpha], axis=0)
    return pd.DataFrame({"offset": np.arange(width) - width // 2, "mean": mean, "lo": lo, "hi": hi, "n": counts})


def boundary_profile(boundaries: dict[str, np.ndarray], sites: pd.DataFrame, *, flank: int = 50,
                     position: str | None = None, n_boot: int = 1000, ci: float = 0.95, seed: int = 0,
                     model=None) -> pd.DataFrame:
    """Site-aligned mean boundary profile with bootstrap band (``site_matrix`` + ``profile_from_matrix``).

    ``model`` (the :class:`ldarviz.Loaded` record the boundaries came from) gives the provenance its checkpoint hash.
    """
    matrix = site_matrix(boundaries, sites, flank=flank, position=position)
    table = profile_from_matrix(matrix, n_boot=n_boot, ci=ci, seed=seed)
    return attach(table, make_provenance(model=model, seed=seed, flank=flank, n_boot=n_boot, ci=ci, n_sites=len(sites)))


def peak_enrichment(matrix: np.ndarray, *, peak: int = 2, flank_from: int | None = None, n_perm: int = 1000,
                    seed: int = 0) -> dict:
    """Peak-vs-flank enrichment of an aligned matrix with a circular-shift permutation p-value.

    The statistic is the mean boundary value at offsets ``|k| <= peak`` divided by the mean at
    ``|k| >= flank_from`` (default: half the flank). The null shifts each site's row by an
    independent random circular offset, which keeps every site's own values and their spacing
    but breaks their alignment to the anchor. The test statistic is the difference ``peak_mean -
    flank_mean`` (defined even when the flank is all zero; the reported ``enrichment`` is the ratio,
    ``inf`` then). One-sided: ``p = (1 + #{null >= observed}) / (1 + n_perm)``.

    Returns
    -------
    dict
        ``enrichment, peak_mean, flank_mean, pvalue, n_sites, n_perm, peak, flank_from``.
    """
    n_sites, width = matrix.shape
    half = width // 2
    flank_from = max(peak + 1, half // 2) if flank_from is None else flank_from
    offsets = np.arange(width) - half
    peak_cols = np.flatnonzero(np.abs(offsets) <= peak)
    flank_cols = np.flatnonzero(np.abs(offsets) >= flank_from)
    if len(flank_cols) == 0 or flank_from <= peak:
        raise ValueError(f"flank_from ({flank_from}) must exceed peak ({peak}) and leave offsets within the flank ({half})")
    valid = ~np.isnan(matrix)
    filled = np.where(valid, matrix, 0.0)

    def window_sums(cols):
        # sums over `cols` of each row after a circular shift by r, for every r: (n_sites, width)
        s = np.zeros((n_sites, width))
        c = np.zeros((n_sites, width))
        for col in cols:
            s += np.roll(filled, -col, axis=1)
            c += np.roll(valid, -col, axis=1)
        return s, c

    ps, pc = window_sums(peak_cols)
    fs, fc = window_sums(flank_cols)

    def stat(shift):
        rows = np.arange(n_sites)[None, :] if shift.ndim == 2 else np.arange(n_sites)
        with np.errstate(invalid="ignore", divide="ignore"):
            peak_mean = ps[rows, shift].sum(-1) / pc[rows, shift].sum(-1)
            flank_mean = fs[rows, shift].sum(-1) / fc[rows, shift].sum(-1)
            return peak_mean - flank_mean, peak_mean, flank_mean

    observed, peak_mean, flank_mean = stat(np.zeros(n_sites, dtype=np.int64))
    rng = np.random.default_rng(seed)
    null = np.concatenate([stat(rng.integers(0, width, size=(min(200, n_perm - k), n_sites)))[0]
                           for k in range(0, n_perm, 200)]) if n_perm > 0 else np.zeros(0)
    pvalue = (1 + np.sum(null >= observed - 1e-12)) / (1 + len(null)) if np.isfinite(observed) else float("nan")
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.float64(peak_mean) / np.float64(flank_mean)
    return {"enrichment": float(ratio), "peak_mean": float(peak_mean), "flank_mean": float(flank_mean),
            "pvalue": float(pvalue), "n_sites": int(n_sites), "n_perm": int(n_perm), "peak": int(peak),
            "flank_from": int(flank_from)}


def planted_windows(hits: pd.DataFrame, sequences, *, flank: int = 50, context: int = 256, max_sites: int | None = 2000,
                    seed: int = 0) -> tuple[dict[str, str], pd.DataFrame]:
    """Each hit's motif planted at its own offset in a dinucleotide-shuffled copy of its surroundings.

    The window ``[start - flank - context, end + flank + context)`` of each hit is shuffled with
    tangermeme's ``dinucleotide_shuffle`` (same dinucleotide counts), then the hit's own bases
    ``[start, end)`` are written back at the same place. Hits whose window leaves the record are skipped.

    Returns
    -------
    windows : dict[str, str]
        ``"<row>:planted"`` -> window sequence (feed these to the model / ``boundary_fn``).
    sites : DataFrame
        ``seq_id`` (the window name), ``strand``, ``anchor`` (in window coordinates), ``motif_id``,
        indexed like the hits used.
    """
    import torch
    from tangermeme.ersatz import dinucleotide_shuffle

    lengths, fetch = sequence_source(sequences)
    check_seq_ids(hits["seq_id"].unique(), lengths, "hits")
    pad = flank + context
    lo = hits["start"].to_numpy(np.int64) - pad
    hi = hits["end"].to_numpy(np.int64) + pad
    inside = (lo >= 0) & (hi <= hits["seq_id"].map(lengths).to_numpy())
    use = hits[inside]
    if max_sites is not None and len(use) > max_sites:
        use = use.sample(max_sites, random_state=seed)
    windows, rows = {}, []
    for width, group in use.groupby(use["end"] - use["start"], sort=True):
        texts = [fetch(r.seq_id, r.start - pad, r.end + pad) for r in group.itertuples()]
        x = torch.from_numpy(np.stack([one_hot(t) for t in texts]))
        shuffled = dinucleotide_shuffle(x, n=1, random_state=seed, allow_N=True)[:, 0].numpy()
        for k, (label, r) in enumerate(zip(group.index, group.itertuples())):
            letters = np.array(list("ACGTN"))[np.where(shuffled[k].sum(0) > 0, shuffled[k].argmax(0), 4)]
            text = "".join(letters[:pad]) + texts[k][pad:pad + width] + "".join(letters[pad + width:])
            name = f"{label}:planted"
            windows[name] = text
            rows.append((label, name, r.strand, pad if r.strand == "+" else pad + width, r.motif_id))
    sites = pd.DataFrame(rows, columns=["label", "seq_id", "strand", "anchor", "motif_id"]).set_index("label")
    sites.index.name = None
    return windows, sites


CONTROLS = ("gc_matched", "planted_shuffle", "shuffled_pwm")


def motif_profiles(boundaries: dict[str, np.ndarray], hits: pd.DataFrame, sequences, *, boundary_fn=None,
                   controls=CONTROLS, flank: int = 50, gc_window: int | None = None, gc_bin_width: float = 0.02,
                   planted_context: int = 256, max_planted: int | None = 2000, motifs=None, pvalue: float | None = None,
                   n_boot: int = 1000, n_perm: int = 1000, peak: int = 2, seed: int = 0,
                   model=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Motif-aligned profiles for every motif, next to three controls, with enrichment statistics.

    Parameters
    ----------
    boundaries : dict[str, np.ndarray]
        seq_id -> (L,) boundary probabilities (or mask) over ``sequences``.
    hits : DataFrame
        From :func:`ldarviz.motifs.scan_motifs` over the same sequences.
    sequences : path, pyfaidx.Fasta or dict[str, str]
    boundary_fn : callable, optional
        ``boundary_fn(dict name -> str) -> dict name -> (L,) array``, e.g.
        ``functools.partial(ldarviz.extract_boundaries, model)``; needed for ``planted_shuffle``.
    controls : iterable of str
        Any of ``gc_matched`` (random positions matched on window GC and length, strand copied),
        ``planted_shuffle`` (the motif planted at the same offset in a dinucleotide-shuffled copy of
        its surroundings, boundaries recomputed by ``boundary_fn``), ``shuffled_pwm`` (hits of the
        column-shuffled PWM, scanned at the same p-value).
    motifs, pvalue
        PWMs and threshold for the ``shuffled_pwm`` scan (default: the motifs named in ``hits``
        resolved with :func:`load_motifs` and the hits' recorded threshold, else 1e-4).
    model : ldarviz.Loaded, optional
        The loaded model the boundaries came from; its checkpoint hash goes in the provenance.

    Returns
    -------
    profiles : DataFrame
        ``motif_id, set, offset, mean, lo, hi, n`` with ``set`` in ``true`` and the controls.
    stats : DataFrame
        One row per (motif_id, set): ``enrichment, peak_mean, flank_mean, pvalue, n_sites, ...``.
    """
    unknown = set(controls) - set(CONTROLS)
    if unknown:
        raise ValueError(f"unknown control(s) {sorted(unknown)}; choose from {CONTROLS}")
    if "planted_shuffle" in controls and boundary_fn is None:
        raise ValueError("the planted_shuffle control needs boundary_fn (a function from sequences to boundary arrays)")
    gc_window = gc_window or 2 * flank + 1
    sets: list[tuple[str, str, np.ndarray]] = []
    for motif_id, group in hits.groupby("motif_id", sort=True):
        sets.append((motif_id, "true", site_matrix(boundaries, group, flank=flank)))
        if "gc_matched" in controls:
            matched = gc_matched_positions(group.assign(anchor=motif_anchors(group)), sequences, position="anchor",
                                           window=gc_window, gc_bin_width=gc_bin_width, seed=seed)
            sets.append((motif_id, "gc_matched", site_matrix(boundaries, matched, flank=flank, position="anchor")))
        if "planted_shuffle" in controls:
            windows, sites = planted_windows(group, sequences, flank=flank, context=planted_context,
                                             max_sites=max_planted, seed=seed)
            if windows:
                sets.append((motif_id, "planted_shuffle", site_matrix(boundary_fn(windows), sites, flank=flank)))
    if "shuffled_pwm" in controls:
        threshold = pvalue or hits.attrs.get("provenance", {}).get("parameters", {}).get("pvalue", 1e-4)
        pwms = load_motifs(motifs) if motifs is not None else _pwms_named_in(hits)
        pwms = {k: v for k, v in pwms.items() if k in set(hits["motif_id"])}
        decoys = scan_motifs(sequences, shuffle_columns(pwms, seed=seed), pvalue=threshold)
        for motif_id in sorted(pwms):
            group = decoys[decoys["motif_id"] == f"{motif_id}_colshuf"]
            if len(group):
                sets.append((motif_id, "shuffled_pwm", site_matrix(boundaries, group, flank=flank)))
    profiles, stats = [], []
    for motif_id, name, matrix in sets:
        prof = profile_from_matrix(matrix, n_boot=n_boot, seed=seed)
        profiles.append(prof.assign(motif_id=motif_id, set=name))
        stats.append({"motif_id": motif_id, "set": name,
                      **peak_enrichment(matrix, peak=peak, n_perm=n_perm, seed=seed)})
    profiles = pd.DataFrame(pd.concat(profiles, ignore_index=True)[["motif_id", "set"] + PROFILE_COLUMNS]) if profiles \
        else pd.DataFrame(columns=["motif_id", "set"] + PROFILE_COLUMNS)
    stats = pd.DataFrame(stats)
    record = make_provenance(model=model, seed=seed, flank=flank, controls=list(controls), gc_window=gc_window, gc_bin_width=gc_bin_width,
                             planted_context=planted_context, max_planted=max_planted, n_boot=n_boot, n_perm=n_perm, peak=peak)
    hit_record = hits.attrs.get("provenance", {})
    record["jaspar_release"] = hit_record.get("jaspar_release")
    record["inputs"].update(hit_record.get("inputs", {}))
    return attach(profiles, record), attach(stats, record)


def _pwms_named_in(hits: pd.DataFrame) -> dict[str, np.ndarray]:
    release = hits.attrs.get("provenance", {}).get("jaspar_release") or "JASPAR2024"
    wanted = []
    for motif_id in pd.unique(hits["motif_id"]):
        wanted.append(motif_id.split("_")[0] if motif_id.startswith("MA") else motif_id)
    return load_motifs(wanted, release=release)
