"""Boundary attribution: which bases make the router cut here (in-silico saturation mutagenesis).

For target positions t of a sequence, every single-base substitution within ``±flank`` of the
targets is run through the model's embedding, encoder and router (``model.extract_boundaries``;
never the backbone or decoder), and the change in the stage-0 boundary probability p_t is recorded.

The mutagenesis itself is tangermeme's ``saturation_mutagenesis``: it builds the edited copies,
leaves out the no-op edits (substituting a base by itself), batches them into ``batch_size``
sequences per model call and returns the raw outputs. tangermeme calls ``model(X)`` on one-hot
input; :class:`RouterProbe` wraps an LDARNet so that this call returns p at the target positions.
Coordinates are 0-based, half-open, on the given sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ldarnet import N_ID, encode

from .provenance import finish_figure

BASES = "ACGT"


class RouterProbe(torch.nn.Module):
    """``model(X)`` for tangermeme: one-hot (B, 4, L) in, router p at ``targets`` (B, T) out.

    An all-zero column (N, or any non-ACGT letter) becomes ``N``. ``calls`` counts the model calls.
    """

    def __init__(self, model: torch.nn.Module, targets):
        super().__init__()
        self.model = model
        self.register_buffer("targets", torch.as_tensor(np.asarray(targets, dtype=np.int64)), persistent=False)
        self.calls = 0

    def forward(self, X: torch.Tensor) -> torch.Tensor:  # X: (B, 4, L) float one-hot, ACGT order
        ids = X.argmax(1)  # A_ID..T_ID are 0..3 in ldarnet's vocabulary (checked below)
        ids = torch.where(X.sum(1) > 0, ids, torch.full_like(ids, N_ID))
        self.calls += 1
        prob = self.model.extract_boundaries(ids, torch.ones_like(ids, dtype=torch.bool))[0].boundary_prob
        return prob[:, self.targets].float()  # (B, T)


def _check_vocab() -> None:
    if encode("ACGT").tolist() != [0, 1, 2, 3]:  # RouterProbe maps one-hot row k straight to token id k
        raise RuntimeError("ldarnet's vocabulary no longer codes A, C, G, T as 0..3; update RouterProbe")


@dataclass
class BoundaryAttribution:
    """Saturation mutagenesis of the router around target positions.

    Offsets run ``-flank..flank``; ``delta[i, b, j]`` is p at ``targets[i]`` after substituting base
    ``BASES[b]`` at position ``targets[i] - flank + j``, minus p on the unedited sequence (0 for the
    base already there, NaN where the position falls outside the sequence).
    """

    sequence: str  # the full sequence the targets index (upper case)
    targets: np.ndarray  # (T,) int64 positions in ``sequence``
    flank: int
    reference: np.ndarray  # (T,) float32: p at each target on the unedited sequence (in the same input window)
    delta: np.ndarray  # (T, 4, 2 * flank + 1) float32: Δp_t per substitution
    model_calls: int  # model calls used (reference included)
    n_edits: int  # edited sequences run (no-op substitutions excluded)

    @property
    def offsets(self) -> np.ndarray:
        return np.arange(-self.flank, self.flank + 1)

    def importance(self, how: str = "mean") -> np.ndarray:
        """(T, 2 * flank + 1) per-base importance: ``mean`` or ``max`` of |Δp| over the substitutions.

        The reference base's own entry (0 by definition) is left out of the mean; NaN off the sequence.
        """
        import warnings

        if how not in ("mean", "max"):
            raise ValueError(f"how must be 'mean' or 'max', got {how!r}")
        substituted = np.where(self._reference_onehot(), np.nan, np.abs(self.delta))  # the observed base left out
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns off the sequence stay NaN
            return np.nanmean(substituted, axis=1) if how == "mean" else np.nanmax(substituted, axis=1)

    def support(self) -> np.ndarray:
        """(T, 2 * flank + 1) how much each observed base supports the cut: -mean Δp over its substitutions.

        Positive where changing the base lowers p_t (the base helps the router cut), negative where it raises it.
        """
        ref = self._reference_onehot()
        return -np.where(ref, 0.0, self.delta).sum(1) / (~ref).sum(1)

    def table(self) -> pd.DataFrame:
        """Tidy rows ``target, offset, position, ref, alt, delta`` for every real substitution."""
        rows = []
        for i, t in enumerate(self.targets):
            for j, off in enumerate(self.offsets):
                pos = int(t + off)
                if not 0 <= pos < len(self.sequence):
                    continue
                for b, base in enumerate(BASES):
                    if base != self.sequence[pos]:
                        rows.append((int(t), int(off), pos, self.sequence[pos], base, float(self.delta[i, b, j])))
        return pd.DataFrame(rows, columns=["target", "offset", "position", "ref", "alt", "delta"])

    def _reference_onehot(self) -> np.ndarray:
        """(T, 4, 2 * flank + 1) True at the observed base."""
        out = np.zeros(self.delta.shape, dtype=bool)
        for i, t in enumerate(self.targets):
            for j, off in enumerate(self.offsets):
                pos = int(t + off)
                if 0 <= pos < len(self.sequence) and self.sequence[pos] in BASES:
                    out[i, BASES.index(self.sequence[pos]), j] = True
        return out


def _one_hot(sequence: str) -> torch.Tensor:
    """(1, 4, L) int8 one-hot (ACGT; other letters all zero), the input tangermeme expects."""
    codes = np.frombuffer(sequence.encode("latin-1"), dtype=np.uint8)
    out = np.stack([codes == ord(b) for b in BASES]).astype(np.int8)
    return torch.from_numpy(out)[None]


def boundary_attribution(model: torch.nn.Module, sequence: str, targets, *, flank: int = 20, context: int = 256,
                         batch_size: int = 64) -> BoundaryAttribution:
    """Δp at each target for every substitution within ``±flank`` of it.

    Parameters
    ----------
    model
        An ``LDARNet`` (anything with ``extract_boundaries(input_ids, attention_mask)``), in eval mode.
    sequence : str
        The locus; ``targets`` index it (0-based).
    targets : sequence of int
        Positions whose boundary probability is explained (e.g. the strongest chunk starts).
    flank : int
        Substitutions at ``target - flank .. target + flank`` (2 * flank + 1 positions, 3 bases each).
    context : int
        The model reads ``sequence[lo - context : hi + context]`` around the edited span ``[lo, hi)``
        (clipped to the sequence), not the whole locus: the cost is edits x input length. ``reference``
        is p in that same input, so Δp compares like with like; use a context of the model's attention
        reach (1023 for ldarnet-proxy) for p identical to the whole-sequence track.
    batch_size : int
        Edited sequences per model call.

    Returns
    -------
    BoundaryAttribution
        ``delta`` (T, 4, 2 * flank + 1) float32, with the call count. All targets are explained
        from one mutagenesis of the union of their spans, so nearby targets share every model call.
    """
    from tangermeme.saturation_mutagenesis import saturation_mutagenesis

    _check_vocab()
    sequence = sequence.upper()
    targets = np.atleast_1d(np.asarray(targets, dtype=np.int64))
    if targets.size == 0:
        raise ValueError("no target positions given")
    if targets.min() < 0 or targets.max() >= len(sequence):
        raise ValueError(f"target positions must lie in [0, {len(sequence)}); got {targets.min()}..{targets.max()}")
    lo, hi = max(int(targets.min()) - flank, 0), min(int(targets.max()) + flank + 1, len(sequence))
    w0, w1 = max(lo - context, 0), min(hi + context, len(sequence))
    probe = RouterProbe(model, targets - w0)
    device = next(model.parameters()).device
    # fast=False: tangermeme's fastISM recomputes only what a convolution's receptive field sees; the
    # encoder's SSM and attention read the whole window, so there is nothing to save and export would fail.
    y0, y_hat = saturation_mutagenesis(probe, _one_hot(sequence[w0:w1]), start=lo - w0, end=hi - w0,
                                       batch_size=batch_size, raw_outputs=True, device=device, fast=False)
    # y0: (1, T); y_hat: (1, 4, hi - lo, T), identity edits filled with y0 by tangermeme
    span = (y_hat[0] - y0[0][None, None, :]).numpy().astype(np.float32)  # (4, hi - lo, T)
    width = 2 * flank + 1
    delta = np.full((len(targets), 4, width), np.nan, dtype=np.float32)
    for i, t in enumerate(targets):
        a, b = max(t - flank, lo), min(t + flank + 1, hi)
        delta[i, :, a - (t - flank): b - (t - flank)] = span[:, a - lo: b - lo, i]
    n_edits = int(sum(3 if c in BASES else 4 for c in sequence[lo:hi]))
    return BoundaryAttribution(sequence, targets, flank, y0[0].numpy().astype(np.float32), delta, probe.calls, n_edits)


def plot_attribution(attribution: BoundaryAttribution, index: int = 0, *, probs=None, offset: int = 0,
                     threshold: float = 0.5, ax=None, save_path=None, title: str | None = None, provenance: dict | None = None):
    """An attribution logo (logomaker) under the boundary track, for one target.

    Parameters
    ----------
    attribution : BoundaryAttribution
    index : int
        Which target (row of ``attribution.targets``).
    probs : array-like, shape (len(sequence),), optional
        The boundary track of the locus, drawn above the logo over the same positions.
    offset : int
        Record coordinate of ``sequence[0]`` (the x axis shows record positions).
    ax : sequence of two Axes, optional
        (track axes, logo axes); created (sharing x) when None. Without ``probs``, only the logo axes is used.

    Returns
    -------
    matplotlib.figure.Figure
        The logo's letters are the observed bases, scaled by :meth:`BoundaryAttribution.support`:
        above the axis where the base helps the router cut at the target, below where it hinders it.
    """
    import logomaker
    import matplotlib.pyplot as plt

    t = int(attribution.targets[index])
    pos = t + attribution.offsets
    inside = (pos >= 0) & (pos < len(attribution.sequence))
    support = attribution.support()[index]
    frame = pd.DataFrame(0.0, index=offset + pos[inside], columns=list(BASES))
    for x, p, s in zip(frame.index, pos[inside], support[inside]):
        base = attribution.sequence[p]
        if base in BASES:
            frame.loc[x, base] = s
    if ax is None:
        if probs is not None:
            fig, (ax_track, ax_logo) = plt.subplots(2, 1, figsize=(10, 4), sharex=True, height_ratios=[1, 1.4])
        else:
            fig, ax_logo = plt.subplots(figsize=(10, 2.4))
            ax_track = None
    else:
        ax_track, ax_logo = ax if probs is not None else (None, ax[-1] if isinstance(ax, (list, tuple, np.ndarray)) else ax)
        fig = ax_logo.figure
    if ax_track is not None:
        track = np.asarray(probs, dtype=np.float64)[pos[inside]]
        ax_track.bar(offset + pos[inside], track, width=1.0, color="#93c5fd")
        ax_track.axhline(threshold, color="black", ls="--", lw=0.8)
        ax_track.axvline(offset + t, color="#dc2626", lw=1)
        ax_track.set_ylim(0, 1.05)
        ax_track.set_ylabel("p(boundary)")
        if title:
            ax_track.set_title(title, fontsize=10)
    logomaker.Logo(frame, ax=ax_logo, color_scheme="classic", flip_below=False)
    ax_logo.axhline(0, color="#555", lw=0.5)
    ax_logo.axvline(offset + t - 0.5, color="#dc2626", lw=1, ls=":")
    ax_logo.set_xlim(offset + pos[inside][0] - 0.5, offset + pos[inside][-1] + 0.5)
    ax_logo.set_ylabel("support for\nthe cut (−mean Δp)")
    ax_logo.set_xlabel(f"position (target {offset + t}, p = {attribution.reference[index]:.3f})")
    if ax_track is None and title:
        ax_logo.set_title(title, fontsize=10)
    return finish_figure(fig, save_path=save_path, provenance=provenance)


def attribution_figure(model: torch.nn.Module, sequence: str, position: int, *, flank: int = 15, context: int = 256,
                       offset: int = 0, probs=None):
    """One call for a viewer (e.g. the inspector on a clicked base): attribution of the cut at ``position``.

    Returns the Figure of :func:`plot_attribution` (the logo under the track when ``probs`` is given).
    """
    attribution = boundary_attribution(model, sequence, [position], flank=flank, context=context)
    return plot_attribution(attribution, 0, probs=probs, offset=offset)
