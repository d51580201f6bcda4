"""Boundary probabilities for analysis: the tiled, stitched extraction of ``ldarnet.genome`` as arrays.

The tiling, stitching and streaming live in ``ldarnet.genome`` (one implementation serves this
function and the ``ldarnet boundaries`` command); this module only gathers the stitched pieces
into one array per sequence.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from ldarnet.genome import iter_boundaries, read_regions, sequence_source, whole_records


def extract_boundaries(
    model: torch.nn.Module,
    sequences,
    *,
    regions=None,
    window: int | None = None,
    overlap: int | None = None,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
    return_mask: bool = False,
    store=None,
) -> dict[str, np.ndarray] | tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Stage-0 boundary probability at every base of every sequence (or region).

    Runs only the model's embedding, encoder and router, in windows of ``window`` bases that
    overlap by at least ``overlap``; each base is read from one window, at least ``overlap // 2``
    bases from its edges unless it is that close to a real sequence end.

    Parameters
    ----------
    model
        An ``LDARNet`` (anything with ``extract_boundaries(input_ids, attention_mask)``).
    sequences
        A dict of name -> str, a FASTA path, or a ``pyfaidx.Fasta``.
    regions
        Optional BED file, or list of ``(chrom, start, end)`` tuples (0-based, half-open), over
        ``sequences``: extract these regions (each on its own, so its first base is a sequence
        start) instead of whole records. Regions may overlap here.
    window, overlap, batch_size
        Window length, minimum overlap between neighbouring windows, windows per model call. Left
        as None, they come from ``ldarnet.genome.default_tiling(model)``: an overlap of twice the
        outer attention's reach, so every base is read where the window edges cannot affect it.
    device
        Where the model runs; the model is moved there (default: where its parameters are).
    progress
        Show a tqdm progress bar over bases.
    return_mask
        Also return the model's boundary decisions.
    store
        A folder of track stores, or one ``*.store.npz`` (see :mod:`ldarviz.boundary_store`): read
        the boundaries from the store computed from these weights, sequences and tiling (matched by
        content hashes: checkpoint or weights sha256, FASTA file or dict-of-sequences sha256,
        window and overlap), or compute them and fill the store. Needs ``sequences`` as a FASTA
        path or a dict, and whole records (no ``regions``). The arrays are the same float16 values
        either way.

    Returns
    -------
    dict[str, np.ndarray]
        Name -> (L,) float16 boundary probability, position i being base i of the sequence
        (0-based). Names are record names, or ``chrom:start-end`` (0-based, half-open) for regions.
        With ``return_mask``, a second dict name -> (L,) bool, True where a chunk starts.
    """
    if store is not None:
        if regions is not None or not isinstance(sequences, (str, os.PathLike, dict)):
            raise ValueError("store= reads whole records: pass sequences as a FASTA path or a dict of sequences, and no regions")
        from .boundary_store import boundaries_with_store

        probs, masks, _ = boundaries_with_store(model, sequences, store, window=window, overlap=overlap, batch_size=batch_size,
                                                device=device, progress=progress)
        return (probs, masks) if return_mask else probs
    lengths, fetch = sequence_source(sequences)
    segments = read_regions(regions, lengths, allow_overlap=True) if regions is not None else whole_records(lengths)
    probs = {seg.name: np.zeros(seg.length, dtype=np.float16) for seg in segments}
    masks = {seg.name: np.zeros(seg.length, dtype=bool) for seg in segments}
    for piece in iter_boundaries(model, segments, fetch, window=window, overlap=overlap,
                                 batch_size=batch_size, device=device, progress=progress):
        where = slice(piece.start - piece.segment.start, piece.start - piece.segment.start + len(piece.prob))
        probs[piece.segment.name][where] = piece.prob
        masks[piece.segment.name][where] = piece.mask
    for name, n in lengths.items():  # empty records have nothing to extract but still get an entry
        if regions is None and n == 0:
            probs[name], masks[name] = np.zeros(0, np.float16), np.zeros(0, bool)
    return (probs, masks) if return_mask else probs
