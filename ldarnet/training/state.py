"""Training checkpoints that survive SIGKILL and never unpickle anything.

A checkpoint is a folder ``<run>/checkpoints/step-XXXXXXXX/`` holding

- ``model.safetensors`` + ``config.json``: the model, loadable on its own by ``LDARNet.from_pretrained``;
- ``optimizer.safetensors``: every optimiser state tensor, keyed ``state.<param index>.<name>``;
- ``rng.safetensors``: the torch (CPU, CUDA), numpy and Python RNG states as tensors;
- ``trainer_state.json``: step, tokens, data position, schedule, optimiser param groups, numpy/Python
  RNG scalars;
- ``manifest.json``, written last: size and sha256 of every other file.

It is written into a temporary sibling folder, every file fsynced, then renamed into place (and the
parent folder fsynced), so a reader sees either the whole checkpoint or none. A checkpoint whose
manifest is missing or whose files do not match it (truncated, edited) is never loaded: it is
reported and the next older one is used.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..checkpoint import checkpoint_sha256, file_sha256

__all__ = ["CHECKPOINT_DIR", "save_checkpoint", "remove_partial_writes", "find_checkpoints", "latest_valid_checkpoint",
           "load_checkpoint", "verify_checkpoint", "capture_rng", "restore_rng", "fsync_dir"]

CHECKPOINT_DIR = "checkpoints"
FORMAT = 1
_PREFIX = "step-"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


# -- RNG ---------------------------------------------------------------------------------------

def capture_rng() -> tuple[dict[str, torch.Tensor], dict]:
    """Every RNG state of this process as (tensors, JSON-able scalars)."""
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = state
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["numpy_keys"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    version, internal, gauss_next = random.getstate()
    scalars = {"numpy": {"kind": kind, "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
               "python": {"version": version, "state": list(internal), "gauss_next": gauss_next}}
    return tensors, scalars


def restore_rng(tensors: dict[str, torch.Tensor], scalars: dict) -> None:
    torch.set_rng_state(tensors["torch_cpu"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("torch_cuda_"))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])
    np_state = scalars["numpy"]
    np.random.set_state((np_state["kind"], tensors["numpy_keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached_gaussian"]))
    py = scalars["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss_next"]))


# -- optimiser ---------------------------------------------------------------------------------

def _optimizer_to_flat(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    state = optimizer.state_dict()
    tensors = {}
    for index, entry in state["state"].items():
        for key, value in entry.items():
            tensor = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"state.{index}.{key}"] = tensor.detach().to("cpu").contiguous().clone()
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in state["param_groups"]]
    return tensors, groups


def _optimizer_from_flat(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list[dict]) -> None:
    state: dict[int, dict] = {}
    for key, tensor in tensors.items():
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = tensor
    fixed_groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in groups]
    optimizer.load_state_dict({"state": state, "param_groups": fixed_groups})


# -- save / find / load ------------------------------------------------------------------------

def save_checkpoint(run_dir: str | os.PathLike, step: int, model, optimizer, trainer_state: dict,
                    rng_tensors: dict[str, torch.Tensor], keep: int = 3) -> Path:
    """Write checkpoint ``step`` atomically under ``run_dir/checkpoints``; keep the newest ``keep``."""
    root = Path(run_dir) / CHECKPOINT_DIR
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{_PREFIX}{step:08d}"
    tmp = root / f".{final.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    core = getattr(model, "module", model)
    weights = {k: v.detach().to("cpu").contiguous().clone() for k, v in core.state_dict().items()}
    save_file(weights, str(tmp / "model.safetensors"), metadata={"format": "pt", "model": "ldarnet"})
    (tmp / "config.json").write_text(core.config.to_json() + "\n")
    opt_tensors, groups = _optimizer_to_flat(optimizer)
    save_file(opt_tensors, str(tmp / "optimizer.safetensors"), metadata={"format": "pt"})
    save_file({k: v.contiguous() for k, v in rng_tensors.items()}, str(tmp / "rng.safetensors"))
    state = dict(trainer_state, step=step, format=FORMAT, optimizer_param_groups=groups)
    (tmp / "trainer_state.json").write_text(json.dumps(state, indent=1) + "\n")
    files = {}
    for path in sorted(tmp.iterdir()):
        _fsync_file(path)
        files[path.name] = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
    manifest = tmp / "manifest.json"
    # files: byte hashes, to verify the copy; model_sha256: the weights' content identity (ldarnet.checkpoint_sha256)
    record = {"format": FORMAT, "step": step, "model_sha256": checkpoint_sha256(tmp), "files": files}
    manifest.write_text(json.dumps(record, indent=1) + "\n")
    _fsync_file(manifest)
    fsync_dir(tmp)
    if final.exists():  # the same step written again after a resume: swap it out
        old = root / f".{final.name}.old-{os.getpid()}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old)
    else:
        os.replace(tmp, final)
    fsync_dir(root)
    for stale in find_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(stale, ignore_errors=True)
    return final


def remove_partial_writes(run_dir: str | os.PathLike) -> list[Path]:
    """Delete temporary checkpoint folders left by a killed writer (``.step-*.tmp-*``, ``.step-*.old-*``)."""
    root = Path(run_dir) / CHECKPOINT_DIR
    leftovers = [p for p in root.glob(f".{_PREFIX}*") if p.is_dir() and (".tmp-" in p.name or ".old-" in p.name)] \
        if root.is_dir() else []
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    return leftovers


def find_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """Checkpoint folders of a run, oldest first (valid or not; see :func:`verify_checkpoint`)."""
    root = Path(run_dir) / CHECKPOINT_DIR
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(_PREFIX) and p.name[len(_PREFIX):].isdigit()]
    return sorted(found, key=lambda p: int(p.name[len(_PREFIX):]))


def verify_checkpoint(path: Path) -> str | None:
    """None if the checkpoint at ``path`` is complete and intact, else the reason it is not."""
    manifest = path / "manifest.json"
    if not manifest.is_file():
        return "no manifest.json (the write did not finish)"
    try:
        listing = json.loads(manifest.read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"unreadable manifest.json ({err})"
    for name in ("model.safetensors", "config.json", "optimizer.safetensors", "rng.safetensors", "trainer_state.json"):
        if name not in listing:
            return f"manifest.json does not list {name}"
    for name, meta in listing.items():
        file = path / name
        if not file.is_file():
            return f"{name} is missing"
        if file.stat().st_size != meta["bytes"]:
            return f"{name} has {file.stat().st_size} bytes, the manifest says {meta['bytes']} (truncated?)"
        if file_sha256(file) != meta["sha256"]:
            return f"{name} does not match its sha256 in manifest.json"
    return None


def latest_valid_checkpoint(run_dir: str | os.PathLike) -> tuple[Path | None, list[str]]:
    """The newest intact checkpoint (or None) and one line per newer checkpoint that was rejected."""
    rejected = []
    for path in reversed(find_checkpoints(run_dir)):
        reason = verify_checkpoint(path)
        if reason is None:
            return path, rejected
        rejected.append(f"{path}: {reason}")
    return None, rejected


def load_checkpoint(path: Path, model, optimizer) -> tuple[dict, dict[str, torch.Tensor]]:
    """Restore model and optimiser in place from a verified checkpoint; returns (trainer_state, rng tensors)."""
    reason = verify_checkpoint(path)
    if reason is not None:
        raise ValueError(f"checkpoint {path} is not usable: {reason}")
    from ..checkpoint import restore

    core = getattr(model, "module", model)
    try:
        weights = load_file(str(path / "model.safetensors"))
        opt_tensors = load_file(str(path / "optimizer.safetensors"))
        rng = load_file(str(path / "rng.safetensors"))
        state = json.loads((path / "trainer_state.json").read_text())
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"checkpoint {path} cannot be read: {err}") from None
    restore(core, weights, path)
    _optimizer_from_flat(optimizer, opt_tensors, state.pop("optimizer_param_groups"))
    return state, rng
