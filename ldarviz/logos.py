"""Sequence logos (logomaker): bases around boundaries vs the background, and the motifs used.

Offsets around a boundary at ``p`` (a chunk starting at base ``p``) run ``-flank..flank-1``:
offset ``-1`` is the last base before the cut and offset ``0`` the first base after it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .provenance import finish_figure
from .sequences import base_codes, check_seq_ids, sequence_source


def pwm_frame(pwm: np.ndarray) -> pd.DataFrame:
    """(4, w) ACGT matrix -> the (w, 4) DataFrame logomaker expects (columns A, C, G, T; index 0..w-1)."""
    pwm = np.asarray(pwm, dtype=np.float64)
    if pwm.ndim != 2 or pwm.shape[0] != 4:
        raise ValueError(f"PWM must have shape (4, w), got {pwm.shape}")
    return pd.DataFrame(pwm.T, columns=list("ACGT"))


def boundary_site_counts(masks: dict[str, np.ndarray], sequences, *, regions: pd.DataFrame | None = None, flank: int = 6,
                         threshold: float = 0.5, max_sites: int | None = 200_000, seed: int = 0) -> pd.DataFrame:
    """Base counts at each offset around boundaries.

    Parameters
    ----------
    masks : dict[str, np.ndarray]
        seq_id -> (L,) bool mask or probabilities (cut at ``threshold``).
    regions : DataFrame, optional
        ``seq_id, start, end`` (e.g. one context of ``context_regions``); only boundaries inside count.
    max_sites : int, optional
        Random subset of boundaries used (seeded) to bound the work.

    Returns
    -------
    DataFrame
        (2 * flank, 4) counts, index = offsets ``-flank..flank-1``, columns ``A C G T``;
        ``attrs["n_sites"]`` is the number of boundaries used.
    """
    lengths, fetch = sequence_source(sequences)
    check_seq_ids(masks, lengths, "masks")
    rng = np.random.default_rng(seed)
    picked = []
    for name, mask in masks.items():
        cut = mask if mask.dtype == bool else np.asarray(mask, dtype=np.float32) >= threshold
        pos = np.flatnonzero(cut)
        pos = pos[(pos >= flank) & (pos <= len(cut) - flank)]
        if regions is not None:
            sub = regions[regions["seq_id"] == name]
            starts, ends = sub["start"].to_numpy(), sub["end"].to_numpy()
            order = np.argsort(starts)
            k = np.searchsorted(starts[order], pos, side="right") - 1
            pos = pos[(k >= 0) & (pos < ends[order][np.clip(k, 0, None)])]
        picked += [(name, p) for p in pos]
    if max_sites is not None and len(picked) > max_sites:
        picked = [picked[i] for i in np.sort(rng.choice(len(picked), max_sites, replace=False))]
    counts = np.zeros((2 * flank, 4), dtype=np.int64)
    offsets = np.arange(-flank, flank)
    for name in {n for n, _ in picked}:
        codes = base_codes(fetch(name, 0, lengths[name]))
        pos = np.array([p for n, p in picked if n == name], dtype=np.int64)
        window = codes[pos[:, None] + offsets[None, :]]
        for base in range(4):
            counts[:, base] += (window == base).sum(axis=0)
    out = pd.DataFrame(counts, index=offsets, columns=list("ACGT"))
    out.index.name = "offset"
    out.attrs["n_sites"] = len(picked)
    return out


def background_frequencies(sequences, *, regions: pd.DataFrame | None = None) -> pd.Series:
    """A/C/G/T frequencies of the sequences (or of ``regions`` in them); N is left out."""
    lengths, fetch = sequence_source(sequences)
    counts = np.zeros(4, dtype=np.int64)
    spans = regions[["seq_id", "start", "end"]].itertuples(index=False) if regions is not None else \
        ((n, 0, length) for n, length in lengths.items())
    for name, start, end in spans:
        codes = base_codes(fetch(name, start, end))
        counts += np.bincount(codes[codes >= 0], minlength=4)
    return pd.Series(counts / max(counts.sum(), 1), index=list("ACGT"))


def _logo(matrix: pd.DataFrame, ax, ylabel: str):
    import logomaker

    logo = logomaker.Logo(matrix, ax=ax, color_scheme="classic")
    logo.style_spines(visible=False)
    logo.style_spines(spines=["left", "bottom"], visible=True)
    ax.set_ylabel(ylabel)
    return logo


def plot_boundary_logo(counts: pd.DataFrame, *, background: pd.Series | None = None, ax=None, save_path=None,
                       title: str | None = None, provenance: dict | None = None):
    """Information logo (bits relative to ``background``) of the bases around boundaries."""
    import logomaker
    import matplotlib.pyplot as plt

    bg = None if background is None else background[list("ACGT")].to_numpy(dtype=float)
    info = logomaker.transform_matrix(counts.astype(float), from_type="counts", to_type="information",
                                      background=bg, pseudocount=1.0)
    fig, ax = plt.subplots(figsize=(0.45 * len(info) + 1, 2.5)) if ax is None else (ax.figure, ax)
    _logo(info, ax, "bits vs background")
    ax.axvline(info.index[0] + len(info) / 2 - 0.5, color="black", linewidth=0.8, linestyle=":")
    ax.set_xlabel("offset from boundary (0 = first base of a chunk)")
    ax.set_title(title or f"{counts.attrs.get('n_sites', '?')} boundaries")
    return finish_figure(fig, save_path=save_path, provenance=provenance)


def plot_motif_logo(pwm: np.ndarray, *, ax=None, save_path=None, title: str | None = None, provenance: dict | None = None):
    """Information logo of a (4, w) probability PWM (uniform background)."""
    import logomaker
    import matplotlib.pyplot as plt

    info = logomaker.transform_matrix(pwm_frame(pwm), from_type="probability", to_type="information")
    fig, ax = plt.subplots(figsize=(0.45 * len(info) + 1, 2.5)) if ax is None else (ax.figure, ax)
    _logo(info, ax, "bits")
    ax.set_xlabel("motif position")
    if title:
        ax.set_title(title)
    return finish_figure(fig, save_path=save_path, provenance=provenance)
