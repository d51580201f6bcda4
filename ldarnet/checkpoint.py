"""Checkpoints as ``model.safetensors`` + ``config.json``. Nothing is ever unpickled."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import LDARNetConfig
from .io import atomic_write

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file's bytes, read in 1 MiB blocks (for inputs; checkpoints: :func:`checkpoint_sha256`)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_sha256(path: str | os.PathLike) -> str:
    """Content hash of a checkpoint: the same weights and config give the same hash, however they were saved.

    SHA-256 over a version tag, the canonical ``config.json`` (keys sorted, no whitespace) and then,
    for every tensor in name order, its name, dtype, shape and raw bytes. The safetensors header's
    metadata and the order of tensors in the file do not enter, so two runs that save identical
    weights get one identity; any changed value, dtype, shape or config field changes it.

    Parameters
    ----------
    path
        A checkpoint folder (``model.safetensors`` + ``config.json``), or a ``.safetensors`` file
        (its folder's ``config.json`` is included when there is one).
    """
    path = Path(path)
    weights = path / WEIGHTS_NAME if path.is_dir() else path
    config = weights.parent / CONFIG_NAME
    digest = hashlib.sha256(b"ldarnet-checkpoint-sha256 v1\n")
    if config.is_file():
        try:
            canonical = json.dumps(json.loads(config.read_text()), sort_keys=True, separators=(",", ":"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"cannot hash {config}: not readable JSON ({err})") from None
        digest.update(canonical.encode())
    digest.update(b"\n")
    # The safetensors layout is read directly (8-byte little-endian header length, JSON header of
    # name -> dtype, shape, data_offsets): it streams raw bytes in name order without building tensors,
    # which numpy cannot do for bf16 and torch would do at the cost of a full copy.
    try:
        with open(weights, "rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            header = json.loads(handle.read(size))
            base = 8 + size
            for name in sorted(k for k in header if k != "__metadata__"):
                entry = header[name]
                start, end = entry["data_offsets"]
                digest.update(json.dumps([name, entry["dtype"], entry["shape"], end - start]).encode())
                handle.seek(base + start)
                left = end - start
                while left:
                    block = handle.read(min(left, 1 << 20))
                    if not block:
                        raise ValueError("file ends inside a tensor")
                    digest.update(block)
                    left -= len(block)
    except OSError as err:
        raise ValueError(f"cannot hash checkpoint {weights}: {err.strerror or err}") from None
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot hash checkpoint {weights}: not a valid safetensors file ({err})") from None
    return digest.hexdigest()


def source_record(directory: str | os.PathLike) -> dict:
    """Where a model's weights came from: ``{"path": folder, "sha256": checkpoint_sha256(folder)}``."""
    return {"path": str(directory), "sha256": checkpoint_sha256(directory)}


def save(model, directory: str | Path) -> Path:
    directory = Path(directory)
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    kind = getattr(model.config, "model_kind", "ldarnet")
    atomic_write(directory / WEIGHTS_NAME, lambda tmp: save_file(state, tmp, metadata={"format": "pt", "model": kind}))
    atomic_write(directory / CONFIG_NAME, lambda tmp: Path(tmp).write_text(model.config.to_json() + "\n"))
    return directory


def read_config(path: str | Path):
    """The config in a ``config.json``: a MergeDNAConfig when ``model_kind`` is "mergedna", else an LDARNetConfig."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as err:
        raise ValueError(f"cannot read config {path}: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"config is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"config JSON must be an object, got {type(data).__name__}")
    kind = data.get("model_kind", "ldarnet")
    if kind == "mergedna":
        from .mergedna.config import MergeDNAConfig
        return MergeDNAConfig.from_dict(data)
    if kind != "ldarnet":
        raise ValueError(f"model_kind={kind!r}; this version knows 'ldarnet' and 'mergedna'")
    return LDARNetConfig.from_dict({k: v for k, v in data.items() if k != "model_kind"})


def resolve_config(spec):
    """The one way to name a config: a config object (returned as given), a preset name (``ldarnet-proxy``,
    ``mergedna-proxy``, ...), a config JSON file or a checkpoint folder (its ``config.json``).

    Returns an ``LDARNetConfig``, or a ``MergeDNAConfig`` for a MergeDNA preset or a JSON whose
    ``model_kind`` is ``"mergedna"``. Raises ValueError naming ``spec`` when it is none of these.
    """
    from .config import PRESETS
    from .mergedna.config import MergeDNAConfig
    from .mergedna.config import PRESETS as MERGEDNA_PRESETS

    if isinstance(spec, (LDARNetConfig, MergeDNAConfig)):
        return spec
    text = str(spec)
    path = Path(text)
    if path.is_dir():
        path = path / CONFIG_NAME
        if not path.is_file():
            raise ValueError(f"{spec}: a checkpoint folder needs a {CONFIG_NAME}")
    if path.is_file():
        try:
            return read_config(path)
        except (ValueError, TypeError) as err:
            raise ValueError(f"{path}: {err}") from None
    if text in PRESETS:
        return LDARNetConfig.preset(text)
    if text in MERGEDNA_PRESETS:
        return MergeDNAConfig.preset(text)
    raise ValueError(f"config {text!r} is neither a preset ({', '.join(sorted([*PRESETS, *MERGEDNA_PRESETS]))}) "
                     "nor an existing JSON file or checkpoint folder")


def load(directory: str | Path, map_location="cpu") -> tuple[LDARNetConfig, dict[str, torch.Tensor]]:
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"checkpoint directory {directory} does not exist")
    config_path, weights_path = directory / CONFIG_NAME, directory / WEIGHTS_NAME
    for path in (config_path, weights_path):
        if not path.is_file():
            raise ValueError(f"checkpoint {directory} has no {path.name}")
    try:
        config = read_config(config_path)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{config_path}: {err}") from None
    try:
        state = load_file(weights_path, device=str(map_location))
    except (SafetensorError, OSError, json.JSONDecodeError) as err:
        raise ValueError(
            f"{weights_path} is not a valid safetensors file ({err}); LDARNet loads only safetensors "
            "and never unpickles weights"
        ) from None
    return config, state


def restore(model: torch.nn.Module, state: dict[str, torch.Tensor], source) -> None:
    """Copy ``state`` into ``model`` strictly, with one clear error for missing, extra or misshapen tensors."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise ValueError(f"checkpoint {source} does not match its config: missing {missing[:5]}, unexpected {extra[:5]}")
    for name, tensor in state.items():
        if tensor.shape != expected[name].shape:
            raise ValueError(f"checkpoint {source}: tensor {name} has shape {tuple(tensor.shape)}, "
                             f"the config needs {tuple(expected[name].shape)}")
    model.load_state_dict(state, strict=True)


def load_pretrained(directory: str | Path, map_location: str | torch.device = "cpu"):
    """Whichever model a checkpoint folder holds: an ``LDARNet``, or a ``MergeDNA`` when config.json says
    ``"model_kind": "mergedna"``. Raises ValueError on a missing or bad checkpoint (never random weights)."""
    config, state = load(directory, map_location)
    if getattr(config, "model_kind", "ldarnet") == "mergedna":
        from .mergedna.model import MergeDNA as cls
    else:
        from .model import LDARNet as cls
    model = cls(config)
    restore(model, state, directory)
    model.source = source_record(directory)
    return model.to(map_location)
