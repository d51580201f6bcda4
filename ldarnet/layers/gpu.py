"""Optional GPU fast path: mamba_ssm's Triton SSD kernel, used only on CUDA tensors when installed.

The pure-PyTorch ``ssd_chunked`` is the reference everywhere; ``tests/test_gpu.py`` checks parity
where a GPU and mamba_ssm exist. Set ``LDARNET_PURE_TORCH=1`` to disable the kernel (and our own
Triton kernels, ``ldarnet/kernels``).
"""

from __future__ import annotations

import functools
import os
import sys
import types

import torch

from .scan import ssd_chunked


class _MissingExtension(types.ModuleType):
    """Stands in for a CUDA extension a pure-Triton mamba_ssm install lacks; fails on first use."""

    def __getattr__(self, name):
        raise ImportError(f"mamba_ssm was installed without its CUDA extension {self.__name__!r} "
                          f"(MAMBA_SKIP_CUDA_BUILD); only its Triton kernels are usable")


def _import_ssd_kernel():
    try:
        from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined
    except ModuleNotFoundError as err:
        if err.name != "selective_scan_cuda":
            raise
        # A pure-Triton install (MAMBA_SKIP_CUDA_BUILD) has no Mamba-1 CUDA extension, which
        # mamba_ssm/__init__ imports unconditionally; the SSD kernel never calls it. Drop the
        # half-imported package, stand a stub in for the extension and import again.
        for name in [n for n in sys.modules if n == "mamba_ssm" or n.startswith("mamba_ssm.")]:
            del sys.modules[name]
        sys.modules["selective_scan_cuda"] = _MissingExtension("selective_scan_cuda")
        from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined
    return mamba_chunk_scan_combined


@functools.lru_cache(maxsize=1)
def mamba_chunk_scan():
    """mamba_ssm's ``mamba_chunk_scan_combined`` or None. Imported lazily, never on CPU-only machines."""
    if os.environ.get("LDARNET_PURE_TORCH") or not torch.cuda.is_available():
        return None
    try:
        return _import_ssd_kernel()
    except Exception:  # noqa: BLE001 - any import failure means "no fast path"
        return None


def ssd(x, dt, A, B, C, chunk_size):
    """``ssd_chunked`` with the same arguments, dispatched to the Triton kernel on CUDA when available."""
    kernel = mamba_chunk_scan() if x.is_cuda else None
    if kernel is None:
        return ssd_chunked(x, dt, A, B, C, chunk_size)
    if A.dim() == 1:
        return kernel(x, dt, A.float(), B[:, :, None, :], C[:, :, None, :], chunk_size).to(x.dtype)
    # The kernel takes one A per head for the whole batch; rows with equal A are run together.
    A_rows = A.reshape(A.shape[0], -1)
    out = torch.empty_like(x)
    for a_row in torch.unique(A_rows, dim=0):
        rows = (A_rows == a_row).all(dim=1).nonzero().squeeze(1)
        out[rows] = kernel(x[rows], dt[rows], a_row.float(), B[rows, :, None, :], C[rows, :, None, :], chunk_size).to(x.dtype)
    return out
