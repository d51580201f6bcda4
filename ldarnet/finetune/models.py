"""Build fresh sequence classifiers for each fold: from a pretrained checkpoint or from random weights."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable

import torch
from torch import nn

from ldarnet.checkpoint import load_pretrained, resolve_config
from ldarnet.config import LDARNetConfig
from ldarnet.mergedna import MergeDNA, MergeDNAConfig

__all__ = ["classifier_factory"]


def classifier_factory(
    *,
    num_labels: int,
    checkpoint: str | os.PathLike | None = None,
    config: str | os.PathLike | LDARNetConfig | None = None,
    random_init: bool = False,
    pooling: str = "mean",
    conjoin_rc: bool = False,
    device: str | torch.device = "cpu",
) -> Callable[[int], nn.Module]:
    """A function ``make_model(fold) -> LDARNetForSequenceClassification`` giving a fresh model per call.

    Parameters
    ----------
    num_labels : int
        Classes K of the task.
    checkpoint : path, optional
        A folder written by ``LDARNet.save_pretrained``. Its weights are read once; every call
        copies them into a new backbone. With ``random_init=True`` only its ``config.json`` is used.
    config : preset name, JSON path or LDARNetConfig, optional
        The architecture when no checkpoint is given (then the weights are always random).
    random_init : bool
        Same architecture, freshly initialised weights (the "no pretraining" control). The
        initialisation follows torch's global RNG, which the cross-validation seeds per fold.
    pooling, conjoin_rc : str, bool
        Passed to :class:`ldarnet.heads.LDARNetForSequenceClassification`.
    device : str or torch.device
        Where the models live.
    """
    from ldarnet.heads import LDARNetForSequenceClassification
    from ldarnet.model import LDARNet

    if checkpoint is None and config is None:
        raise ValueError("give a checkpoint folder or a config (preset name or JSON) to build the classifier from")
    if checkpoint is not None and not random_init:
        pretrained = load_pretrained(checkpoint, map_location="cpu")  # LDARNet or MergeDNA

        def backbone() -> nn.Module:
            return copy.deepcopy(pretrained)
    else:
        cfg = resolve_config(checkpoint if checkpoint is not None else config)

        def backbone() -> nn.Module:
            return MergeDNA(cfg) if isinstance(cfg, MergeDNAConfig) else LDARNet(cfg)

    def make_model(fold: int) -> nn.Module:
        del fold  # every fold starts from the same weights; the head's init follows the seeded RNG
        model = LDARNetForSequenceClassification(backbone(), num_labels, pooling=pooling, conjoin_rc=conjoin_rc)
        return model.to(device)

    return make_model
