"""Non-causal local attention (each token sees positions within +-W) with rotary embeddings.

Memory is linear in length: queries are cut into blocks of ``block_size`` and each block attends to
its own key window of ``block_size + 2W`` positions through ``scaled_dot_product_attention`` on 4-D
tensors (windows folded into the batch), a few blocks at a time. No L x L mask is ever built, so
L = 65,536 runs on a laptop. ``window == -1`` (or a window that covers the whole sequence) falls
back to ordinary masked attention.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def rotary_tables(length: int, dim: int, device, dtype, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, device=device, dtype=torch.float32) / dim))
    angles = torch.arange(length, device=device, dtype=torch.float32)[:, None] * inv_freq[None, :]
    angles = torch.cat([angles, angles], dim=-1)  # (L, dim)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the first ``cos.shape[-1]`` channels of x (B, L, H, Dh), half-split (GPT-NeoX) convention."""
    dim = cos.shape[-1]
    rot, rest = x[..., :dim], x[..., dim:]
    x1, x2 = rot.chunk(2, dim=-1)
    rotated = torch.cat([-x2, x1], dim=-1)
    rot = rot * cos[None, :, None, :] + rotated * sin[None, :, None, :]
    return torch.cat([rot, rest], dim=-1)


class LocalAttention(nn.Module):
    def __init__(self, d_model: int, num_heads: int, rotary_dim: int, window: int,
                 block_size: int = 256, blocks_per_call: int = 32):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, d_model // num_heads
        self.rotary_dim, self.window = rotary_dim, window
        self.block_size, self.blocks_per_call = block_size, blocks_per_call
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out_proj = nn.Linear(d_model, d_model, bias=False)
        self.out_proj._residual_out = True

    def forward(self, x: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, L, d), mask (B, L) bool -> (B, L, d), zero at pads."""
        b, length, d = x.shape
        q, k, v = self.qkv(x).view(b, length, 3, self.num_heads, self.head_dim).unbind(dim=2)
        if self.rotary_dim:
            cos, sin = rotary_tables(length, self.rotary_dim, x.device, q.dtype)
            q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if self.window < 0 or length <= self.window + 1:
            out = self._dense(q, k, v, mask)
        else:
            out = self._banded(q, k, v, mask)
        return self.out_proj(out.reshape(b, length, d)) * mask.unsqueeze(-1).to(x.dtype)

    def _dense(self, q, k, v, mask):
        # Pads attend to themselves only, so no row of the mask is empty (an empty row gives NaN).
        allowed = mask[:, None, None, :] | torch.eye(q.shape[1], dtype=torch.bool, device=q.device)
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=allowed)
        return out.transpose(1, 2)

    def _banded(self, q, k, v, mask):
        b, length, h, dh = q.shape
        W, Bq = self.window, min(self.block_size, length)
        n_blocks = -(-length // Bq)
        padded = n_blocks * Bq
        span = Bq + 2 * W  # keys seen by one query block
        q = F.pad(q, (0, 0, 0, 0, 0, padded - length)).view(b, n_blocks, Bq, h, dh)
        # keys/values/validity padded by W on the left and W + block padding on the right
        k = F.pad(k, (0, 0, 0, 0, W, W + padded - length))
        v = F.pad(v, (0, 0, 0, 0, W, W + padded - length))
        valid = F.pad(mask, (W, W + padded - length), value=False).unfold(1, span, Bq)  # (b, n_blocks, span)
        offset = torch.arange(span, device=q.device)[None, :] - torch.arange(Bq, device=q.device)[:, None]
        band = (offset >= 0) & (offset <= 2 * W)  # (Bq, span): key j of the window is within +-W of query i
        own = offset == W  # each query's own position, always allowed (see _dense)
        out = torch.empty(b, n_blocks, Bq, h, dh, dtype=q.dtype, device=q.device)
        # Blocks whose keys are all real share one broadcast band mask; only blocks at a sequence
        # edge or in padding get their own (a materialised mask made attention ~1.6x slower).
        clean = valid.all(dim=-1)
        if _split_applies(q, W, Bq):
            # Without autograd on CPU, each run of clean blocks goes through _split_band on views (no
            # gathered copies, no mask on most keys); the rest take the masked path below.
            for row in range(b):
                for first, stop in _runs(clean[row]):
                    out[row, first:stop] = _split_band(q[row, first:stop], k[row, first * Bq:], v[row, first * Bq:], W, stop - first)
            todo = [(~clean, False)]
        else:
            todo = [(clean, True), (~clean, False)]
        k, v = k.unfold(1, span, Bq), v.unfold(1, span, Bq)  # (b, n_blocks, h, dh, span) views
        for selected, blocks_clean in todo:
            rows, cols = selected.nonzero(as_tuple=True)
            for first in range(0, len(rows), self.blocks_per_call):
                r, c = rows[first:first + self.blocks_per_call], cols[first:first + self.blocks_per_call]
                allowed = band[None, None] if blocks_clean else ((band[None] & valid[r, c][:, None, :]) | own[None])[:, None]
                o = F.scaled_dot_product_attention(
                    q[r, c].transpose(1, 2), k[r, c].transpose(-1, -2), v[r, c].transpose(-1, -2), attn_mask=allowed)
                out[r, c] = o.transpose(1, 2)
        return out.view(b, padded, h, dh)[:, :length]


_FLASH_CPU = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)


def _split_applies(q: torch.Tensor, window: int, block: int) -> bool:
    """Whether ``_split_band`` may run: CPU, no autograd (its log-sum-exp output has no gradient),
    a torch that has the CPU flash kernel, and a window wide enough (W >= block) for the split to pay."""
    return _FLASH_CPU is not None and q.device.type == "cpu" and not torch.is_grad_enabled() and window >= block


def _runs(flags: torch.Tensor) -> list[tuple[int, int]]:
    """``[first, stop)`` of every run of True in a 1-D bool tensor."""
    edges = torch.diff(F.pad(flags.to(torch.int8), (1, 1))).nonzero().flatten().tolist()
    return list(zip(edges[0::2], edges[1::2]))


def _split_band(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, W: int, n: int) -> torch.Tensor:
    """Banded attention of ``n`` consecutive query blocks whose keys are all real, as three attention
    calls merged by their log-sum-exp.

    Query i of a block (0 <= i < Bq) sees keys j in [i, i + 2W] of the block's window (j counts from
    W before the block). Every query sees all of [Bq, 2W), so that middle needs no mask; the
    first Bq keys (query i sees j >= i) and the last Bq (j <= 2W + i) take a small triangular mask,
    and every query sees at least one key of each part. Each part's keys are a strided view of ``k``
    and ``v`` (no copy), and no key outside the band is scored except within the two triangles.

    q (n, Bq, H, Dh); k, v (>= n * Bq + 2W, H, Dh) starting at the first block's window; -> (n, Bq, H, Dh).
    """
    Bq = q.shape[1]
    i = torch.arange(Bq, device=q.device)
    blocked = torch.full((Bq, Bq), float("-inf"), dtype=q.dtype, device=q.device)
    parts = []
    for lo, size, allowed in ((0, Bq, i[None, :] >= i[:, None]), (Bq, 2 * W - Bq, None), (2 * W, Bq, i[None, :] <= i[:, None])):
        keys = k[lo:].unfold(0, size, Bq)[:n].permute(0, 1, 3, 2)  # (n, H, size, Dh) view
        values = v[lo:].unfold(0, size, Bq)[:n].permute(0, 1, 3, 2)
        bias = None if allowed is None else blocked.masked_fill(allowed, 0.0)
        parts.append(_FLASH_CPU(q.transpose(1, 2), keys, values, attn_mask=bias)[:2])  # (n, H, Bq, Dh), (n, H, Bq)
    lse = torch.stack([p[1] for p in parts]).float()  # (3, n, H, Bq)
    weight = torch.softmax(lse, dim=0).unsqueeze(-1)  # each part's share of the softmax mass
    out = sum(p[0].float() * w for p, w in zip(parts, weight))
    return out.transpose(1, 2).to(q.dtype)
