"""Chunk / dechunk identities and the reverse-direction EMA gate."""

import torch

from ldarnet.chunking import P_MIN, chunk, dechunk, ema
from ldarnet.layers.scan import linear_scan_sequential
from ldarnet.vocab import reverse_within_length


def test_chunk_is_a_stable_compaction():
    h = torch.arange(2 * 7, dtype=torch.float32).view(2, 7, 1)
    boundary = torch.tensor([[1, 0, 1, 1, 0, 0, 1], [1, 0, 0, 0, 0, 0, 0]], dtype=torch.bool)
    chunks, order, mask = chunk(h, boundary)
    assert order[0].tolist() == [0, 2, 3, 6]
    assert chunks[0, :, 0].tolist() == [0, 2, 3, 6]
    assert chunks[1, :, 0].tolist() == [7, 0, 0, 0] and mask[1].tolist() == [True, False, False, False]


def test_ema_matches_its_recurrence():
    torch.manual_seed(0)
    z = torch.randn(2, 50, 3)
    gate = torch.rand(2, 50).clamp(P_MIN, 1 - P_MIN)
    ref = linear_scan_sequential(torch.log1p(-gate).unsqueeze(-1), (gate.unsqueeze(-1) * z).unsqueeze(2)).squeeze(2)
    torch.testing.assert_close(ema(z, gate, chunk_size=8), ref, atol=1e-5, rtol=1e-5)


def _dechunk_chunks(z, p):
    """Dechunk with one position per chunk, so the output is the smoothed chunk sequence itself."""
    m = z.shape[1]
    mask = torch.ones(z.shape[0], m, dtype=torch.bool)
    return dechunk(z, p, mask, mask)


def test_dechunk_commutes_with_reversal():
    # Chunk j starts with boundary probability p_j (the boundary between j-1 and j). Reversing the
    # sequence keeps each boundary between the same two chunks: in reversed order the chunk
    # r = M-1-j starts at the boundary that followed j, so p'_r = p_{j+1} (and p'_0 = 1).
    torch.manual_seed(1)
    m = 12
    z = torch.randn(1, m, 4)
    p = torch.rand(1, m)
    p[0, 0] = 1.0
    p_rev = torch.cat([torch.ones(1, 1), p[:, 1:].flip(1)], dim=1)
    out = _dechunk_chunks(z, p)
    out_rev = _dechunk_chunks(z.flip(1), p_rev)
    torch.testing.assert_close(out_rev.flip(1), out, atol=1e-5, rtol=1e-5)


def test_reverse_gate_is_the_boundary_after_each_chunk():
    # Three chunks with a hard boundary (p=1) before chunk 2 and a soft one (p=0.2) before chunk 1.
    z = torch.tensor([[[1.0], [10.0], [100.0]]])
    p = torch.tensor([[1.0, 0.2, 1.0]])
    out = _dechunk_chunks(z, p)[0, :, 0]
    fwd = [1.0, 0.2 * 10 + 0.8 * 1, 100.0]
    # reverse pass: chunk 2 is last (gate 1); chunk 1 mixes chunk 2 across the hard boundary (gate p_2 = 1);
    # chunk 0 mixes chunk 1 across the soft boundary (gate p_1 = 0.2).
    rev = [0.2 * 1 + 0.8 * 10, 10.0, 100.0]
    expected = torch.tensor([(f + r) / 2 for f, r in zip(fwd, rev)])
    torch.testing.assert_close(out, expected, atol=2e-2, rtol=1e-3)  # 1e-4 clamp on hard gates


def test_dechunk_ignores_padded_chunks_and_runs_in_fp32():
    torch.manual_seed(2)
    z = torch.randn(2, 6, 3)
    p = torch.rand(2, 6)
    p[:, 0] = 1
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]], dtype=torch.bool)
    boundary = mask.clone()
    out = dechunk(z, p, mask, boundary)
    garbage = z.clone()
    garbage[1, 3:] = 1e6
    torch.testing.assert_close(dechunk(garbage, p, mask, boundary)[1, :3], out[1, :3])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = dechunk(z.bfloat16(), p, mask, boundary)
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), out, atol=3e-2, rtol=3e-2)


def test_reverse_within_length_is_an_involution_that_keeps_pads():
    x = torch.arange(10).view(2, 5)
    lengths = torch.tensor([5, 3])
    r = reverse_within_length(x, lengths)
    assert r.tolist() == [[4, 3, 2, 1, 0], [7, 6, 5, 8, 9]]
    assert torch.equal(reverse_within_length(r, lengths), x)


def _shared_direction_sequence() -> torch.Tensor:
    """(1, 8, 4): every position = 10 * e0 (a shared direction) + e1 (positions 0-3) or e2 (positions 4-7)."""
    h = torch.zeros(1, 8, 4)
    h[..., 0] = 10.0
    h[0, :4, 1] = 1.0
    h[0, 4:, 2] = 1.0
    return h


def test_centred_router_sees_differences_a_shared_direction_hides():
    from ldarnet.chunking import Router

    h, mask = _shared_direction_sequence(), torch.ones(1, 8, dtype=torch.bool)
    # plain cosine across the change: 100 / 101 -> p = (1 - 100/101) / 2 < 0.005, no boundary at 4
    p, b = Router(4, "learned", 4.0)(h, mask)
    assert p[0, 4] < 0.005 and b[0].tolist() == [True] + [False] * 7
    # centred: the mean 10 e0 + (e1 + e2) / 2 cancels, the halves become +-(e1 - e2) / 2: cos -1 across, +1 within
    p, b = Router(4, "learned", 4.0, center=True)(h, mask)
    assert torch.allclose(p[0], torch.tensor([1.0, 0, 0, 0, 1, 0, 0, 0]), atol=1e-6)
    assert b[0].tolist() == [True, False, False, False, True, False, False, False]


def test_centring_ignores_pads():
    from ldarnet.chunking import Router, center_over_positions

    h = _shared_direction_sequence()
    padded = torch.cat([h, torch.full((1, 3, 4), 7.0)], dim=1)  # pads hold junk: the encoder zeroes them, a caller may not
    mask = torch.arange(11)[None, :] < 8
    router = Router(4, "learned", 4.0, center=True)
    p, b = router(padded, mask)
    p0, b0 = router(h, torch.ones(1, 8, dtype=torch.bool))
    assert torch.allclose(p[:, :8], p0, atol=1e-6) and torch.equal(b[:, :8], b0)
    assert not b[0, 8:].any() and (p[0, 8:] == 0).all()
    centred = center_over_positions(padded, mask)
    assert torch.allclose(centred[0, :8].sum(0), torch.zeros(4), atol=1e-5) and (centred[0, 8:] == 0).all()


def test_moving_centring_matches_a_hand_mean_over_the_span_and_ignores_pads():
    from ldarnet.chunking import center_over_positions

    torch.manual_seed(3)
    h = torch.randn(2, 12, 3) + 4.0
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[1, 9:] = False  # the second sequence is 9 long; its pads hold junk
    span = 2
    got = center_over_positions(h, mask, span)
    for b in range(2):
        n = int(mask[b].sum())
        for t in range(n):
            near = h[b, max(0, t - span): min(n, t + span + 1)]  # valid positions within +-2
            assert torch.allclose(got[b, t], h[b, t] - near.mean(0), atol=1e-5)
    assert (got[1, 9:] == 0).all()
    # a span that covers the sequence is the whole-sequence mean
    assert torch.allclose(center_over_positions(h, mask, 11), center_over_positions(h, mask, 0), atol=1e-5)


def test_moving_centring_depends_only_on_positions_within_the_span():
    from ldarnet.chunking import center_over_positions

    torch.manual_seed(4)
    h = torch.randn(1, 40, 5)
    mask = torch.ones(1, 40, dtype=torch.bool)
    changed = h.clone()
    changed[0, 30:] += 10.0  # change everything from position 30 on
    a, b = center_over_positions(h, mask, 4), center_over_positions(changed, mask, 4)
    assert torch.equal(a[0, :26], b[0, :26])  # positions 0..25 see nothing past 29
    assert not torch.allclose(a[0, 26], b[0, 26])  # 26 sees position 30
