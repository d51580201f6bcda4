"""The one save-and-restore of a model's train/eval mode."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["eval_mode"]


@contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Run the block with ``model.eval()``; the model gets its previous train/eval mode back afterwards,
    also when the block raises or a generator using it is closed early."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
