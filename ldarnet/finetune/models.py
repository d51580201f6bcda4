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

__all__ = ["classifier_factory", "resolve_pooling", "AUTO_POOLING"]

#: ``pooling="auto"``: what each starting point pools with. Mean for a loaded checkpoint (pretrained
#: proxy on the same E. coli fold: mean 0.722 vs max 0.595 MCC; enhancers 0.459 vs 0.392), max from
#: random weights (a planted motif is learnt to MCC 1.0 with max, 0.56 with mean in 6 epochs);
#: results/finetune-defaults/README.md has the runs.
AUTO_POOLING = {"pretrained": "mean", "random": "max"}


def resolve_pooling(pooling: str, *, pretrained: bool) -> str:
    """The head's pooling: ``"auto"`` becomes ``AUTO_POOLING`` of the starting point, others pass through.

    Parameters
    ----------
    pooling : str
        ``"auto"``, ``"mean"``, ``"max"`` or ``"first"``.
    pretrained : bool
        True when the backbone starts from a checkpoint's weights, False from random weights.
    """
    if pooling == "auto":
        return AUTO_POOLING["pretrained" if pretrained else "random"]
    return pooling


def classifier_factory(
    *,
    num_labels: int,
    checkpoint: str | os.PathLike | None = None,
    config: str | os.PathLike | LDARNetConfig | None = None,
    random_init: bool = False,
    pooling: str = "auto",
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
    pooling : str
        ``"auto"`` (mean when the checkpoint's weights are loaded, max from random weights; see
        :func:`resolve_pooling`) or a pooling of :class:`ldarnet.heads.LDARNetForSequenceClassification`.
    conjoin_rc : bool
        Passed to :class:`ldarnet.heads.LDARNetForSequenceClassification`.
    device : str or torch.device
        Where the models live.
    """
    from ldarnet.heads import LDARNetForSequenceClassification
    from ldarnet.model import LDARNet

    if checkpoint is None and config is None:
        raise ValueError("give a checkpoint folder or a config (preset name or JSON) to build the classifier from")
    loaded = checkpoint is not None and not random_init
    pooling = resolve_pooling(pooling, pretrained=loaded)
    if loaded:
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

    make_model.pooling = pooling  # the resolved pooling, for run records
    return make_model
