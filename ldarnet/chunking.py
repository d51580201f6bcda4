"""Dynamic chunking for a bidirectional masked LM (paper §3.3; H-Net's routing, chunk and dechunk).

One stage = route -> chunk -> (inner network) -> dechunk (bidirectional EMA) -> upsample, plus the
confidence straight-through estimator and the ratio loss. The three routers differ only in how they
produce ``p`` and ``b``; everything downstream is the same code, so learned-vs-fixed-vs-none
comparisons change one thing.

- ``learned``: p_t = (1 - mean(cos(q_{t-1}, k_t), cos(q_t, k_{t-1}))) / 2, p_0 = 1, b_t = p_t > 0.5.
- ``fixed`` (the paper's fixbound): b_t = (t mod N == 0), p_t = b_t.
- ``none`` (nochunk): every position is its own chunk, p_t = 1.

Reverse-direction EMA gate. The forward EMA mixes chunk j-1 into chunk j with weight 1 - p_j, where
p_j is the boundary probability at the start of chunk j, i.e. the boundary *between* j-1 and j. The
reverse EMA mixes chunk j+1 into chunk j, so it uses the same boundary, p_{j+1} (and 1 after the
last chunk). Each boundary then gates the mixing across it identically in both directions, and the
dechunker commutes with reversing the sequence (tested in tests/test_chunking.py). The public
LDARNet code gates the reverse pass with p_j instead, which ties the mixing of j and j+1 to the
boundary on the far side of j.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import kernels
from .layers.scan import linear_scan
from .vocab import reverse_within_length

P_MIN = 1e-4  # EMA gates live in [P_MIN, 1 - P_MIN]: log(1 - p) stays finite, gradients stay defined


def center_over_positions(h: torch.Tensor, mask: torch.Tensor, span: int = 0) -> torch.Tensor:
    """Subtract from each position the mean vector of its sequence's valid positions; pads stay 0.

    h (B, L, d), mask (B, L) bool -> (B, L, d) of h's dtype. ``span`` = 0 takes the mean over the whole
    sequence; ``span`` > 0 over the valid positions within +-span of each position (a moving mean, so a
    position's value does not depend on anything further away). A direction shared by every position
    (what MLM updates of the encoder build up early in training) cancels either way, so the router's
    cosines see how adjacent positions *differ* instead of saturating towards 1.
    """
    valid = mask.unsqueeze(-1).to(h.dtype)
    if span <= 0 or span + 1 >= h.shape[1]:  # the span covers the sequence: one mean per sequence
        mean = (h * valid).sum(dim=1, keepdim=True) / valid.sum(dim=1, keepdim=True).clamp(min=1)
        return (h - mean) * valid
    # windowed sums as differences of running sums, in float64: in float32 the difference of two sums
    # over ~1e4 positions would keep only ~3 digits, and tiles would disagree with whole sequences
    length = h.shape[1]
    sums = F.pad(torch.cumsum((h * valid).double(), dim=1), (0, 0, 1, 0))  # (B, L + 1, d), sums[t] = sum over [0, t)
    counts = F.pad(torch.cumsum(valid.double(), dim=1), (0, 0, 1, 0))
    t = torch.arange(length, device=h.device)
    hi, lo = (t + span + 1).clamp(max=length), (t - span).clamp(min=0)
    mean = (sums[:, hi] - sums[:, lo]) / (counts[:, hi] - counts[:, lo]).clamp(min=1)
    return (h - mean.to(h.dtype)) * valid


class Router(nn.Module):
    def __init__(self, d_model: int, kind: str, target_ratio: float, center: bool = False, center_span: int = 0):
        super().__init__()
        self.kind, self.target_ratio = kind, target_ratio
        # center: cosines on q, k centred over each sequence's valid positions (config.router_centering),
        # within +-center_span of each position (0: the whole sequence; config.router_centering_span)
        self.center, self.center_span = center, center_span
        if kind == "learned":
            self.q_proj = nn.Linear(d_model, d_model, bias=False)
            self.k_proj = nn.Linear(d_model, d_model, bias=False)
            with torch.no_grad():
                self.q_proj.weight.copy_(torch.eye(d_model))
                self.k_proj.weight.copy_(torch.eye(d_model))
            self.q_proj.weight._no_reinit = self.k_proj.weight._no_reinit = True

    def forward(self, h: torch.Tensor, mask: torch.Tensor, detach_params: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """h (B, L, d), mask (B, L) bool -> p (B, L) float32 (0 at pads), b (B, L) bool (False at pads).

        ``detach_params``: the same values, with no gradient to the router's own projections (h keeps its).
        """
        b, length, _ = h.shape
        t = torch.arange(length, device=h.device)
        if self.kind == "learned":
            # fp32 even under autocast: p sits near 0.5, where bf16 projections would flip decisions
            # and make a bf16-trained model's boundaries differ from its fp32 extraction
            with torch.autocast(device_type=h.device.type, enabled=False):
                hf = center_over_positions(h.float(), mask, self.center_span) if self.center else h.float()
                if detach_params:
                    q, k = F.linear(hf, self.q_proj.weight.detach()), F.linear(hf, self.k_proj.weight.detach())
                else:
                    q, k = self.q_proj(hf), self.k_proj(hf)  # no bias: centring h centres q and k
            if kernels.use_kernels(q):  # cosines, p and decisions fused (ldarnet/kernels/router.py)
                fused = kernels.router_probs(q, k, mask)
                return fused.p, fused.boundary
            q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
            cos_fwd = (q[:, :-1] * k[:, 1:]).sum(-1)  # cos(q_{t-1}, k_t)
            cos_bwd = (q[:, 1:] * k[:, :-1]).sum(-1)  # cos(q_t, k_{t-1})
            p = ((1 - 0.5 * (cos_fwd + cos_bwd)) / 2).clamp(0.0, 1.0)
            p = torch.cat([p.new_ones(b, 1), p], dim=1)
            boundary = p > 0.5
        elif self.kind == "fixed":
            boundary = (t % int(self.target_ratio) == 0).expand(b, length)
            p = boundary.float()
        else:
            boundary = torch.ones(b, length, dtype=torch.bool, device=h.device)
            p = boundary.float()
        return p * mask, boundary & mask


def protect_masked(p: torch.Tensor, boundary: torch.Tensor, masked: torch.Tensor,
                   mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mask protection (DNAChunker): every masked position and its successor become boundaries.

    A masked base is then a chunk of one, so the inner network sees it alone and the EMA dechunker
    (gate p = 1 on both sides of it) neither smears it into its neighbours nor them into it.

    Parameters
    ----------
    p : (B, L) float32 boundary probabilities; boundary : (B, L) bool; masked : (B, L) bool, the
        [MASK] positions; mask : (B, L) bool, valid positions.

    Returns
    -------
    ``(p, boundary, forced)``: p set to 1 and boundary to True at the forced positions (so the
    confidence STE passes no gradient to the router there), and ``forced`` (B, L) bool.
    """
    after = torch.cat([masked.new_zeros(masked.shape[0], 1), masked[:, :-1]], dim=1)
    forced = (masked | after) & mask
    return torch.where(forced, torch.ones_like(p), p), boundary | forced, forced


def chunk(h: torch.Tensor, boundary: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Keep the vectors at boundaries, in order, left-aligned (stable compaction).

    Returns ``(h_chunks (B, M, d) zero past each length, order (B, M) source position of each chunk,
    mask (B, M) bool)`` with ``M = max chunks per sequence``.
    """
    b, length, _ = h.shape
    lengths = boundary.sum(dim=1)
    m = max(int(lengths.max()), 1) if b else 1
    key = torch.arange(length, device=h.device) + (~boundary) * length  # boundaries sort first, in order
    order = torch.argsort(key, dim=1)[:, :m]
    mask = torch.arange(m, device=h.device)[None, :] < lengths[:, None]
    picked = torch.gather(h, 1, order.unsqueeze(-1).expand(-1, -1, h.shape[-1]))
    return picked * mask.unsqueeze(-1).to(h.dtype), order, mask


def ema(z: torch.Tensor, gate: torch.Tensor, chunk_size: int = 64) -> torch.Tensor:
    """``s_j = gate_j * z_j + (1 - gate_j) * s_{j-1}``; z (B, M, d), gate (B, M) in (0, 1). fp32."""
    out = linear_scan(torch.log1p(-gate).unsqueeze(-1), (gate.unsqueeze(-1) * z).unsqueeze(2), chunk_size)
    return out.squeeze(2)


def dechunk(z: torch.Tensor, p_chunks: torch.Tensor, mask: torch.Tensor, boundary: torch.Tensor,
            reverse_gate: str = "next") -> torch.Tensor:
    """Bidirectional EMA over chunks, then upsample to the boundary resolution.

    Parameters
    ----------
    z : (B, M, d) inner-network output per chunk.
    p_chunks : (B, M) boundary probability at each chunk's first position.
    mask : (B, M) bool, valid chunks.
    boundary : (B, L) bool, the boundary mask the chunks came from.
    reverse_gate : ``"next"`` (default) gates the reverse EMA at chunk j with p_{j+1} (1 after the last
        chunk); ``"own"`` uses p_j, the public LDARNet code's choice (its reverse scan also starts from a
        zero state, so the last chunk enters scaled by its own p), for models imported from it.

    Returns
    -------
    (B, L, d) in the dtype of ``z``; computed in fp32 whatever the autocast dtype.
    """
    with torch.autocast(device_type=z.device.type, enabled=False):
        zf = z.float() * mask.unsqueeze(-1)
        lengths = mask.sum(dim=1)
        p = p_chunks.float().clamp(P_MIN, 1 - P_MIN)
        # reverse gate for chunk j is the boundary after it, p_{j+1}; 1 after the last chunk
        j = torch.arange(p.shape[1], device=p.device)[None, :]
        after = torch.cat([p[:, 1:], p.new_ones(p.shape[0], 1)], dim=1)
        after = torch.where(j >= lengths[:, None] - 1, torch.full_like(after, 1 - P_MIN), after)
        if reverse_gate == "own":
            after = p
        elif reverse_gate != "next":
            raise ValueError(f"reverse_gate={reverse_gate!r}; choose 'next' or 'own'")
        if kernels.use_kernels(z):  # both directions in one kernel (ldarnet/kernels/ema.py)
            smooth = kernels.bidirectional_ema(z, p, after, lengths)
        else:
            forward = ema(zf, p)
            backward = reverse_within_length(
                ema(reverse_within_length(zf, lengths), reverse_within_length(after, lengths)), lengths)
            smooth = 0.5 * (forward + backward) * mask.unsqueeze(-1)
        index = (boundary.long().cumsum(dim=1) - 1).clamp(min=0)  # chunk of each position
        up = torch.gather(smooth, 1, index.unsqueeze(-1).expand(-1, -1, smooth.shape[-1]))
    return up.to(z.dtype)


class _StraightThrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.ones_like(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


def confidence_ste(p: torch.Tensor, boundary: torch.Tensor) -> torch.Tensor:
    """1 in the forward pass; passes gradient to c_t = p_t (boundary) or 1 - p_t (no boundary)."""
    return _StraightThrough.apply(torch.where(boundary, p, 1 - p))


def ratio_loss(p: torch.Tensor, boundary: torch.Tensor, mask: torch.Tensor, target_ratio: float) -> torch.Tensor:
    """H-Net's ratio loss over valid positions: N/(N-1) * ((N-1) F G + (1-F)(1-G)), minimal (=1) at F = G = 1/N.

    F = fraction of valid positions that are boundaries (no gradient); G = mean boundary probability.
    """
    n = target_ratio
    valid = mask.float()
    count = valid.sum().clamp(min=1)
    f = (boundary.float() * valid).sum() / count
    g = (p.float() * valid).sum() / count
    return n / (n - 1) * ((n - 1) * f * g + (1 - f) * (1 - g))
