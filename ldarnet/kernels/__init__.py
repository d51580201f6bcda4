"""Our own Triton kernels: the dechunker's bidirectional EMA and the learned router's fused probabilities.

They are fast paths for CUDA tensors, used when ``triton`` imports (``LDARNET_PURE_TORCH=1`` turns
them off). The pure-PyTorch code in ``ldarnet/chunking.py`` stays the reference and the CPU path.
On CPU the kernels run only under the Triton interpreter, which is how the tests check them: set
``TRITON_INTERPRET=1`` before the kernel modules (``ldarnet.kernels.ema``, ``.router``) are
imported. This package imports them lazily, so importing ``ldarnet`` never imports triton.
"""

from __future__ import annotations

import functools
import importlib.util
import os

import torch


@functools.lru_cache(maxsize=1)
def triton_available() -> bool:
    """True when the ``triton`` package is installed (it is not imported here)."""
    return importlib.util.find_spec("triton") is not None


def use_kernels(x: torch.Tensor) -> bool:
    """Whether the model should run our kernels on ``x``: a CUDA tensor, triton installed, not disabled."""
    return x.is_cuda and triton_available() and not os.environ.get("LDARNET_PURE_TORCH")


def bidirectional_ema(z, gate_fwd, gate_bwd, lengths):
    """See :func:`ldarnet.kernels.ema.bidirectional_ema` (imported on first use)."""
    from .ema import bidirectional_ema as run

    return run(z, gate_fwd, gate_bwd, lengths)


def router_probs(q, k, mask):
    """See :func:`ldarnet.kernels.router.router_probs` (imported on first use)."""
    from .router import router_probs as run

    return run(q, k, mask)


__all__ = ["triton_available", "use_kernels", "bidirectional_ema", "router_probs"]
