"""The chunked matrix forms equal the sequential recurrences they replace."""

import pytest
import torch
import torch.nn.functional as F

from ldarnet.layers.scan import (linear_scan, linear_scan_sequential, ssd_chunked, ssd_chunked_masked,
                                 ssd_sequential)


def _ssd_inputs(length, seed, extreme=False, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    b, h, p, n = 2, 3, 8, 6
    x = torch.randn(b, length, h, p, generator=g, dtype=dtype)
    dt = F.softplus(torch.randn(b, length, h, generator=g, dtype=dtype) * (4 if extreme else 1))
    A = -torch.rand(h, generator=g, dtype=dtype) * (60 if extreme else 8) - 1e-3
    if extreme:  # one head that barely decays, one that forgets at once
        A[0], A[1] = -1e-4, -200.0
    B = torch.randn(b, length, n, generator=g, dtype=dtype)
    C = torch.randn(b, length, n, generator=g, dtype=dtype)
    return x, dt, A, B, C


def _rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize("length", [1, 15, 16, 17, 100, 333])
@pytest.mark.parametrize("extreme", [False, True])
def test_chunked_ssd_matches_sequential_fp32(length, extreme):
    x, dt, A, B, C = _ssd_inputs(length, seed=length, extreme=extreme)
    assert _rel_err(ssd_chunked(x, dt, A, B, C, chunk_size=16), ssd_sequential(x, dt, A, B, C)) < 1e-4


def test_chunked_ssd_crosses_several_recursion_levels():
    # 2000 positions with chunk 8: 250 chunks, scanned over 32 super-chunks, then over 4
    x, dt, A, B, C = _ssd_inputs(2000, seed=1)
    assert _rel_err(ssd_chunked(x, dt, A, B, C, chunk_size=8), ssd_sequential(x, dt, A, B, C)) < 1e-4


def test_chunked_ssd_gradients_match_sequential():
    x, dt, A, B, C = _ssd_inputs(50, seed=3, dtype=torch.float64)
    grads = []
    for fn in (lambda *a: ssd_chunked(*a, chunk_size=16), ssd_sequential):
        inputs = [t.clone().requires_grad_(True) for t in (x, dt, B, C)]
        fn(inputs[0], inputs[1], A, inputs[2], inputs[3]).pow(2).sum().backward()
        grads.append([t.grad for t in inputs])
    for g1, g2 in zip(*grads):
        assert torch.allclose(g1, g2, rtol=1e-8, atol=1e-10)


def test_ssd_accepts_per_row_decay():
    x, dt, A, B, C = _ssd_inputs(40, seed=4)
    A_rows = torch.stack([A, 2 * A])[:, None, :]  # (batch, 1, H): another A per batch row
    out = ssd_chunked(x, dt, A_rows, B, C, chunk_size=16)
    assert _rel_err(out[1:], ssd_sequential(x[1:], dt[1:], 2 * A, B[1:], C[1:])) < 1e-4


@pytest.mark.parametrize("length", [1, 9, 64, 1000])
def test_linear_scan_matches_loop_with_near_total_decay(length):
    g = torch.Generator().manual_seed(length)
    # log(1e-4) is the strongest decay the dechunker's clamp allows
    log_a = torch.log(torch.rand(2, length, 1, generator=g).clamp(1e-4, 1 - 1e-4))
    u = torch.randn(2, length, 1, 5, generator=g)
    ref = linear_scan_sequential(log_a, u)
    assert _rel_err(linear_scan(log_a, u, chunk_size=8), ref) < 1e-5


def _slow_decay_inputs(length, seed, dtype=torch.float64):
    """Decays slow enough that the state carried across many chunks dominates the output."""
    g = torch.Generator().manual_seed(seed)
    b, h, p, n = 2, 4, 8, 16
    x = torch.randn(b, length, h, p, generator=g, dtype=dtype)
    dt = F.softplus(torch.randn(b, length, h, generator=g, dtype=dtype) - 5)
    A = -torch.rand(h, generator=g, dtype=dtype) * 0.1
    B = torch.randn(b, length, n, generator=g, dtype=dtype)
    C = torch.randn(b, length, n, generator=g, dtype=dtype)
    return x, dt, A, B, C


@pytest.mark.parametrize("chunk", [1, 5, 16, 64, 100, 700])
def test_internal_chunk_length_does_not_change_the_result(chunk):
    # 333 is no multiple of any chunk but 1; 700 > 333 gives one short chunk
    x, dt, A, B, C = _slow_decay_inputs(333, seed=chunk)
    ref = ssd_chunked_masked(x, dt, A, B, C, chunk_size=16)
    with torch.no_grad():  # the in-place inference path
        fast = ssd_chunked(x, dt, A, B, C, chunk_size=chunk)
    graded = ssd_chunked(x.clone().requires_grad_(True), dt, A, B, C, chunk_size=chunk)  # the autograd path
    assert _rel_err(fast, ref) < 1e-10
    assert _rel_err(graded.detach(), ref) < 1e-10


def test_masked_formulation_matches_sequential():
    x, dt, A, B, C = _ssd_inputs(100, seed=5, extreme=True)
    assert _rel_err(ssd_chunked_masked(x, dt, A, B, C, chunk_size=16), ssd_sequential(x, dt, A, B, C)) < 1e-4


@pytest.mark.parametrize("chunk", [16, 64])
def test_chunked_ssd_fp32_with_state_carried_over_many_chunks(chunk):
    x, dt, A, B, C = _slow_decay_inputs(600, seed=7, dtype=torch.float32)
    with torch.no_grad():
        assert _rel_err(ssd_chunked(x, dt, A, B, C, chunk_size=chunk), ssd_sequential(x, dt, A, B, C)) < 1e-4


def test_trailing_positions_do_not_change_earlier_outputs():
    # the SSD is causal: outputs for the first 150 positions ignore what follows (and the chunk padding)
    x, dt, A, B, C = _slow_decay_inputs(300, seed=8)
    full = ssd_chunked(x, dt, A, B, C, chunk_size=64)
    head = ssd_chunked(x[:, :150], dt[:, :150], A, B[:, :150], C[:, :150], chunk_size=64)
    assert _rel_err(head, full[:, :150]) < 1e-12


@pytest.mark.parametrize("block", [1, 20, 64, 10_000])
def test_inference_blocks_do_not_change_the_result(block):
    # the no-grad path takes the sequence in blocks (memory flat in length); blocks of 1 chunk
    # (1, 20 < Q) to one block for all: the state crosses block edges unchanged
    from ldarnet.layers.scan import _pad_time, _ssd_inference

    x, dt, A, B, C = _slow_decay_inputs(330, seed=9)
    ref = ssd_chunked_masked(x, dt, A, B, C, chunk_size=16)
    padded = [_pad_time(t, 16) for t in (x, dt, B, C)]
    out = _ssd_inference(padded[0], padded[1], A, padded[2], padded[3], 16, block_positions=block)[0][:, :330]
    assert _rel_err(out, ref) < 1e-10


def test_inference_under_bf16_autocast_runs_in_fp32_and_matches():
    # the no-grad path uses in-place products into an fp32 state; under CPU bf16 autocast it must
    # neither fail (autocast would hand baddbmm_ bf16 operands) nor round the scan to bf16
    x, dt, A, B, C = _ssd_inputs(200, seed=11)
    with torch.no_grad():
        ref = ssd_chunked(x, dt, A, B, C, chunk_size=64)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = ssd_chunked(x, dt, A, B, C, chunk_size=64)
    assert out.dtype == torch.float32
    assert _rel_err(out, ref) < 1e-6


@pytest.mark.parametrize("cut", [1, 17, 100, 329])
def test_continuing_from_the_returned_state_equals_one_call(cut):
    # BiMamba2 takes long rows a block of time at a time: piece by piece from the carried state must
    # give the whole (chunks restart at the cut; the short first piece pads within itself)
    from ldarnet.layers.scan import ssd_chunked_continue

    x, dt, A, B, C = _ssd_inputs(330, seed=13, dtype=torch.float64)
    with torch.no_grad():
        whole, end = ssd_chunked_continue(x, dt, A, B, C, None, chunk_size=16)
        head, state = ssd_chunked_continue(x[:, :cut], dt[:, :cut], A, B[:, :cut], C[:, :cut], None, chunk_size=16)
        kept = state.clone()
        tail, last = ssd_chunked_continue(x[:, cut:], dt[:, cut:], A, B[:, cut:], C[:, cut:], state, chunk_size=16)
    assert torch.equal(state, kept)  # the caller's state is not changed in place
    assert _rel_err(torch.cat([head, tail], dim=1), ssd_sequential(x, dt, A, B, C)) < 1e-10
    assert _rel_err(whole, ssd_sequential(x, dt, A, B, C)) < 1e-10
    assert _rel_err(last, end) < 1e-10


def test_continuing_refuses_autograd():
    from ldarnet.layers.scan import ssd_chunked_continue

    x, dt, A, B, C = _ssd_inputs(20, seed=14)
    with pytest.raises(RuntimeError, match="no autograd"):
        ssd_chunked_continue(x.requires_grad_(), dt, A, B, C, None)
