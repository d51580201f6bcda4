"""The boundary inspector as an ipywidget: pick a region or paste a sequence, move the threshold.

The page itself is drawn by :func:`ldarviz.inspector.render_html` (pure); this module only runs
the model, through :func:`ldarviz.extract_boundaries` with ``ldarnet``'s default tiling (the one
extraction path every analysis uses), and wires the controls.
"""

from __future__ import annotations

import html
import os
from types import SimpleNamespace

import numpy as np
import torch
from ldarnet import reverse_complement_text as _revcomp
from ldarnet.genome import open_fasta

from .extract import extract_boundaries
from .inspector import MAX_LENGTH, chunk_intervals, clean_sequence, render_html
from .motifs import DEFAULT_MOTIFS, DEFAULT_RELEASE, load_motifs, scan_motifs


def boundary_probabilities(model: torch.nn.Module, sequence: str) -> np.ndarray:
    """Stage-0 boundary probability at every base of ``sequence``.

    Parameters
    ----------
    model
        An ``LDARNet`` (anything with ``extract_boundaries(input_ids, attention_mask)``).
    sequence : str
        Bases (IUPAC codes read as N).

    Returns
    -------
    np.ndarray
        (L,) float32 (the float16 values of :func:`ldarviz.extract_boundaries`, widened); position i
        is base i of ``sequence``. Long sequences are tiled with ``ldarnet.genome.default_tiling``.
    """
    return extract_boundaries(model, {"sequence": sequence})["sequence"].astype(np.float32)


def boundary_inspector(model: torch.nn.Module, fasta=None, *, record: str | None = None, start: int = 0,
                       length: int = 300, sequence: str = "", threshold: float = 0.5, reverse: bool = False,
                       motifs=DEFAULT_MOTIFS, pvalue: float = 1e-4, release: str = DEFAULT_RELEASE):
    """An ipywidgets inspector of where ``model`` puts boundaries on a region or a pasted sequence.

    Parameters
    ----------
    model
        An ``LDARNet``; boundaries come from :func:`boundary_probabilities`.
    fasta : str, PathLike or pyfaidx.Fasta, optional
        Where regions are read from; without it only pasted sequences work.
    record, start, length
        The initial region ``[start, start + length)`` of ``record`` (0-based, half-open;
        default: the first record). ``length`` is at most :data:`MAX_LENGTH`.
    sequence : str
        Initial pasted sequence; when not blank it is inspected instead of the region.
    threshold : float
        Initial threshold (0.5, the model's own rule).
    reverse : bool
        Start on the reverse complement.
    motifs, pvalue, release
        Motifs to overlay (anything :func:`ldarviz.motifs.load_motifs` accepts; ``None`` for
        none), the FIMO p-value cut-off and the JASPAR release.

    Returns
    -------
    ipywidgets.VBox
        The widget. ``.controls`` holds its controls (``record, start, length, sequence, reverse,
        motifs, threshold, chunk``), the ``explain`` button and the outputs ``view`` (an ``HTML``
        widget) and ``attribution`` (an ``Image``: the attribution logo of the selected chunk's
        start, :func:`ldarviz.attribution_figure`, drawn when ``explain`` is clicked); ``.state`` the
        current sequence, probabilities and hits (and ``attribution``, the explained position, in
        shown coordinates). Setting a control's ``.value`` updates the view.
    """
    import ipywidgets as w

    fa = open_fasta(fasta, quiet=True) if isinstance(fasta, (str, os.PathLike)) else fasta
    records = list(fa.keys()) if fa is not None else []
    if record is not None and record not in records:
        raise ValueError(f"{fasta}: no record {record!r} (have {records[:3]}{'...' if len(records) > 3 else ''})")
    pwms = load_motifs(motifs, release=release) if motifs else {}
    wide = {"description_width": "initial"}
    c = SimpleNamespace(
        record=w.Dropdown(options=records, value=record or (records[0] if records else None), description="record"),
        start=w.BoundedIntText(value=start, min=0, max=10**12, description="start", style=wide),
        length=w.BoundedIntText(value=length, min=1, max=MAX_LENGTH, description="length", style=wide),
        sequence=w.Textarea(value=sequence, placeholder="or paste a sequence here (it replaces the region)",
                            description="sequence", continuous_update=False, layout=w.Layout(width="98%")),
        reverse=w.Checkbox(value=reverse, description="reverse complement", indent=False),
        motifs=w.SelectMultiple(options=list(pwms), value=tuple(pwms), description="motifs", rows=min(6, max(len(pwms), 1))),
        threshold=w.FloatSlider(value=threshold, min=0.0, max=1.0, step=0.01, description="threshold",
                                continuous_update=False, readout_format=".2f"),
        chunk=w.IntSlider(value=0, min=0, max=0, description="chunk", continuous_update=False),
        explain=w.Button(description="why a cut here?",
                         tooltip="in-silico mutagenesis of the router at the selected chunk's start"),
        view=w.HTML(),
        attribution=w.Image(format="png", layout=w.Layout(max_width="98%")),
    )
    state: dict = {}
    hit_cache: dict = {}

    def load(_=None):
        try:
            if c.sequence.value.strip():
                name, offset, seq = "pasted", 0, clean_sequence(c.sequence.value)
            elif fa is None:
                raise ValueError("no FASTA was given: paste a sequence")
            else:
                name, offset = c.record.value, int(c.start.value)
                size = len(fa[name])
                if offset >= size:
                    raise ValueError(f"start {offset} is past the end of {name} ({size} bp)")
                seq = fa[name][offset:min(offset + int(c.length.value), size)].seq
            if not seq or len(seq) > MAX_LENGTH:
                raise ValueError(f"the sequence has {len(seq)} bases; inspect 1 to {MAX_LENGTH}")
            key = (name, offset, seq)
            if key not in hit_cache:
                hits = scan_motifs({name: seq}, pwms, pvalue=pvalue) if pwms else None
                if hits is not None:
                    hits = hits.assign(start=hits["start"] + offset, end=hits["end"] + offset)
                hit_cache.clear()
                hit_cache[key] = hits
            shown = _revcomp(seq) if c.reverse.value else seq
            probs = boundary_probabilities(model, shown)
        except (ValueError, KeyError, OSError) as err:
            state.clear()
            c.view.value = f'<div class="ldar-error" style="color:#b91c1c">{html.escape(str(err), quote=False)}</div>'
            return
        state.update(record=name, offset=offset, sequence=shown, probs=probs, hits=hit_cache[key],
                     reverse=bool(c.reverse.value))
        render()

    def render(_=None):
        if not state or state.get("busy"):
            return
        state["busy"] = True
        try:
            n_chunks = len(chunk_intervals(state["probs"], c.threshold.value))
            c.chunk.max = n_chunks - 1  # ipywidgets clamps .value into the new range
            hits = state["hits"]
            if hits is not None:
                hits = hits[hits["motif_id"].isin(c.motifs.value)]
            c.view.value = render_html(state["sequence"], state["probs"], threshold=c.threshold.value, hits=hits,
                                       selected=c.chunk.value, offset=state["offset"], reverse=state["reverse"],
                                       record=state["record"])
        finally:
            state["busy"] = False

    def explain(_=None):
        # attribution is ~25 model calls for a +-15 bp logo: run on request, never on every slider move
        if not state:
            return
        import io

        import matplotlib.pyplot as plt

        from .attribution import attribution_figure

        starts = chunk_intervals(state["probs"], c.threshold.value)[:, 0]
        position = int(starts[min(c.chunk.value, len(starts) - 1)])
        fig = attribution_figure(model, state["sequence"], position, probs=state["probs"],
                                 offset=0 if state["reverse"] else state["offset"])
        png = io.BytesIO()
        fig.savefig(png, format="png", dpi=100, bbox_inches="tight")
        plt.close(fig)
        state["attribution"] = position
        c.attribution.value = png.getvalue()

    c.explain.on_click(explain)
    for control in (c.record, c.start, c.length, c.sequence, c.reverse):
        control.observe(load, names="value")
    for control in (c.motifs, c.threshold, c.chunk):
        control.observe(render, names="value")
    box = w.VBox([w.HBox([c.record, c.start, c.length]), c.sequence,
                  w.HBox([c.threshold, c.chunk, c.reverse, c.explain]), c.motifs, c.view, c.attribution])
    box.controls, box.state = c, state
    load()
    return box
