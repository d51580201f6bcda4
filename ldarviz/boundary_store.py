"""Boundaries read from a track store when one exists for this model and these sequences, computed (and stored) otherwise.

A store (``*.store.npz``, :class:`ldarnet.genome.TrackStore`) is matched by content, never by
name: the model's weights (``model.source["sha256"]`` for a checkpoint, as
``ldarnet.checkpoint_sha256``; otherwise the sha256 of its parameters), the sequences (a FASTA
file's sha256, or for a dict of sequences the sha256 of its names and bases) and the tiling
(window, overlap). ``ldarnet boundaries --store`` writes such a store for a FASTA; so does this
module the first time it computes a FASTA's (or a dict's) boundaries for a model. Notebooks pass a
folder (``store=``) and get the same float16 arrays on every run, the model run only once.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from ldarnet import file_sha256
from ldarnet.genome import TrackStore, default_tiling, iter_boundaries, sequence_source, whole_records, write_store

__all__ = ["store_key", "find_store", "boundaries_with_store", "weights_sha256", "sequences_sha256"]


def weights_sha256(model: torch.nn.Module) -> str:
    """sha256 over the names, dtypes, shapes and bytes of a model's parameters and buffers, in ``state_dict`` order."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def sequences_sha256(sequences: dict[str, str]) -> str:
    """sha256 of a dict of sequences, written as FASTA text (``>name\\nBASES\\n`` in dict order)."""
    digest = hashlib.sha256()
    for name, seq in sequences.items():
        digest.update(f">{name}\n{seq}\n".encode())
    return digest.hexdigest()


def store_key(model: torch.nn.Module, sequences, window: int | None = None, overlap: int | None = None) -> dict:
    """What a store must have been computed from to serve ``model`` on ``sequences`` with this tiling.

    ``sequences`` is a FASTA path (keyed by ``fasta_sha256``, the file's bytes) or a dict name ->
    str (keyed by ``sequences_sha256``). A model loaded from a checkpoint is keyed by
    ``checkpoint_sha256``; any other model by ``weights_sha256`` (its tensors).
    """
    sha = (getattr(model, "source", None) or {}).get("sha256")
    weights = {"checkpoint_sha256": sha} if sha else {"weights_sha256": weights_sha256(model)}
    if isinstance(sequences, dict):
        content = {"sequences_sha256": sequences_sha256(sequences)}
    elif isinstance(sequences, (str, os.PathLike)):
        content = {"fasta_sha256": file_sha256(sequences)}
    else:
        raise ValueError(f"store= needs a FASTA path or a dict of sequences, got {type(sequences).__name__}")
    auto = default_tiling(model)
    return {**weights, **content, "window": auto["window"] if window is None else window,
            "overlap": auto["overlap"] if overlap is None else overlap}


def _meta(path: Path) -> dict | None:
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read("index.json"))
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError):
        return None  # not a store (or a foreign file): never used


def find_store(folder: str | os.PathLike, key: dict) -> Path | None:
    """The first ``*.store.npz`` in ``folder`` computed from ``key`` over whole records, or None."""
    for path in sorted(Path(folder).glob("*.store.npz")):
        meta = _meta(path)
        if meta is not None and all(meta.get(k) == v for k, v in key.items()) and not meta.get("bed_sha256"):
            return path
    return None


def boundaries_with_store(model: torch.nn.Module, sequences, store: str | os.PathLike, *,
                          window: int | None = None, overlap: int | None = None, batch_size: int | None = None,
                          device=None, progress: bool = False) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], Path]:
    """Whole-record boundary probabilities and decisions of ``sequences``, from ``store`` when it has them.

    ``sequences`` is a FASTA path or a dict name -> str. ``store`` is a folder (any matching store
    in it is used; otherwise one is computed and written there as
    ``<model sha[:12]>-<sequences sha[:12]>.store.npz``) or a store file (which must match: a store
    of another model, sequence set or tiling is an error, never silently used).

    Returns
    -------
    probs, masks, path
        record -> (L,) float16 probabilities, record -> (L,) bool decisions (records in input
        order; an empty record gets empty arrays), and the store used.
    """
    key = store_key(model, sequences, window, overlap)
    store = Path(store)
    if store.suffix == ".npz":
        if store.exists() and not _matches(store, key):
            raise ValueError(f"track store {store} was not computed from this model, these sequences and tiling ({key})")
        path = store if store.exists() else None
    else:
        store.mkdir(parents=True, exist_ok=True)
        path = find_store(store, key)
    lengths, fetch = sequence_source(sequences)
    if path is None:
        model_sha = key.get("checkpoint_sha256") or key["weights_sha256"]
        seq_sha = key.get("fasta_sha256") or key["sequences_sha256"]
        path = store if store.suffix == ".npz" else store / f"{model_sha[:12]}-{seq_sha[:12]}.store.npz"
        segments = [s for s in whole_records(lengths) if s.length]
        pieces = iter_boundaries(model, segments, fetch, window=key["window"], overlap=key["overlap"], batch_size=batch_size,
                                 device=device, progress=progress)
        pieces, finish = write_store(pieces, segments, path, provenance={**key, "bed_sha256": None})
        for _ in pieces:
            pass
        finish()
    probs = {name: np.zeros(0, np.float16) for name in lengths}
    masks = {name: np.zeros(0, bool) for name in lengths}
    with TrackStore(path) as reader:
        for s in reader.segments:
            probs[s.chrom], masks[s.chrom] = reader.prob(s.chrom, s.start, s.end), reader.mask(s.chrom, s.start, s.end)
    return probs, masks, path


def _matches(path: Path, key: dict) -> bool:
    meta = _meta(path)
    return meta is not None and all(meta.get(k) == v for k, v in key.items())
