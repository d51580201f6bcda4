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


def _kernel_for(x: torch.Tensor):
    return mamba_chunk_scan() if x.is_cuda else None


def ssd(x, dt, A, B, C, chunk_size, row_blocks: int | None = None):
    """``ssd_chunked`` with the same arguments, dispatched to the Triton kernel on CUDA when available.

    ``row_blocks``: the caller's promise that the batch rows form this many equal consecutive blocks
    with one A each (BiMamba2: forward rows, then reverse rows); the kernel then runs once per block
    with no host synchronisation. Without it, rows are grouped by comparing their A values.
    """
    kernel = _kernel_for(x)
    if kernel is None:
        return ssd_chunked(x, dt, A, B, C, chunk_size)
    if A.dim() == 1:
        return kernel(x, dt, A.float(), B[:, :, None, :], C[:, :, None, :], chunk_size).to(x.dtype)
    if row_blocks and x.shape[0] >= row_blocks and x.shape[0] % row_blocks == 0:
        size = x.shape[0] // row_blocks
        rows = [slice(i, i + size) for i in range(0, x.shape[0], size)]
        return torch.cat([kernel(x[r].contiguous(), dt[r].contiguous(), A[r.start, 0].float(),
                                 B[r, :, None, :].contiguous(), C[r, :, None, :].contiguous(), chunk_size).to(x.dtype)
                          for r in rows])
    # The kernel takes one A per head for the whole batch; rows with equal A are run together.
    A_rows = A.reshape(A.shape[0], -1)
    out = torch.empty_like(x)
    for a_row in torch.unique(A_rows, dim=0):
        rows = (A_rows == a_row).all(dim=1).nonzero().squeeze(1)
        out[rows] = kernel(x[rows], dt[rows], a_row.float(), B[rows, :, None, :], C[rows, :, None, :], chunk_size).to(x.dtype)
    return out
