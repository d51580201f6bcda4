"""Parity of the optional CUDA fast path with the pure-PyTorch reference (skipped without a GPU)."""

import pytest
import torch

from ldarnet.layers import gpu
from ldarnet.layers.scan import ssd_chunked

pytestmark = pytest.mark.gpu


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_reference_model_runs_on_cuda():
    from ldarnet import LDARNet, LDARNetConfig, batch_encode

    torch.manual_seed(0)
    model = LDARNet(LDARNetConfig.preset("ldarnet-tiny"))
    ids, mask = batch_encode(["ACGT" * 40, "GATTACA" * 9])
    cpu = model(ids, mask).logits
    cuda = model.cuda()(ids.cuda(), mask.cuda()).logits.cpu()
    torch.testing.assert_close(cuda, cpu, atol=1e-3, rtol=1e-3)


@pytest.mark.skipif(not torch.cuda.is_available() or gpu.mamba_chunk_scan() is None,
                    reason="needs CUDA and mamba_ssm (pip install -e '.[gpu]')")
def test_mamba_ssm_kernel_matches_reference():
    torch.manual_seed(0)
    b, length, h, p, n = 2, 300, 4, 16, 32
    x = torch.randn(b, length, h, p, device="cuda")
    dt = torch.nn.functional.softplus(torch.randn(b, length, h, device="cuda"))
    A = -torch.rand(h, device="cuda") * 8
    B, C = torch.randn(b, length, n, device="cuda"), torch.randn(b, length, n, device="cuda")
    ref = ssd_chunked(x, dt, A, B, C, 64)
    fast = gpu.ssd(x, dt, A[None, None, :].expand(b, 1, h), B, C, 64)
    torch.testing.assert_close(fast, ref, atol=1e-3, rtol=1e-3)
