"""Parity of the CUDA fast paths with the pure-PyTorch reference (skipped without a GPU).

mamba_ssm's SSD kernel against ``ssd_chunked`` (fp32: max relative error <= 1e-3; bf16: no further
from the fp32 reference than the reference itself run in bf16), through BiMamba2 with padded
batches and both directions; and our Triton kernels (ldarnet/kernels) at training sizes and inside
the model. The same kernels' small-shape parity tests run here on CUDA too (tests/test_kernels.py).
"""

import pytest
import torch

from ldarnet import kernels
from ldarnet.layers import BiMamba2, gpu
from ldarnet.layers.scan import ssd_chunked

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]
needs_mamba = pytest.mark.skipif(not torch.cuda.is_available() or gpu.mamba_chunk_scan() is None,
                                 reason="needs mamba_ssm (see README, 'On a CUDA machine')")
needs_triton = pytest.mark.skipif(not kernels.triton_available(), reason="needs triton")


def rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    """max |got - want| / max |want|, in fp32."""
    return ((got.float() - want.float()).abs().max() / want.float().abs().max()).item()


def test_reference_model_runs_on_cuda():
    from ldarnet import LDARNet, LDARNetConfig, batch_encode

    torch.manual_seed(0)
    model = LDARNet(LDARNetConfig.preset("ldarnet-tiny"))
    ids, mask = batch_encode(["ACGT" * 40, "GATTACA" * 9])
    cpu = model(ids, mask).logits
    cuda = model.cuda()(ids.cuda(), mask.cuda()).logits.cpu()
    torch.testing.assert_close(cuda, cpu, atol=1e-3, rtol=1e-3)


def _ssd_inputs(dtype, b=4, length=300, h=4, p=16, n=32):
    g = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(b, length, h, p, device="cuda", generator=g)
    dt = torch.nn.functional.softplus(torch.randn(b, length, h, device="cuda", generator=g) - 1)
    A = -torch.rand(2, 1, h, device="cuda", generator=g) * 8  # two directions, each for half the batch
    A = A.repeat_interleave(b // 2, dim=0)
    B = torch.randn(b, length, n, device="cuda", generator=g)
    C = torch.randn(b, length, n, device="cuda", generator=g)
    return [t.to(dtype).requires_grad_() for t in (x, dt, B, C)], A


@needs_mamba
@pytest.mark.parametrize("row_blocks", [None, 2])  # rows grouped by their A values, or as declared
def test_mamba_ssm_kernel_matches_reference_fp32(row_blocks):
    (x, dt, B, C), A = _ssd_inputs(torch.float32)
    w = torch.randn(x.shape, device="cuda")
    ref = ssd_chunked(x, dt, A, B, C, 64)
    fast = gpu.ssd(x, dt, A, B, C, 64, row_blocks=row_blocks)
    assert rel_err(fast, ref) <= 1e-3
    g_ref = torch.autograd.grad((ref * w).sum(), (x, dt, B, C))
    g_fast = torch.autograd.grad((fast * w).sum(), (x, dt, B, C))
    for got, want in zip(g_fast, g_ref):
        assert rel_err(got, want) <= 1e-3


@needs_mamba
def test_mamba_ssm_kernel_bf16_within_reference_bf16_error():
    (x, dt, B, C), A = _ssd_inputs(torch.float32)
    exact = ssd_chunked(x, dt, A, B, C, 64)
    lo = [t.detach().bfloat16() for t in (x, dt, B, C)]
    with torch.autocast("cuda", dtype=torch.bfloat16):  # as in the model: A stays fp32
        ref_bf16 = ssd_chunked(lo[0], lo[1], A, lo[2], lo[3], 64)
        fast_bf16 = gpu.ssd(lo[0], lo[1], A, lo[2], lo[3], 64, row_blocks=2)
    assert fast_bf16.dtype == torch.bfloat16
    assert rel_err(fast_bf16, exact) <= max(2 * rel_err(ref_bf16, exact), 1e-2)


def _mixer_run(mixer, x, mask, lengths, weight, autocast):
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
        out = mixer(x, mask, lengths)
    grads = torch.autograd.grad((out.float() * weight).sum(), (x, *mixer.parameters()))
    return out, grads


@needs_mamba
def test_bimamba_with_mamba_ssm_matches_reference_on_padded_batch(monkeypatch):
    torch.manual_seed(0)
    mixer = BiMamba2(64, d_state=32, headdim=32, chunk_size=64).cuda()
    lengths = torch.tensor([300, 137, 1], device="cuda")
    mask = torch.arange(300, device="cuda")[None, :] < lengths[:, None]
    x = (torch.randn(3, 300, 64, device="cuda") * mask[..., None]).requires_grad_()
    weight = torch.randn(3, 300, 64, device="cuda")
    fast, g_fast = _mixer_run(mixer, x, mask, lengths, weight, False)
    fast16, _ = _mixer_run(mixer, x, mask, lengths, weight, True)
    monkeypatch.setattr(gpu, "mamba_chunk_scan", lambda: None)
    ref, g_ref = _mixer_run(mixer, x, mask, lengths, weight, False)
    ref16, _ = _mixer_run(mixer, x, mask, lengths, weight, True)
    assert rel_err(fast, ref) <= 1e-3 and not fast[~mask].any()
    for got, want in zip(g_fast, g_ref):
        assert rel_err(got, want) <= 1e-3
    assert rel_err(fast16, ref) <= max(2 * rel_err(ref16, ref), 1e-2)


@needs_triton
def test_our_kernels_match_reference_at_training_sizes(monkeypatch):
    from ldarnet.chunking import Router, chunk, dechunk

    torch.manual_seed(0)
    b, length, d = 2, 8192, 512
    mask = torch.arange(length, device="cuda")[None, :] < torch.tensor([[length], [5001]], device="cuda")
    # segments of one direction whose sign flips at random: cosines near +-0.9, so no decision is
    # a rounding tie at p = 0.5 and both paths cut the same chunks
    sign = torch.where(torch.rand(b, length, device="cuda") < 0.25, -1.0, 1.0).cumprod(dim=1)
    h = sign[..., None] * torch.randn(d, device="cuda") + 0.3 * torch.randn(b, length, d, device="cuda")
    h = (h * mask[..., None]).requires_grad_()
    router = Router(d, "learned", 4.0).cuda()
    with torch.no_grad():
        router.q_proj.weight.add_(torch.randn(d, d, device="cuda") * 0.01)

    def run(on):
        monkeypatch.setattr(kernels, "use_kernels", lambda x: on)
        p, boundary = router(h, mask)
        chunks, order, cmask = chunk(h, boundary)
        out = dechunk(chunks.bfloat16(), torch.gather(p, 1, order), cmask, boundary)
        loss = (out.float() * h.detach()).sum() + p.sum()
        return p, boundary, out, torch.autograd.grad(loss, (h, router.q_proj.weight))

    p_ref, b_ref, out_ref, g_ref = run(False)
    p, boundary, out, grads = run(True)
    assert torch.equal(boundary, b_ref)
    torch.testing.assert_close(p, p_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out, out_ref, atol=1e-2, rtol=1e-2)  # bf16 outputs, fp32 inside
    for got, want in zip(grads, g_ref):
        assert rel_err(got, want) <= 1e-3


@needs_triton
def test_model_uses_our_kernels_on_cuda(monkeypatch):
    from ldarnet import LDARNet, LDARNetConfig, batch_encode
    from ldarnet.kernels import ema, router

    calls = {"ema": 0, "router": 0}
    for name, module in (("ema", ema), ("router", router)):
        original = getattr(module, f"{'bidirectional_ema' if name == 'ema' else 'router_probs'}")

        def counted(*a, _name=name, _f=original):
            calls[_name] += 1
            return _f(*a)
        monkeypatch.setattr(module, original.__name__, counted)
    torch.manual_seed(0)
    model = LDARNet(LDARNetConfig.preset("ldarnet-tiny")).cuda()
    ids, mask = batch_encode(["ACGT" * 40, "GATTACA" * 9])
    out = model(ids.cuda(), mask.cuda(), labels=ids.cuda())
    out.loss.backward()
    assert calls["ema"] >= 1 and calls["router"] >= 1
