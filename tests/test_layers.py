"""BiMamba-2 and local attention against straightforward references."""

import torch
import torch.nn.functional as F

from ldarnet.layers.attention import LocalAttention, apply_rotary, rotary_tables
from ldarnet.layers.mamba2 import BiMamba2


def _bimamba(fusion="mean"):
    torch.manual_seed(0)
    return BiMamba2(16, d_state=8, d_conv=4, expand=2, headdim=8, chunk_size=8, fusion=fusion)


def test_bimamba_reverse_pass_sees_the_reversed_sequence():
    layer = _bimamba()
    x = torch.randn(1, 21, 16)
    mask = torch.ones(1, 21, dtype=torch.bool)
    lengths = torch.tensor([21])
    both = layer(x, mask, lengths)
    # zero the reverse direction's contribution by giving it a zero norm weight
    with torch.no_grad():
        layer.norm_weight[1].zero_()
    fwd_only = layer(x, mask, lengths)
    with torch.no_grad():
        layer.norm_weight[1].fill_(1.0)
        layer.norm_weight[0].zero_()
    rev_only = layer(x, mask, lengths)
    torch.testing.assert_close(both, fwd_only + rev_only, atol=1e-6, rtol=1e-5)
    # the reverse direction of x equals the forward direction of flip(x) with the directions' kernels swapped
    with torch.no_grad():
        for name in ("conv_weight", "conv_bias", "dt_bias", "A_log", "D", "norm_weight"):
            getattr(layer, name).copy_(getattr(layer, name).flip(0))
    swapped_fwd = layer(x.flip(1), mask, lengths)  # now forward-direction kernels are the old reverse ones, norm[1]=0
    torch.testing.assert_close(swapped_fwd.flip(1), rev_only, atol=1e-6, rtol=1e-5)


def test_bimamba_sum_is_twice_mean_and_pads_are_zero():
    x = torch.randn(2, 13, 16)
    mask = torch.ones(2, 13, dtype=torch.bool)
    mask[1, 9:] = False
    lengths = mask.sum(1)
    mean, total = _bimamba("mean")(x, mask, lengths), _bimamba("sum")(x, mask, lengths)
    torch.testing.assert_close(total, 2 * mean)
    assert (mean[1, 9:] == 0).all()


def _dense_reference(att, x, mask):
    b, length, d = x.shape
    q, k, v = att.qkv(x).view(b, length, 3, att.num_heads, att.head_dim).unbind(2)
    cos, sin = rotary_tables(length, att.rotary_dim, x.device, x.dtype)
    q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
    i = torch.arange(length)
    allowed = ((i[:, None] - i[None, :]).abs() <= att.window)[None, None] & mask[:, None, None, :]
    allowed = allowed | torch.eye(length, dtype=torch.bool)
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=allowed)
    return att.out_proj(out.transpose(1, 2).reshape(b, length, d)) * mask.unsqueeze(-1)


def test_banded_attention_equals_dense_band_mask():
    torch.manual_seed(0)
    att = LocalAttention(32, num_heads=4, rotary_dim=4, window=5, block_size=4, blocks_per_call=3)
    x = torch.randn(2, 37, 32)
    mask = torch.ones(2, 37, dtype=torch.bool)
    mask[1, 30:] = False
    torch.testing.assert_close(att(x, mask), _dense_reference(att, x, mask), atol=1e-5, rtol=1e-4)


def test_attention_window_limits_what_a_token_sees():
    torch.manual_seed(0)
    att = LocalAttention(16, num_heads=2, rotary_dim=0, window=3, block_size=4)
    x = torch.randn(1, 30, 16)
    mask = torch.ones(1, 30, dtype=torch.bool)
    base = att(x, mask)
    x2 = x.clone()
    x2[0, 20] += 5.0
    moved = (att(x2, mask) - base).abs().sum(-1)[0]
    assert moved[17:24].gt(0).all() and moved[:17].eq(0).all() and moved[24:].eq(0).all()


def test_rotary_preserves_norms_and_depends_on_offset_only():
    cos, sin = rotary_tables(12, 8, "cpu", torch.float32)
    q, k = torch.randn(1, 1, 1, 8).expand(1, 12, 1, 8), torch.randn(1, 1, 1, 8).expand(1, 12, 1, 8)
    rq, rk = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
    torch.testing.assert_close(rq.norm(dim=-1), q.norm(dim=-1))
    dots = (rq[0, 3:, 0] * rk[0, :-3, 0]).sum(-1)  # offset 3 everywhere
    torch.testing.assert_close(dots, dots[0].expand_as(dots), atol=1e-5, rtol=1e-5)


def test_bimamba_conv_equals_causal_conv1d():
    layer = _bimamba()
    xbc = torch.randn(2, 3, 11, layer.d_inner + 2 * layer.d_state)  # (direction, B, L, C)
    ref = []
    for direction in range(2):
        inp = F.pad(xbc[direction].transpose(1, 2), (layer.d_conv - 1, 0))
        out = F.conv1d(inp, layer.conv_weight[direction, :, None, :], layer.conv_bias[direction], groups=inp.shape[1])
        ref.append(F.silu(out).transpose(1, 2))
    with torch.no_grad():
        torch.testing.assert_close(layer._conv(xbc[0], xbc[1], inplace=True), torch.stack(ref), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(layer._conv(xbc[0], xbc[1], inplace=False), torch.stack(ref), atol=1e-6, rtol=1e-5)


def test_bimamba_cpu_chunk_length_and_grad_mode_do_not_change_the_output(monkeypatch):
    from ldarnet.layers import mamba2

    layer = _bimamba()
    x = torch.randn(2, 45, 16)
    mask = torch.ones(2, 45, dtype=torch.bool)
    mask[1, 30:] = False
    lengths = mask.sum(1)
    outs = []
    for chunk in (None, 5, 64):  # None: the config's chunk_size (8)
        monkeypatch.setattr(mamba2, "CPU_CHUNK_SIZE", chunk)
        with torch.no_grad():
            outs.append(layer(x, mask, lengths))
    outs.append(layer(x, mask, lengths).detach())  # autograd path (no in-place ops)
    for out in outs[1:]:
        torch.testing.assert_close(out, outs[0], atol=1e-5, rtol=1e-4)


def test_bimamba_in_time_blocks_equals_the_whole_row(monkeypatch):
    # no grad, unpadded rows longer than CPU_MIXER_BLOCK: the two directions sweep blocks with carried
    # SSD states and conv histories from the neighbouring block (a last block shorter than the rest)
    from ldarnet.layers import mamba2

    layer = _bimamba()
    x = torch.randn(2, 45, 16)
    mask, lengths = torch.ones(2, 45, dtype=torch.bool), torch.tensor([45, 45])
    calls, blocked = [], mamba2.BiMamba2._forward_in_blocks

    def counted(self, x, step):  # records that the blocked path ran, and with which block
        calls.append(step)
        return blocked(self, x, step)

    monkeypatch.setattr(mamba2.BiMamba2, "_forward_in_blocks", counted)
    with torch.no_grad():
        monkeypatch.setattr(mamba2, "CPU_MIXER_BLOCK", None)
        whole = layer(x, mask, lengths)
        for step in (2, 16, 44):
            monkeypatch.setattr(mamba2, "CPU_MIXER_BLOCK", step)
            torch.testing.assert_close(layer(x, mask, lengths), whole, atol=1e-5, rtol=1e-4)
    assert calls == [2, 16, 44]


def test_bimamba_padded_row_equals_the_row_alone():
    layer = _bimamba()
    x = torch.randn(2, 40, 16)
    mask = torch.ones(2, 40, dtype=torch.bool)
    mask[1, 23:] = False
    with torch.no_grad():
        batched = layer(x, mask, mask.sum(1))
        alone = layer(x[1:, :23], mask[1:, :23], torch.tensor([23]))
    torch.testing.assert_close(batched[1:, :23], alone, atol=1e-5, rtol=1e-4)
    assert (batched[1, 23:] == 0).all()


def test_banded_attention_without_autograd_equals_dense_band_mask():
    # no grad on CPU: runs of clean blocks take the three-part split (_split_band), the rest the masked path
    from ldarnet.layers import attention

    torch.manual_seed(0)
    att = LocalAttention(32, num_heads=4, rotary_dim=4, window=6, block_size=4)
    x = torch.randn(3, 61, 32)
    mask = torch.ones(3, 61, dtype=torch.bool)
    mask[1, 40:] = False
    mask[2, 9:] = False  # too short for any clean block
    with torch.no_grad():
        assert attention._split_applies(x, 6, 4)
        torch.testing.assert_close(att(x, mask), _dense_reference(att, x, mask), atol=1e-5, rtol=1e-4)


def test_runs_finds_every_run_of_true():
    from ldarnet.layers.attention import _runs

    assert _runs(torch.tensor([0, 1, 1, 0, 1, 0, 0, 1, 1, 1], dtype=torch.bool)) == [(1, 3), (4, 5), (7, 10)]
    assert _runs(torch.zeros(4, dtype=torch.bool)) == [] and _runs(torch.ones(3, dtype=torch.bool)) == [(0, 3)]
