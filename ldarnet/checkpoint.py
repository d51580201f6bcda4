"""Checkpoints as ``model.safetensors`` + ``config.json``. Nothing is ever unpickled."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import LDARNetConfig

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)``, fsync, then rename over ``path``: readers see the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the mode a plain open() would
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save(model, directory: str | Path) -> Path:
    directory = Path(directory)
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    atomic_write(directory / WEIGHTS_NAME, lambda tmp: save_file(state, tmp, metadata={"format": "pt", "model": "ldarnet"}))
    atomic_write(directory / CONFIG_NAME, lambda tmp: Path(tmp).write_text(model.config.to_json() + "\n"))
    return directory


def load(directory: str | Path, map_location="cpu") -> tuple[LDARNetConfig, dict[str, torch.Tensor]]:
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"checkpoint directory {directory} does not exist")
    config_path, weights_path = directory / CONFIG_NAME, directory / WEIGHTS_NAME
    for path in (config_path, weights_path):
        if not path.is_file():
            raise ValueError(f"checkpoint {directory} has no {path.name}")
    try:
        config = LDARNetConfig.from_json(config_path)
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
