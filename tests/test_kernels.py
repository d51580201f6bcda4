"""Parity of our Triton kernels (ldarnet/kernels) with the pure-PyTorch reference in ldarnet/chunking.py.

Where a GPU exists the kernels run on CUDA tensors; elsewhere on CPU tensors under the Triton
interpreter, which must be switched on before the kernel modules are imported (their ``@triton.jit``
decorations read it), so this module sets it first. Skipped when triton is not installed.
"""

import os
import subprocess
import sys

import pytest
import torch

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
if DEVICE == "cpu":
    os.environ.setdefault("TRITON_INTERPRET", "1")
pytest.importorskip("triton")
if DEVICE == "cpu" and os.environ["TRITON_INTERPRET"] != "1":
    pytest.skip("CPU run needs TRITON_INTERPRET=1", allow_module_level=True)

from ldarnet import kernels  # noqa: E402
from ldarnet.chunking import P_MIN, Router, chunk, dechunk, ema, ratio_loss  # noqa: E402
from ldarnet.kernels.ema import bidirectional_ema  # noqa: E402
from ldarnet.kernels.router import router_probs  # noqa: E402
from ldarnet.vocab import reverse_within_length  # noqa: E402

# Under the interpreter the kernels use BLOCK_T = 8 and BLOCK_D = 4 (ema) / 8 (router): the shapes
# below are not multiples of either, and padded rows end inside a tile.
LENGTHS = [21, 1, 13]


def _with_kernels(monkeypatch, on: bool):
    monkeypatch.setattr(kernels, "use_kernels", lambda x: on)


def _boundaries(lengths, kind, seed=0):
    """(B, L) boundary and valid masks: random (first position always), every position, or only the first."""
    g = torch.Generator().manual_seed(seed)
    length = max(lengths)
    mask = torch.arange(length)[None, :] < torch.tensor(lengths)[:, None]
    if kind == "random":
        boundary = torch.rand(len(lengths), length, generator=g) < 0.4
    else:
        boundary = torch.full((len(lengths), length), kind == "all")
    boundary[:, 0] = True
    return boundary & mask, mask


def _dechunk_inputs(kind, dtype, d=6, seed=0):
    boundary, mask = _boundaries(LENGTHS, kind, seed)
    g = torch.Generator().manual_seed(seed + 1)
    h = torch.randn(*boundary.shape, d, generator=g)
    chunks, order, cmask = chunk(h, boundary)
    p_full = torch.rand(boundary.shape, generator=g) * mask
    z = (chunks * 2).to(DEVICE, dtype).requires_grad_()
    p_full = p_full.to(DEVICE).requires_grad_()
    return z, p_full, order.to(DEVICE), cmask.to(DEVICE), boundary.to(DEVICE)


def _run_dechunk(monkeypatch, on, z, p_full, order, cmask, boundary):
    _with_kernels(monkeypatch, on)
    out = dechunk(z, torch.gather(p_full, 1, order), cmask, boundary)
    weight = torch.linspace(-1, 1, out.numel(), device=out.device).view_as(out)
    grads = torch.autograd.grad((out.float() * weight).sum(), (z, p_full))
    return out, grads


@pytest.mark.parametrize("kind", ["random", "all", "one"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_dechunk_kernel_matches_reference(monkeypatch, kind, dtype):
    inputs = _dechunk_inputs(kind, dtype)
    ref, ref_grads = _run_dechunk(monkeypatch, False, *inputs)
    out, grads = _run_dechunk(monkeypatch, True, *inputs)
    assert out.dtype == dtype and out.shape == ref.shape
    # both compute in fp32 from the same inputs; bf16 outputs may differ by one rounding
    tol = dict(atol=1e-5, rtol=1e-5) if dtype == torch.float32 else dict(atol=1e-2, rtol=1e-2)
    torch.testing.assert_close(out, ref, **tol)
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want, **tol)


def _ema_reference(z, gate_fwd, gate_bwd, lengths):
    """The definition: half the sum of a forward and a within-length reverse EMA, fp32, zero past lengths."""
    mask = (torch.arange(z.shape[1], device=z.device)[None, :] < lengths[:, None]).unsqueeze(-1)
    zf = z.float() * mask
    forward = ema(zf, gate_fwd)
    backward = reverse_within_length(
        ema(reverse_within_length(zf, lengths), reverse_within_length(gate_bwd, lengths)), lengths)
    return 0.5 * (forward + backward) * mask


def test_ema_kernel_with_arbitrary_gates_and_extreme_values():
    """Independent gates (any reverse-gate convention) at the clamp limits; fp32 state over long decays."""
    g = torch.Generator().manual_seed(3)
    b, m, d = 2, 29, 5
    lengths = torch.tensor([29, 17], device=DEVICE)
    z = torch.randn(b, m, d, generator=g).to(DEVICE).requires_grad_()
    raw = torch.rand(2, b, m, generator=g)
    raw[0, :, 3:20] = 0  # long stretches of the smallest gate: the state decays slowly
    raw[1, :, 5:9] = 1
    gates = raw.clamp(P_MIN, 1 - P_MIN).to(DEVICE).requires_grad_()
    out = bidirectional_ema(z, gates[0], gates[1], lengths)
    ref = _ema_reference(z, gates[0], gates[1], lengths)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    assert out.dtype == torch.float32 and not out[1, 17:].any()
    weight = torch.randn(out.shape, generator=g).to(DEVICE)
    grads = torch.autograd.grad((out * weight).sum(), (z, gates))
    ref_grads = torch.autograd.grad((ref * weight).sum(), (z, gates))
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("segment", [8, 5])
def test_ema_kernel_in_segments_matches_reference(segment):
    """A long sequence cut into segments (summaries, carries, then the real pass); 5 is not a
    multiple of the tile, and the short sample leaves whole segments empty."""
    g = torch.Generator().manual_seed(4)
    b, m, d = 2, 23, 3
    lengths = torch.tensor([23, 9], device=DEVICE)
    z = torch.randn(b, m, d, generator=g).to(DEVICE).requires_grad_()
    gates = torch.rand(2, b, m, generator=g).clamp(P_MIN, 1 - P_MIN).to(DEVICE).requires_grad_()
    out = bidirectional_ema(z, gates[0], gates[1], lengths, segment=segment)
    ref = _ema_reference(z, gates[0], gates[1], lengths)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    weight = torch.randn(out.shape, generator=g).to(DEVICE)
    grads = torch.autograd.grad((out * weight).sum(), (z, gates))
    ref_grads = torch.autograd.grad((ref * weight).sum(), (z, gates))
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_ema_kernel_is_deterministic_and_checks_shapes():
    z = torch.randn(2, 11, 7, device=DEVICE)
    gate = torch.rand(2, 11, device=DEVICE).clamp(P_MIN, 1 - P_MIN)
    lengths = torch.tensor([11, 4], device=DEVICE)
    assert torch.equal(bidirectional_ema(z, gate, gate, lengths), bidirectional_ema(z, gate, gate, lengths))
    with pytest.raises(ValueError, match="expected z"):
        bidirectional_ema(z, gate[:, :5], gate, lengths)


def _router(d, seed=0):
    torch.manual_seed(seed)
    router = Router(d, "learned", 4.0)
    with torch.no_grad():  # away from the identity init, so p spreads over [0, 1]
        router.q_proj.weight.add_(torch.randn(d, d) * 0.7)
        router.k_proj.weight.add_(torch.randn(d, d) * 0.7)
    return router.to(DEVICE)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_router_kernel_matches_reference(monkeypatch, dtype):
    d = 12
    router = _router(d)
    _, mask = _boundaries(LENGTHS, "random")
    mask = mask.to(DEVICE)
    h = torch.randn(*mask.shape, d, generator=torch.Generator().manual_seed(1)).to(DEVICE, dtype).requires_grad_()

    def run(on):
        _with_kernels(monkeypatch, on)
        p, boundary = router(h, mask)
        loss = (p * torch.linspace(-1, 1, p.numel(), device=p.device).view_as(p)).sum()
        loss = loss + ratio_loss(p, boundary, mask, router.target_ratio)
        params = (h, router.q_proj.weight, router.k_proj.weight)
        return p, boundary, torch.autograd.grad(loss, params)

    p_ref, b_ref, g_ref = run(False)
    p, boundary, grads = run(True)
    torch.testing.assert_close(p, p_ref, atol=1e-5, rtol=1e-5)
    decided = (p_ref - 0.5).abs() > 1e-4  # a decision at p == 0.5 may go either way in rounding
    assert torch.equal(boundary[decided], b_ref[decided]) and not boundary[~mask].any()
    tol = dict(atol=1e-5, rtol=1e-4) if dtype == torch.float32 else dict(atol=1e-2, rtol=1e-2)
    for got, want in zip(grads, g_ref):
        torch.testing.assert_close(got, want, **tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_router_kernel_sums_and_their_gradients(dtype):
    g = torch.Generator().manual_seed(2)
    b, length, d = 3, 21, 10
    _, mask = _boundaries(LENGTHS, "random")
    mask = mask.to(DEVICE)
    q = torch.randn(b, length, d, generator=g).to(DEVICE, dtype).requires_grad_()
    k = (q.detach().float() + torch.randn(b, length, d, generator=g).to(DEVICE)).to(dtype).requires_grad_()
    k.data[0, 5] = 0  # a zero vector: F.normalize's eps branch
    out = router_probs(q, k, mask)

    qn = torch.nn.functional.normalize(q.float(), dim=-1)
    kn = torch.nn.functional.normalize(k.float(), dim=-1)
    cos = (qn[:, :-1] * kn[:, 1:]).sum(-1) + (qn[:, 1:] * kn[:, :-1]).sum(-1)
    p_ref = torch.cat([torch.ones(b, 1, device=DEVICE), ((1 - 0.5 * cos) / 2).clamp(0, 1)], dim=1) * mask
    torch.testing.assert_close(out.p, p_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.sum_p, p_ref.sum(), atol=1e-4, rtol=1e-5)
    assert out.n_valid.item() == mask.sum().item()
    assert out.n_boundary.item() == out.boundary.sum().item() == ((p_ref > 0.5) & mask).sum().item()
    grads = torch.autograd.grad(out.sum_p * 2 + (out.p ** 2).sum(), (q, k))
    ref_grads = torch.autograd.grad(p_ref.sum() * 2 + (p_ref ** 2).sum(), (q, k))
    for got, want in zip(grads, ref_grads):
        assert got.dtype == dtype
        torch.testing.assert_close(got.float(), want.float(), atol=1e-4, rtol=1e-3)


@pytest.mark.slow  # about 20-40 s: seven compiles on a fresh machine
@pytest.mark.skipif(DEVICE == "cuda", reason="on a GPU the other tests compile the kernels for real")
def test_kernels_compile_for_cuda():
    """The interpreter accepts code the compiler rejects (it found a non-constexpr global here), so
    compile each kernel to an sm_90 cubin with triton's own ptxas; no GPU needed."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    run = subprocess.run([sys.executable, "-m", "ldarnet.kernels._aot", "--quick"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(run.stdout.splitlines()) == 7  # EMA fwd/bwd in two modes, the carry scan, router fwd/bwd
