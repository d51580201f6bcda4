"""The boundary inspector's pure half: chunk maths, the HTML page, the static track, cut counts.

Everything here is a function of a sequence, its per-base boundary probabilities, a threshold and
motif hits; no model runs here. :func:`render_html` draws the page that the ipywidget of
:mod:`ldarviz.inspector_widget` shows; :func:`plot_boundary_track` draws the same track as a
static figure; :func:`motif_cuts` counts chunk starts that fall inside motif hits.

Conventions
-----------
- Coordinates are 0-based, half-open, and always on the **forward strand** of the record.
- A chunk starts at position 0 and at every position whose probability is ``> threshold``
  (at 0.5 this is the model's own rule).
- With ``reverse=True`` the text, the track and the chunks are those the model saw reading the
  reverse complement (left to right is 5'->3' on the minus strand); displayed position ``i`` is
  forward base ``offset + L - 1 - i`` and a displayed chunk ``[a, b)`` covers forward
  ``[offset + L - b, offset + L - a)``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .provenance import finish_figure

CHUNK_COLOURS = ("#dbeafe", "#fde2b3")  # alternate so neighbouring chunks stay apart
SELECTED_COLOUR = "#86efac"
MOTIF_COLOURS = ("#7c3aed", "#db2777", "#0891b2", "#65a30d", "#ea580c", "#4b5563")
MAX_LENGTH = 20_000  # the HTML gets slow to draw beyond this


def chunk_intervals(probs, threshold: float = 0.5) -> np.ndarray:
    """Chunks implied by boundary probabilities.

    Parameters
    ----------
    probs : array-like, shape (L,), float
        Boundary probability of each position (position i: a chunk starts at i).
    threshold : float
        A chunk starts where ``probs > threshold``; position 0 always starts one.

    Returns
    -------
    np.ndarray
        (n_chunks, 2) int64 rows ``[start, end)`` in the input's positions, tiling ``[0, L)``.
        Empty (0, 2) when L is 0.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 1:
        raise ValueError(f"probs must be 1-D, got shape {probs.shape}")
    if len(probs) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    starts = np.flatnonzero(probs > threshold)
    starts = np.union1d([0], starts).astype(np.int64)
    return np.stack([starts, np.append(starts[1:], len(probs))], axis=1)


def forward_interval(start: int, end: int, *, length: int, offset: int = 0, reverse: bool = False) -> tuple[int, int]:
    """Forward-strand record coordinates of displayed positions ``[start, end)`` (see module doc)."""
    if reverse:
        return offset + length - end, offset + length - start
    return offset + start, offset + end


def _displayed_hits(hits, length: int, offset: int, reverse: bool) -> list[tuple[int, int, str, str, float]]:
    """(start, end, motif_id, strand, pvalue) in displayed positions, clipped to the sequence."""
    if hits is None or len(hits) == 0:
        return []
    out = []
    for row in hits.itertuples(index=False):
        s, e = int(row.start) - offset, int(row.end) - offset
        if reverse:
            s, e = length - e, length - s
        s, e = max(s, 0), min(e, length)
        if s < e:
            out.append((s, e, str(row.motif_id), str(row.strand), float(row.pvalue)))
    return out


def _motif_colours(hits: list) -> dict[str, str]:
    names = sorted({h[2] for h in hits})
    return {name: MOTIF_COLOURS[k % len(MOTIF_COLOURS)] for k, name in enumerate(names)}


def _track_svg(probs: np.ndarray, threshold: float, chunks: np.ndarray, hits: list, colours: dict, selected) -> str:
    """Inline SVG of the probability track; the x axis is displayed position, 1 unit per base."""
    n, height, band = len(probs), 60.0, 8.0
    parts = [f'<svg class="ldar-track" width="100%" height="{height + band + 4:.0f}" '
             f'viewBox="0 0 {n} {height + band + 4:.0f}" preserveAspectRatio="none" '
             'style="display:block;background:#fafafa;border:1px solid #ddd">']
    if selected is not None:
        a, b = chunks[selected]
        parts.append(f'<rect x="{a}" y="0" width="{b - a}" height="{height}" fill="{SELECTED_COLOUR}" opacity="0.5"/>')
    xs = np.repeat(np.arange(n + 1), 2)[1:-1]
    ys = height - np.repeat(probs, 2) * height
    path = "M0," + f"{height:g} L" + " L".join(f"{x:g},{y:.2f}" for x, y in zip(xs, ys)) + f" L{n},{height:g} Z"
    parts.append(f'<path class="ldar-prob" d="{path}" fill="#93c5fd" stroke="none"/>')
    for a in chunks[:, 0]:
        parts.append(f'<rect class="ldar-boundary" x="{a}" y="{height - probs[a] * height:.2f}" width="1" '
                     f'height="{probs[a] * height:.2f}" fill="#dc2626"/>')
    y = height - threshold * height
    parts.append(f'<line class="ldar-threshold" x1="0" x2="{n}" y1="{y:.2f}" y2="{y:.2f}" stroke="#111" '
                 'stroke-dasharray="4 3" vector-effect="non-scaling-stroke"/>')
    for s, e, name, strand, pvalue in hits:
        parts.append(f'<rect class="ldar-motif-band" x="{s}" y="{height + 2}" width="{e - s}" height="{band}" '
                     f'fill="{colours[name]}"><title>{html.escape(name)} ({strand}) p={pvalue:.1e}</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


def _chunk_text(sequence: str, a: int, b: int, hits: list, colours: dict) -> str:
    """Bases of one chunk, motif-covered runs underlined in their motif's colour."""
    cover = [None] * (b - a)
    for s, e, name, _, _ in hits:  # later hits win where motifs overlap; the track shows them all
        for i in range(max(s, a), min(e, b)):
            cover[i - a] = name
    out, i = [], a
    while i < b:
        j = i
        while j < b and cover[j - a] == cover[i - a]:
            j += 1
        text = html.escape(sequence[i:j])
        name = cover[i - a]
        out.append(text if name is None else
                   f'<u class="ldar-motif" data-motif="{html.escape(name)}" style="text-decoration-color:'
                   f'{colours[name]};text-decoration-thickness:3px;font-weight:bold">{text}</u>')
        i = j
    return "".join(out)


def render_html(sequence: str, probs, *, threshold: float = 0.5, hits: pd.DataFrame | None = None,
                selected: int | None = None, offset: int = 0, reverse: bool = False, record: str | None = None) -> str:
    """The inspector page for one sequence, as an HTML string.

    Parameters
    ----------
    sequence : str
        The bases as displayed (the reverse complement when ``reverse``), length L.
    probs : array-like, shape (L,), float
        Boundary probability of each displayed position, from the model run on ``sequence``.
    threshold : float
        In [0, 1]; a chunk starts where ``probs > threshold`` and at position 0.
    hits : pandas.DataFrame, optional
        Motif hits with ``start, end, strand, motif_id, pvalue`` in forward-strand record
        coordinates (0-based, half-open), as from :func:`ldarviz.motifs.scan_motifs` plus ``offset``.
    selected : int, optional
        Index of the chunk to highlight and describe (0-based, in display order).
    offset : int
        Forward-strand record coordinate of the region's first base.
    reverse : bool
        Whether ``sequence`` is the reverse complement of the forward region.
    record : str, optional
        Record name used in coordinate labels.

    Returns
    -------
    str
        A ``<div class="ldar-inspector">`` whose ``data-boundaries`` is the number of chunk
        starts; each chunk is one ``<span class="ldar-chunk" data-chunk=k data-start data-end>``
        (forward-strand coordinates).
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape != (len(sequence),):
        raise ValueError(f"probs has shape {probs.shape} but the sequence has {len(sequence)} bases")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    chunks = chunk_intervals(probs, threshold)
    if selected is not None and not 0 <= selected < len(chunks):
        raise ValueError(f"selected chunk {selected} is out of range: there are {len(chunks)} chunks")
    n = len(sequence)
    shown = _displayed_hits(hits, n, offset, reverse)
    colours = _motif_colours(shown)
    strand = "-" if reverse else "+"
    name = html.escape(record or "sequence")
    mean = n / len(chunks) if len(chunks) else 0.0
    head = (f'<div class="ldar-head"><b>{name}:{offset}-{offset + n}</b> ({strand} strand{", reverse complement shown" if reverse else ""}), '
            f'{n} bp &middot; <span class="ldar-count">{len(chunks)}</span> chunks, mean {mean:.2f} bp '
            f'&middot; boundary where p &gt; {threshold:.2f}</div>')
    left, right = (offset + n, offset) if reverse else (offset, offset + n)
    ruler = (f'<div style="display:flex;justify-content:space-between;font-size:11px;color:#555">'
             f'<span>{left:,}</span><span>forward-strand coordinate</span><span>{right:,}</span></div>')
    spans = []
    for k, (a, b) in enumerate(chunks):
        fs, fe = forward_interval(int(a), int(b), length=n, offset=offset, reverse=reverse)
        colour = SELECTED_COLOUR if k == selected else CHUNK_COLOURS[k % 2]
        edge = "border-left:2px solid #dc2626;" if k else ""
        spans.append(f'<span class="ldar-chunk{" ldar-selected" if k == selected else ""}" data-chunk="{k}" '
                     f'data-start="{fs}" data-end="{fe}" title="chunk {k}: [{fs}, {fe}) {strand}, {b - a} bp" '
                     f'style="background:{colour};{edge}">{_chunk_text(sequence, int(a), int(b), shown, colours)}</span>')
    text = ('<div class="ldar-seq" style="font-family:monospace;font-size:13px;line-height:1.7;'
            f'word-break:break-all;margin-top:4px">{"".join(spans)}</div>')
    legend = ""
    if colours:
        legend = '<div class="ldar-legend" style="font-size:11px">' + " ".join(
            f'<span style="color:{c};font-weight:bold">&#9644; {html.escape(m)}</span>' for m, c in colours.items()) + "</div>"
    detail = ""
    if selected is not None:
        a, b = (int(v) for v in chunks[selected])
        fs, fe = forward_interval(a, b, length=n, offset=offset, reverse=reverse)
        inside = [h for h in shown if h[0] < b and h[1] > a]
        motif_note = ("; overlaps " + ", ".join(sorted({h[2] for h in inside}))) if inside else ""
        detail = (f'<div class="ldar-detail" style="margin-top:4px">chunk {selected} of {len(chunks)}: '
                  f'<b>{name}:[{fs}, {fe})</b> ({strand}), {b - a} bp{motif_note}<br>'
                  f'<code>{html.escape(sequence[a:b])}</code></div>')
    return (f'<div class="ldar-inspector" data-boundaries="{len(chunks)}" data-threshold="{threshold:.4f}" '
            f'data-strand="{strand}">{head}{_track_svg(probs, threshold, chunks, shown, colours, selected)}'
            f'{ruler}{text}{legend}{detail}</div>')


def plot_boundary_track(probs, *, threshold: float = 0.5, hits: pd.DataFrame | None = None, offset: int = 0,
                        marks: dict | None = None, ax=None, save_path=None, title: str | None = None,
                        provenance: dict | None = None):
    """Boundary probability along a forward-strand region, with chunk starts and motif hits.

    Parameters
    ----------
    probs : array-like, shape (L,)
        Probability of a chunk starting at each base of ``[offset, offset + L)``.
    threshold : float
        Drawn as a dashed line; bases with ``p > threshold`` (and the first base) get a red tick.
    hits : pandas.DataFrame, optional
        ``start, end, motif_id`` in record coordinates; drawn as coloured bars under the track.
    marks : dict, optional
        Label -> record coordinate of vertical reference lines (e.g. ``{"TSS": 1250}``).
    ax, save_path, title, provenance
        As in every ldarviz plot; returns the Figure.
    """
    import matplotlib.pyplot as plt

    probs = np.asarray(probs, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(10, 2.8)) if ax is None else (ax.figure, ax)
    x = offset + np.arange(len(probs))
    ax.fill_between(x, probs, step="post", color="#93c5fd", label="boundary probability")
    starts = chunk_intervals(probs, threshold)[:, 0]
    ax.vlines(offset + starts, 0, probs[starts], color="#dc2626", lw=0.8, label=f"chunk start (p > {threshold:g})")
    ax.axhline(threshold, color="black", ls="--", lw=0.8)
    shown = _displayed_hits(hits, len(probs), offset, False)
    colours = _motif_colours(shown)
    for s, e, name, _, _ in shown:
        ax.broken_barh([(offset + s, e - s)], (-0.12, 0.08), color=colours[name])
    for name, colour in colours.items():
        ax.plot([], [], color=colour, lw=6, label=name)
    for label, pos in (marks or {}).items():
        ax.axvline(pos, color="#111", lw=1)
        ax.text(pos, 1.02, label, ha="center", va="bottom", fontsize=8)
    ax.set_xlim(offset, offset + len(probs))
    ax.set_ylim(-0.15, 1.1)
    ax.set_xlabel("forward-strand position (0-based)")
    ax.set_ylabel("p(boundary)")
    if title:
        ax.set_title(title, fontsize=10, pad=14)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    return finish_figure(fig, save_path=save_path, provenance=provenance)


def clean_sequence(text: str) -> str:
    """Bases from pasted text: FASTA header lines, whitespace and digits dropped.

    Raises ValueError naming the first character that is not an IUPAC nucleotide letter.
    """
    body = "".join(line for line in text.splitlines() if not line.lstrip().startswith(">"))
    seq = "".join(ch for ch in body if not ch.isspace() and not ch.isdigit())
    allowed = set("ACGTUNRYSWKMBDHV")
    for k, ch in enumerate(seq):
        if ch.upper() not in allowed:
            raise ValueError(f"pasted sequence: {ch!r} at base {k} is not a nucleotide (IUPAC) letter")
    return seq


@dataclass(frozen=True)
class MotifCuts:
    """How a region's chunks sit against motif hits (see :func:`motif_cuts`)."""

    length: int  # bases in the region
    n_chunks: int
    mean_chunk_length: float  # length / n_chunks
    mean_boundary_prob: float
    n_motif_hits: int
    starts_inside_motifs: int  # chunk starts strictly inside a hit: a cut through a motif
    expected_inside_motifs: float  # the same count if the starts after the first fell uniformly at random
    nearest_start_to_tss: int | None  # signed distance (bp) from the TSS to the closest chunk start

    def rounded(self, digits: int = 4) -> dict:
        """The fields as a dict, floats rounded to ``digits`` decimals (for a summary.json)."""
        return {k: round(v, digits) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def motif_cuts(probs, hits: pd.DataFrame | None, *, offset: int = 0, threshold: float = 0.5,
               tss: int | None = None) -> MotifCuts:
    """Count chunk starts that cut through motif hits, against what uniform starts would give.

    Parameters
    ----------
    probs : array-like, shape (L,), float
        Boundary probability of each base of the forward-strand region ``[offset, offset + L)``.
    hits : pandas.DataFrame or None
        Motif hits with ``start, end`` in record coordinates (0-based, half-open); parts outside
        the region are ignored.
    offset : int
        Record coordinate of the region's first base.
    threshold : float
        Chunk rule of :func:`chunk_intervals`.
    tss : int, optional
        Record coordinate of a transcription start site; its nearest chunk start is reported.

    Returns
    -------
    MotifCuts
        A start at a hit's first base cuts *before* the motif, not through it, so "inside" means
        positions ``start + 1 .. end - 1``. The expectation spreads the ``n_chunks - 1`` free starts
        (position 0 always starts a chunk) uniformly over positions ``1 .. L - 1``.
    """
    probs = np.asarray(probs, dtype=np.float64)
    length = len(probs)
    if length == 0:
        raise ValueError("motif_cuts needs at least one base")
    chunks = chunk_intervals(probs, threshold)
    inside = np.zeros(length, dtype=bool)
    for s, e in zip(hits["start"], hits["end"]) if hits is not None and len(hits) else ():
        inside[max(int(s) - offset + 1, 0):max(int(e) - offset, 0)] = True
    starts = chunks[:, 0]
    nearest = None
    if tss is not None:
        nearest = int(starts[np.argmin(np.abs(starts + offset - tss))] + offset - tss)
    return MotifCuts(
        length=length, n_chunks=len(chunks), mean_chunk_length=length / len(chunks),
        mean_boundary_prob=float(probs.mean()), n_motif_hits=0 if hits is None else len(hits),
        starts_inside_motifs=int(inside[starts].sum()),
        expected_inside_motifs=float(inside[1:].mean() * (len(chunks) - 1)) if length > 1 else 0.0,
        nearest_start_to_tss=nearest)
