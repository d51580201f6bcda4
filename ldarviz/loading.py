"""One way to load a model for notebooks and analyses: :func:`load_model` -> :class:`Loaded`.

A checkpoint that is named but missing or unreadable is an error, never a quiet switch to random
weights; random weights come only when asked for by name (``checkpoint="untrained"``) and are
labelled as such in everything that shows the record. The record also carries where the weights
came from and their content hash, so analyses take their provenance from it instead of hashing a
path again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

import ldarnet
from ldarnet import DEFAULT_CHECKPOINT, UNTRAINED  # noqa: F401  (re-exported: the notebooks' defaults)

from .provenance import checkpoint_hash

#: architecture of the random-weight model: the one the shipped checkpoint uses
UNTRAINED_PRESET = "ldarnet-proxy"


@dataclass(frozen=True)
class Loaded:
    """A model and where its weights came from.

    Attributes
    ----------
    model : ldarnet.LDARNet
        In eval mode, on the requested device.
    path : pathlib.Path or None
        The checkpoint folder; None for random weights.
    sha256 : str or None
        Content hash of the checkpoint (``ldarnet.checkpoint_sha256``: tensors in name order plus
        the config, so identical weights saved twice hash the same); None for random weights.
    trained : bool
        False only for ``checkpoint="untrained"``.
    seed : int
        Seed of the random weights (recorded for trained models too, unused there).
    """

    model: torch.nn.Module
    path: Path | None
    sha256: str | None
    trained: bool
    seed: int = 0

    @property
    def label(self) -> str:
        """One line naming the weights: the folder and a short hash, or that they are random."""
        if not self.trained:
            return f"UNTRAINED {UNTRAINED_PRESET} (random weights, seed {self.seed})"
        return f"{_shown(self.path)} (sha256 {self.sha256[:12]})"

    def provenance(self) -> dict:
        """What a summary or provenance record says about the weights: shown path, hash, trained or not."""
        return {"checkpoint": _shown(self.path), "checkpoint_sha256": self.sha256, "trained": self.trained}


def _shown(path: Path | None) -> str:
    """``path`` relative to the working directory when it lies near it (no machine's folders in outputs)."""
    if path is None:
        return UNTRAINED
    try:
        rel = os.path.relpath(path, Path.cwd())
    except ValueError:
        return str(path)
    return str(path) if rel.startswith(os.pardir + os.sep + os.pardir + os.sep + os.pardir) else rel


def load_model(checkpoint: str | os.PathLike | None = None, seed: int = 0, device: str | torch.device = "cpu") -> Loaded:
    """Load a checkpoint folder (or, only when asked, random weights) for analysis.

    Parameters
    ----------
    checkpoint : str, PathLike or None
        A folder written by ``LDARNet.save_pretrained`` (``config.json`` + ``model.safetensors``);
        None for the shipped :data:`DEFAULT_CHECKPOINT`; the string ``"untrained"`` for a
        randomly initialised ``ldarnet-proxy`` seeded with ``seed``.
    seed : int
        Seed of the random weights; ignored for checkpoints.
    device : str or torch.device
        Where the model is put.

    Returns
    -------
    Loaded
        The model in eval mode and the record of its weights.

    Raises
    ------
    FileNotFoundError
        The folder does not exist (the message names it).
    ValueError
        The folder exists but does not hold a loadable checkpoint (message from ``ldarnet``).
    """
    if isinstance(checkpoint, str) and checkpoint.strip().lower() == UNTRAINED:
        torch.manual_seed(seed)
        model = ldarnet.LDARNet(ldarnet.LDARNetConfig.preset(UNTRAINED_PRESET))
        return Loaded(model.to(device).eval(), None, None, False, seed)
    path = Path(checkpoint) if checkpoint is not None else DEFAULT_CHECKPOINT
    if not path.exists():
        hint = "" if checkpoint is not None else " (the shipped checkpoint is missing from this checkout)"
        raise FileNotFoundError(f"checkpoint {path}: no such folder{hint}; pass checkpoint='{UNTRAINED}' "
                                "to run on random weights on purpose")
    model = ldarnet.load_pretrained(path, map_location=device)  # LDARNet or MergeDNA; raises ValueError naming the folder
    return Loaded(model.eval(), path, checkpoint_hash(path), True, seed)
