"""Same numbers on every run of a notebook: fixed thread count, deterministic kernels, seeded RNGs.

What this cannot fix is the CPU's instruction set: AVX2, AVX-512 and the scalar ``default`` path of
PyTorch sum floats in different orders, so the last digits of a loss, a probability or a
fine-tuned MCC differ between machines. The notebook tests compare numbers with a tolerance for
that (``notebooks/conftest.py``); within one machine a re-run is bit-identical.
"""

from __future__ import annotations

import random

import numpy as np
import torch


def set_reproducible(seed: int = 0, threads: int = 1) -> dict:
    """Seed Python, NumPy and PyTorch, fix PyTorch's thread count, ask for deterministic kernels.

    Parameters
    ----------
    seed : int
        Seed for ``random``, ``numpy.random`` and ``torch``.
    threads : int
        Intra-op threads. Reductions split work per thread, so a different count changes the last
        bits of sums; a fixed count makes a notebook give the same numbers on a 2-core laptop and
        a 64-core server (of the same instruction set).

    Returns
    -------
    dict
        The settings applied (``seed, threads, deterministic``), for a provenance record.
    """
    if threads < 1:
        raise ValueError(f"threads={threads} must be at least 1")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)  # CPU kernels here are deterministic already
    return {"seed": seed, "threads": threads, "deterministic": True}
