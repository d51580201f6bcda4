"""Provenance for every table and figure: checkpoint hash, input hashes, JASPAR release, seed, parameters.

A provenance record is a plain JSON-able dict::

    {"ldarnet_version": "0.1.0", "created_utc": "...", "checkpoint_sha256": "...",
     "inputs": {"genome.fa": "sha256..."}, "jaspar_release": "JASPAR2024", "seed": 0,
     "parameters": {...}}

Tables carry it in ``DataFrame.attrs["provenance"]`` and, when written with :func:`write_table`,
in a sidecar ``<table>.provenance.json``. Figures written with :func:`save_figure` carry it in
the file's metadata (PNG text chunk / PDF Subject / SVG Description) and in the same sidecar.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

import pandas as pd

import ldarnet

_HASH_CACHE: dict[tuple, str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file's bytes (cached per path, size and mtime within a process)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"cannot hash {path}: not a file")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASH_CACHE:
        _HASH_CACHE[key] = ldarnet.file_sha256(path)
    return _HASH_CACHE[key]


def checkpoint_hash(checkpoint: str | os.PathLike) -> str:
    """Content hash of a checkpoint (``ldarnet.checkpoint_sha256``: tensors in name order plus the config),
    for a folder or its ``model.safetensors``; cached per weights/config size and mtime within a process."""
    path = Path(checkpoint)
    weights = path / "model.safetensors" if path.is_dir() else path
    if not weights.is_file():
        raise FileNotFoundError(f"cannot hash checkpoint {checkpoint}: no {weights.name}")
    key = tuple((str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns)
                for f in (weights, weights.parent / "config.json") if f.is_file())
    if key not in _HASH_CACHE:
        _HASH_CACHE[key] = ldarnet.checkpoint_sha256(path)
    return _HASH_CACHE[key]


def _input_hashes(inputs) -> dict[str, str]:
    out = {}
    for item in inputs or ():
        if isinstance(item, (str, os.PathLike)) and Path(item).is_file():
            out[str(item)] = file_sha256(item)
        elif isinstance(item, (str, os.PathLike)):
            raise FileNotFoundError(f"provenance input {item} is not a file")
        else:  # in-memory inputs (dicts of sequences, DataFrames) are named by their type
            out[f"<in-memory {type(item).__name__}>"] = "unhashed"
    return out


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, os.PathLike):
        return str(value)
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy scalars
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def _ldarnet_version() -> str:
    try:
        from importlib.metadata import version

        return version("ldarnet")
    except Exception:  # running from a source tree that was never installed
        return "unknown"


def make_provenance(*, model=None, checkpoint=None, inputs=(), jaspar_release: str | None = None,
                    seed: int | None = None, **parameters) -> dict:
    """Build a provenance record.

    Parameters
    ----------
    model : ldarviz.Loaded, optional
        The loaded model the results came from: its recorded hash is used (nothing is re-read) and
        its shown path and ``trained`` flag go into the parameters.
    checkpoint : path, optional
        A checkpoint directory or ``.safetensors`` file, for results without a loaded model; its
        SHA-256 is recorded.
    inputs : iterable of paths
        Input files (FASTA, annotation, MEME, results tables); each is hashed with SHA-256.
    jaspar_release, seed
        Recorded as given.
    **parameters
        Any analysis parameters (window, flank, p-value threshold, ...), stored JSON-safe.
    """
    if model is not None and checkpoint is not None:
        raise ValueError("give model (a loaded model's record) or checkpoint (a path), not both")
    if model is not None:
        described = model.provenance()
        parameters = {"checkpoint": described["checkpoint"], "trained": described["trained"], **parameters}
        sha = described["checkpoint_sha256"]
    else:
        sha = checkpoint_hash(checkpoint) if checkpoint is not None else None
    return {
        "ldarnet_version": _ldarnet_version(),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "checkpoint_sha256": sha,
        "inputs": _input_hashes(inputs),
        "jaspar_release": jaspar_release,
        "seed": seed,
        "parameters": _jsonable(parameters),
    }


def merge_provenance(*records: dict | None) -> dict:
    """Combine records (later ones win for scalars; inputs and parameters are unioned)."""
    out: dict = {"inputs": {}, "parameters": {}}
    for record in records:
        if not record:
            continue
        for key, value in record.items():
            if key in ("inputs", "parameters"):
                out[key].update(value or {})
            elif value is not None or key not in out:
                out[key] = value
    return out


def attach(table: pd.DataFrame, record: dict | None) -> pd.DataFrame:
    """Store ``record`` (merged over any existing one) in ``table.attrs["provenance"]``; returns the table."""
    table.attrs["provenance"] = merge_provenance(table.attrs.get("provenance"), record)
    return table


def sidecar_path(path: str | os.PathLike) -> Path:
    """``<path>.provenance.json``."""
    return Path(str(path) + ".provenance.json")


def write_table(table: pd.DataFrame, path: str | os.PathLike, record: dict | None = None) -> Path:
    """Write ``table`` as CSV (``.tsv``: tab-separated) plus its provenance sidecar, both atomically."""
    path = Path(path)
    record = merge_provenance(table.attrs.get("provenance"), record)
    sep = "\t" if path.suffix == ".tsv" else ","
    ldarnet.atomic_write(path, lambda tmp: table.to_csv(tmp, sep=sep, index=False))
    ldarnet.atomic_write(sidecar_path(path), lambda tmp: Path(tmp).write_text(json.dumps(record, indent=2) + "\n"))
    return path


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a table written by :func:`write_table`, restoring ``attrs["provenance"]`` from the sidecar."""
    path = Path(path)
    table = pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",")
    side = sidecar_path(path)
    if side.is_file():
        try:
            table.attrs["provenance"] = json.loads(side.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{side}: not valid JSON ({err.msg} at line {err.lineno})") from None
    return table


def save_figure(fig, path: str | os.PathLike, record: dict | None = None) -> Path:
    """Save ``fig`` with provenance in its metadata and a sidecar JSON, atomically.

    The record (merged over ``fig._ldarviz_provenance`` when plot functions set it) goes in the
    PNG ``Description`` text chunk, the PDF ``Subject`` or the SVG ``Description``.
    """
    path = Path(path)
    record = merge_provenance(getattr(fig, "_ldarviz_provenance", None), record)
    text = json.dumps(record, sort_keys=True)
    fmt = path.suffix.lstrip(".").lower() or "png"
    key = {"pdf": "Subject", "svg": "Description", "png": "Description"}.get(fmt)
    metadata = {key: text} if key else None
    ldarnet.atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, metadata=metadata, bbox_inches="tight"))
    ldarnet.atomic_write(sidecar_path(path), lambda tmp: Path(tmp).write_text(json.dumps(record, indent=2) + "\n"))
    return path


def finish_figure(fig, *, save_path=None, provenance: dict | None = None):
    """Common tail of every plot function: remember provenance, save when asked, return the Figure."""
    fig._ldarviz_provenance = merge_provenance(getattr(fig, "_ldarviz_provenance", None), provenance)
    if save_path is not None:
        save_figure(fig, save_path)
    return fig


def weights_behind(run_files, sha256: str) -> str:
    """One line saying which weights committed runs used, and whether they are the model in hand.

    Parameters
    ----------
    run_files : iterable of path
        ``run.json`` records that carry ``checkpoint_sha256`` (e.g. fine-tuning acceptance runs).
    sha256 : str
        The loaded model's weights hash (``Loaded.sha256``).

    Results read from files can outlive the model they were computed with (a checkpoint replaced
    under the same name); the hash, not the folder name, says which model they describe.
    """
    recorded = []
    for path in run_files:
        record = json.loads(Path(path).read_text())
        if "checkpoint_sha256" not in record:
            raise ValueError(f"{path}: no checkpoint_sha256 field")
        recorded.append(record["checkpoint_sha256"])
    if not recorded:
        raise ValueError("no run.json records given")
    names = ", ".join(h[:12] for h in sorted(set(recorded)))
    verdict = "the same model" if set(recorded) == {sha256} else "a different model: these results are not about it"
    return f"runs used weights {names}; the loaded model is {sha256[:12]} ({verdict})"
