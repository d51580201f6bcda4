"""Per-base boundary probabilities over sequences of any length: tiling, stitching, streaming.

Boundaries depend only on the embedding, the outer encoder and the router, so extraction calls
``model.extract_boundaries`` (stage 0) and never the backbone or the decoder.

A sequence longer than ``window`` is cut into windows that overlap by at least ``overlap`` bases.
Each base takes its probability from exactly one window: consecutive windows split their overlap
at its midpoint, so every base is at least ``overlap // 2`` bases from the edge of the window it
is read from, except within ``overlap // 2`` of a real sequence end. The router forces a boundary
(p = 1) at the first base of every window; because ``overlap >= 2``, that forced value reaches the
output only at a real sequence start.

By default (:func:`default_tiling`) the overlap is twice the reach of the outer encoder's local
attention, so no base is read within that reach of a window edge.

Windows are read lazily and run ``batch_size`` at a time, so memory stays bounded whatever the
genome size. Inputs (FASTA, dict, BED regions) are in :mod:`ldarnet.genome.regions`, the
bedGraph/BED writers in :mod:`ldarnet.genome.tracks`, the command in
:mod:`ldarnet.commands.boundaries`. A window made only of N is computed once per length and
reused: the model's output on it depends on nothing else.

All coordinates are 0-based, half-open.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ..modes import eval_mode
from ..vocab import N_ID, PAD_ID, encode
from .regions import Segment

__all__ = ["Piece", "check_tiling", "default_tiling", "iter_boundaries", "plan_windows"]

DEFAULT_WINDOW = 4096  # the smallest default window
# Default window = this many overlaps: the overlap's share of the work is 1/16 (1/4 at four overlaps).
# Longer windows cost about as much per computed base (BiMamba2 takes long rows in blocks of time:
# CPU_MIXER_BLOCK), so the smaller overlap share wins. The shipped proxy, alternating in one process
# (bench/bench_windows.py), kept 1.39x as many bases per second at 49,152-base windows as the old default
# (12,288, whole-row mixer) in one run, 1.14x in another, the host running at about half the speed.
WINDOW_OVERLAPS = 16
TOKENS_PER_CALL = 8192  # bases per model call for short windows; past ~8k the CPU working set leaves L3 (notes/cpu-calibration.md)
FALLBACK_OVERLAP = 2048  # when the outer encoder's receptive field is not known


@dataclass(frozen=True)
class Piece:
    """Stitched output for ``segment`` over ``[start, start + len(prob))`` on ``segment.chrom``.

    ``prob`` is (n,) float16 boundary probability; ``mask`` is (n,) bool, the model's own boundary
    decision. The pieces of a segment arrive in order and tile it exactly.
    """

    segment: Segment
    start: int
    prob: np.ndarray
    mask: np.ndarray


def track_values(prob: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(n,) float16 boundary probabilities that keep the model's decisions: where ``mask`` is set because
    p > 0.5 (LDARNet's rule), the value stays > 0.5 even when float16 would round p (0.5 < p < 0.50024)
    to 0.5, so anyone reading the track at the model's own rule gets the model's cuts. Only those
    rounded values move: a model whose decision is not p > 0.5 (MergeDNA's token starts, whose score
    may lie below 0.5) keeps its scores as they are."""
    values = prob.astype(np.float16)
    values[mask & (prob > 0.5) & (values <= 0.5)] = np.nextafter(np.float16(0.5), np.float16(1))
    return values


def default_tiling(model: torch.nn.Module) -> dict[str, int]:
    """``window``, ``overlap`` and ``batch_size`` that keep every base outside its window's edge effects.

    A base's boundary probability depends on the outer encoder's local attention, which reaches
    ``window_size[0]`` bases either side; beyond that the windowed and whole-sequence values agree
    (measured on a trained ldarnet-proxy: max |dp| 2e-5 past 1,024 bp from an edge, against 0.02-0.08
    and ~1% flipped boundaries within it). So the overlap is twice that reach, the window
    ``WINDOW_OVERLAPS`` times the overlap (at least ``DEFAULT_WINDOW``), and the batch about
    ``TOKENS_PER_CALL`` bases (one window, for windows that long). A router
    centred over a moving span (``router_centering_span``) adds the span to the reach. Models without
    such a config (with global attention, or centred over whole sequences) get ``FALLBACK_OVERLAP``.
    """
    own = getattr(model, "default_tiling", None)
    if callable(own):  # a model that knows its own reach (MergeDNA: its merge blocks, see tile_alignment)
        return own()
    config = getattr(model, "config", None)
    reach = None
    if config is not None and hasattr(config, "levels") and config.n_stages:
        if any(kind in "tT" for kind in config.levels[0]["encoder"]) and config.window_size[0] > 0:
            reach = config.window_size[0]
        if reach and getattr(config, "router_centering", False):
            # the router's moving mean reads encoder outputs up to the span further; a whole-sequence
            # mean (span 0) reaches everything, and no overlap makes tiles agree with whole sequences
            span = getattr(config, "router_centering_span", 0)
            reach = reach + span if span > 0 else None
    overlap = 2 * (reach + 1) if reach else FALLBACK_OVERLAP
    window = max(DEFAULT_WINDOW, WINDOW_OVERLAPS * overlap)
    return {"window": window, "overlap": overlap, "batch_size": max(1, TOKENS_PER_CALL // window)}


def check_tiling(window: int, overlap: int, batch_size: int) -> None:
    """Raise ValueError unless ``2 <= overlap < window`` and ``batch_size >= 1``."""
    for name, value in (("window", window), ("overlap", overlap), ("batch_size", batch_size)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be at least 1")
    if overlap < 2:
        raise ValueError(f"overlap={overlap} must be at least 2, or each window's forced boundary at its first base leaks into the output")
    if window <= overlap:
        raise ValueError(f"window={window} must be larger than overlap={overlap}")


def plan_windows(length: int, window: int, overlap: int, align: int = 1) -> np.ndarray:
    """Where the windows over a sequence of ``length`` bases go, and which bases each one supplies.

    Returns
    -------
    np.ndarray
        (n_windows, 4) int64, one row ``[window_start, window_end, core_start, core_end]`` per
        window, relative to the sequence start. Windows are ``window`` long (one shorter window if
        ``length <= window``), spread evenly from 0 to ``length`` with overlaps of at least
        ``overlap``; the cores tile ``[0, length)`` exactly. With ``align > 1`` every window starts
        at a multiple of ``align`` (for models whose output depends on the grid of fixed blocks,
        such as MergeDNA's merge blocks): starts move left by less than ``align``, so overlaps may
        shrink by up to ``align - 1`` and the last window may be up to ``align - 1`` longer.
    """
    check_tiling(window, overlap, 1)
    if length <= window:
        return np.array([[0, length, 0, length]], dtype=np.int64)
    n = -(-(length - window) // (window - overlap)) + 1
    starts = (np.arange(n, dtype=np.int64) * (length - window)) // (n - 1)
    starts = starts // align * align
    ends = starts + window
    ends[-1] = length
    cuts = (starts[1:] + ends[:-1]) // 2
    core_start = np.concatenate([[0], cuts])
    core_end = np.concatenate([cuts, [length]])
    return np.stack([starts, ends, core_start, core_end], axis=1)


def iter_boundaries(
    model: torch.nn.Module,
    segments: Iterable[Segment],
    fetch: Callable[[str, int, int], str],
    *,
    window: int | None = None,
    overlap: int | None = None,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> Iterator[Piece]:
    """Stream stitched stage-0 boundaries over ``segments``, a batch of windows at a time.

    Parameters
    ----------
    model
        An ``LDARNet`` (or anything with its ``extract_boundaries(input_ids, attention_mask)``).
    segments
        The stretches to extract, each covered exactly once by the pieces yielded for it.
    fetch
        ``fetch(chrom, start, end)`` returns the bases ``[start, end)`` of record ``chrom`` as text.
    window, overlap, batch_size
        Window length, minimum overlap between neighbouring windows, windows per model call;
        each one left as None comes from :func:`default_tiling`.
    device
        Where the model runs; the model is moved there (default: where its parameters are).
        The model runs in eval mode and gets its previous train/eval mode back afterwards.

    Yields
    ------
    Piece
        In segment order and, within a segment, in coordinate order.
    """
    auto = default_tiling(model)
    window = auto["window"] if window is None else window
    overlap = auto["overlap"] if overlap is None else overlap
    batch_size = auto["batch_size"] if batch_size is None else batch_size
    check_tiling(window, overlap, batch_size)
    segments = list(segments)
    if device is None:
        device = next(iter(model.parameters()), torch.empty(0)).device
    model.to(device)
    all_n: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # window length -> model output on an all-N window
    buffer: list[list] = []  # [segment, plan row, ids or None, prob or None, mask or None], in output order
    bar = tqdm(total=sum(s.length for s in segments), unit="bp", unit_scale=True, disable=not progress, desc="boundaries")

    def drain() -> Iterator[Piece]:
        pending = [entry for entry in buffer if entry[3] is None]
        if pending:
            _run_batch(model, pending, device, all_n)
        for seg, row, _, prob, mask in buffer:
            core = slice(int(row[2] - row[0]), int(row[3] - row[0]))
            bar.update(int(row[3] - row[2]))
            yield Piece(seg, seg.start + int(row[2]), track_values(prob[core], mask[core]), mask[core].copy())
        buffer.clear()

    with eval_mode(model):
        try:
            for seg in segments:
                for row in plan_windows(seg.length, window, overlap, int(getattr(model, "tile_alignment", 1))):
                    ids = _encode_window(fetch, seg, int(row[0]), int(row[1]))
                    cached = all_n.get(len(ids)) if bool((ids == N_ID).all()) else None
                    buffer.append([seg, row, ids, *(cached or (None, None))])
                    if sum(entry[3] is None for entry in buffer) >= batch_size:
                        yield from drain()
            yield from drain()
        finally:
            bar.close()


def _encode_window(fetch: Callable[[str, int, int], str], seg: Segment, start: int, end: int) -> torch.Tensor:
    text = fetch(seg.chrom, seg.start + start, seg.start + end)
    if len(text) != end - start:
        raise ValueError(f"record {seg.chrom!r}: asked for bases {seg.start + start}-{seg.start + end}, got {len(text)}")
    try:
        return encode(text)
    except ValueError:  # name the record and the genomic position, not the window offset
        bad = re.search(r"[^ACGTUNRYSWKMBDHV]", text, flags=re.IGNORECASE).start()
        raise ValueError(f"record {seg.chrom!r} position {seg.start + start + bad}: invalid nucleotide {text[bad]!r} "
                         "(accepted: A, C, G, T, U, N and IUPAC ambiguity codes, any case)") from None


@torch.inference_mode()
def _run_batch(model: torch.nn.Module, entries: list[list], device, all_n: dict) -> None:
    lengths = [len(entry[2]) for entry in entries]
    width = max(lengths)
    ids = torch.full((len(entries), width), PAD_ID, dtype=torch.long)
    for k, entry in enumerate(entries):
        ids[k, : lengths[k]] = entry[2]
    attention_mask = None
    if min(lengths) != width:
        attention_mask = (torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]).long().to(device)
    stages = model.extract_boundaries(ids.to(device), attention_mask=attention_mask)
    if not stages:
        raise ValueError("this model has no chunking stage (its arch_layout is a bare backbone), so it has no boundaries")
    prob = stages[0].boundary_prob.float().cpu().numpy()
    mask = stages[0].boundary_mask.bool().cpu().numpy()
    for k, entry in enumerate(entries):
        entry[3], entry[4] = prob[k, : lengths[k]], mask[k, : lengths[k]]
        if bool((entry[2] == N_ID).all()):
            all_n.setdefault(lengths[k], (entry[3].copy(), entry[4].copy()))
