"""Boundaries read from a track store when one exists for this model and FASTA, computed (and stored) otherwise.

A store (``*.store.npz``, :class:`ldarnet.genome.TrackStore`) is matched by content, never by
name: the checkpoint's hash (``model.source["sha256"]``, as ``ldarnet.checkpoint_sha256``), the
FASTA file's sha256 and the tiling (window, overlap). ``ldarnet boundaries --store`` writes such a
store; so does this module the first time it computes a FASTA's boundaries for a model.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from ldarnet import file_sha256
from ldarnet.genome import TrackStore, default_tiling, iter_boundaries, sequence_source, whole_records, write_store

__all__ = ["store_key", "find_store", "boundaries_with_store"]


def store_key(model: torch.nn.Module, fasta: str | os.PathLike, window: int | None = None, overlap: int | None = None) -> dict:
    """What a store must have been computed from to serve ``model`` on ``fasta`` with this tiling."""
    sha = (getattr(model, "source", None) or {}).get("sha256")
    if not sha:
        raise ValueError("store= needs a model loaded from a checkpoint (its content hash keys the store); "
                         "this one has no model.source['sha256']")
    auto = default_tiling(model)
    return {"checkpoint_sha256": sha, "fasta_sha256": file_sha256(fasta),
            "window": auto["window"] if window is None else window, "overlap": auto["overlap"] if overlap is None else overlap}


def find_store(folder: str | os.PathLike, key: dict) -> Path | None:
    """The first ``*.store.npz`` in ``folder`` computed from ``key`` over whole records, or None."""
    for path in sorted(Path(folder).glob("*.store.npz")):
        try:
            with zipfile.ZipFile(path) as archive:
                meta = json.loads(archive.read("index.json"))
        except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError):
            continue  # not a store (or a foreign file): never used
        if all(meta.get(k) == v for k, v in key.items()) and not meta.get("bed_sha256"):
            return path
    return None


def boundaries_with_store(model: torch.nn.Module, fasta: str | os.PathLike, store: str | os.PathLike, *,
                          window: int | None = None, overlap: int | None = None, batch_size: int | None = None,
                          device=None, progress: bool = False) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], Path]:
    """Whole-record boundary probabilities and decisions of ``fasta``, from ``store`` when it has them.

    ``store`` is a folder (any matching store in it is used; otherwise one is computed and written
    there as ``<checkpoint sha[:12]>-<fasta sha[:12]>.store.npz``) or a store file (which must
    match: a store of another model or FASTA is an error, never silently used).

    Returns
    -------
    probs, masks, path
        record -> (L,) float16 probabilities, record -> (L,) bool decisions, and the store used.
    """
    key = store_key(model, fasta, window, overlap)
    store = Path(store)
    if store.suffix == ".npz":
        if store.exists() and not _matches(store, key):
            raise ValueError(f"track store {store} was not computed from this model, FASTA and tiling ({key})")
        path = store if store.exists() else None
    else:
        store.mkdir(parents=True, exist_ok=True)
        path = find_store(store, key)
    if path is None:
        path = store if store.suffix == ".npz" else store / f"{key['checkpoint_sha256'][:12]}-{key['fasta_sha256'][:12]}.store.npz"
        lengths, fetch = sequence_source(fasta)
        segments = [s for s in whole_records(lengths) if s.length]
        pieces = iter_boundaries(model, segments, fetch, window=key["window"], overlap=key["overlap"], batch_size=batch_size,
                                 device=device, progress=progress)
        pieces, finish = write_store(pieces, segments, path, provenance={**key, "bed_sha256": None})
        for _ in pieces:
            pass
        finish()
    with TrackStore(path) as reader:
        probs = {s.chrom: reader.prob(s.chrom, s.start, s.end) for s in reader.segments}
        masks = {s.chrom: reader.mask(s.chrom, s.start, s.end) for s in reader.segments}
    return probs, masks, path


def _matches(path: Path, key: dict) -> bool:
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("index.json"))
    return all(meta.get(k) == v for k, v in key.items())
