"""Token merging for MergeDNA: local merges inside fixed base blocks, a global merge, and unmerging.

Hand-written: no library merges *adjacent* tokens under per-window budgets while tracking a
source map as an index per base (ToMe and DTEM merge arbitrary bipartite pairs over images).

Coordinates are 0-based. A batch of token sequences is right-padded. The **source map** is
``source`` (B, N) int64: the token holding each base; it is never a dense (L x N) matrix, so the
memory of merging is linear in N. Tokens are always runs of consecutive bases, so ``sizes`` (run
lengths) and ``starts`` describe them fully.

Local merging (paper Sec. 3.3, Eq. 5). The bases are cut into fixed blocks of ``G`` bases
(block k = bases [k*G, (k+1)*G)). A pair of adjacent tokens may merge only if both lie in the same
block, so a token never crosses a block edge, at any layer. In each block the ``r`` best-scored
pairs merge (fewer where the block has fewer pairs, e.g. at the end of a sequence); chains of
selected pairs merge into one token, so a block of n tokens always ends with n - r. The merged
token is the size-weighted average of its members: the first member is the keeper, the others
are mergers. Why base blocks rather than windows of ``w`` tokens: a token window's position
depends on every merge to its left, so boundaries would depend on the whole sequence; with base
blocks they depend only on nearby bases, and tiles aligned to G reproduce the whole-sequence result.

Differentiability (DTEM-style). Selection is hard (top-r). Each merger's weight in the average is
``size * (1 + s - s.detach())``: exactly ``size`` in the forward pass, but the gradient reaches
the pair score ``s``, so the grouping embedding learns from the reconstruction losses.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

__all__ = ["Tokens", "initial_tokens", "pair_scores", "select_merges", "merge_tokens", "local_merge",
           "unmerge", "token_starts", "global_merge", "adaptive_mask"]


@dataclass
class Tokens:
    """A batch of merged tokens and where their bases came from."""

    x: torch.Tensor  # (B, T, d) token features, zero at pads
    mask: torch.Tensor  # (B, T) bool, right-padded
    sizes: torch.Tensor  # (B, T) int64 bases per token (0 at pads)
    starts: torch.Tensor  # (B, T) int64 first base of each token (0 at pads)
    source: torch.Tensor  # (B, N) int64 token index of every base (0 at pad bases)
    base_mask: torch.Tensor  # (B, N) bool real bases
    pair_score: torch.Tensor  # (B, N) float32: score s of the pair (base i-1 | base i) the last time base i started a token; 0 at i=0 and pads


def initial_tokens(x: torch.Tensor, mask: torch.Tensor) -> Tokens:
    """One token per base: x (B, N, d), mask (B, N) bool."""
    b, n = mask.shape
    pos = torch.arange(n, device=x.device).expand(b, n)
    zero = torch.zeros_like(pos)
    return Tokens(x=x, mask=mask, sizes=mask.long(), starts=torch.where(mask, pos, zero),
                  source=torch.where(mask, pos, zero), base_mask=mask,
                  pair_score=torch.zeros(b, n, dtype=torch.float32, device=x.device))


def pair_scores(g: torch.Tensor) -> torch.Tensor:
    """Similarity of adjacent tokens from grouping embeddings g (B, T, e): (1 + cos) / 2 in [0, 1], (B, T-1)."""
    g = F.normalize(g.float(), dim=-1)
    return (0.5 * (1.0 + (g[:, :-1] * g[:, 1:]).sum(-1))).clamp(0.0, 1.0)  # rounding can step past 1


def select_merges(scores: torch.Tensor, tokens: Tokens, r: int, block: int) -> torch.Tensor:
    """Which adjacent pairs merge: the top-``r`` scores inside each block of ``block`` bases.

    scores (B, T-1) float; returns (B, T-1) bool, True where token t+1 merges into token t.
    Vectorised: pair t is written into a (B, n_blocks, block) grid at its right token's first base
    (unique within a block, never at the block's first base), then ``topk`` runs per block row.
    """
    b, t = tokens.mask.shape
    if t < 2 or r <= 0:
        return torch.zeros(b, max(t - 1, 0), dtype=torch.bool, device=scores.device)
    n = tokens.source.shape[1]
    n_blocks = -(-n // block)
    width = n_blocks * block
    right = tokens.starts[:, 1:]
    valid = tokens.mask[:, 1:] & (tokens.starts[:, :-1] // block == right // block)
    where = torch.where(valid, right, torch.full_like(right, width))  # column `width` is a dump
    grid = torch.full((b, width + 1), float("-inf"), device=scores.device)
    grid.scatter_(1, where, torch.where(valid, scores.detach().float(), torch.full_like(grid[:, :1], float("-inf"))))
    values, index = grid[:, :width].view(b, n_blocks, block).topk(min(r, block - 1), dim=-1)
    chosen = torch.zeros(b, n_blocks, block, dtype=torch.bool, device=scores.device)
    chosen.scatter_(-1, index, torch.isfinite(values))
    return chosen.view(b, width).gather(1, right.clamp(max=width - 1)) & valid


def merge_tokens(tokens: Tokens, merged: torch.Tensor, scores: torch.Tensor | None = None) -> Tokens:
    """Apply the merges ``merged`` (B, T-1) bool; ``scores`` (B, T-1) carries the straight-through gradient."""
    x, mask = tokens.x, tokens.mask
    b, t, d = x.shape
    first = torch.ones(b, t, dtype=torch.bool, device=x.device)
    first[:, 1:] = ~merged
    group = first.long().cumsum(1) - 1  # (B, T) new index of every old token
    n_new = (first & mask).sum(1)
    t_new = int(n_new.max()) if b else 0
    target = torch.where(mask, group, torch.full_like(group, t_new))  # pads go to a dump slot
    weight = tokens.sizes.to(x.dtype)
    if scores is not None and t > 1:
        factor = torch.ones(b, t, dtype=scores.dtype, device=x.device)
        factor[:, 1:] = torch.where(merged, 1.0 + scores - scores.detach(), factor[:, 1:])
        weight = weight * factor.to(x.dtype)
    num = x.new_zeros(b, t_new + 1, d).scatter_add(1, target[..., None].expand(-1, -1, d), x * weight[..., None])
    den = weight.new_zeros(b, t_new + 1).scatter_add(1, target, weight)
    new_mask = torch.arange(t_new, device=x.device)[None, :] < n_new[:, None]
    new_x = num[:, :t_new] / den[:, :t_new].clamp_min(1e-6)[..., None] * new_mask[..., None].to(x.dtype)
    sizes = tokens.sizes.new_zeros(b, t_new + 1).scatter_add(1, target, tokens.sizes)[:, :t_new]
    starts = torch.where(new_mask, sizes.cumsum(1) - sizes, torch.zeros_like(sizes))
    source = torch.where(tokens.base_mask, group.gather(1, tokens.source), torch.zeros_like(tokens.source))
    return replace(tokens, x=new_x, mask=new_mask, sizes=sizes, starts=starts, source=source)


def record_pair_scores(tokens: Tokens, scores: torch.Tensor) -> torch.Tensor:
    """``tokens.pair_score`` with this layer's scores written at every token start after the first."""
    b, n = tokens.base_mask.shape
    real = tokens.mask[:, 1:]
    where = torch.where(real, tokens.starts[:, 1:], torch.full_like(tokens.starts[:, 1:], n))
    out = torch.cat([tokens.pair_score, tokens.pair_score.new_zeros(b, 1)], dim=1)
    out.scatter_(1, where, torch.where(real, scores.detach().float(), out[:, :1].expand_as(real)))
    return out[:, :n]


def local_merge(tokens: Tokens, scores: torch.Tensor, r: int, block: int) -> Tokens:
    """One Local Encoder merge: record the scores, select the top-r pairs per block, merge them."""
    tokens = replace(tokens, pair_score=record_pair_scores(tokens, scores))
    return merge_tokens(tokens, select_merges(scores, tokens, r, block), scores)


def unmerge(z: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """Copy each token's features to every position it covers: z (B, T, d), source (B, N) -> (B, N, d).

    Equals ``S^T z`` of the paper for a 0/1 source matrix S, without building S.
    """
    return z.gather(1, source[..., None].expand(-1, -1, z.shape[-1]))


def token_starts(tokens: Tokens) -> tuple[torch.Tensor, torch.Tensor]:
    """Boundaries in base coordinates: (boundary_mask (B, N) bool, boundary_prob (B, N) float32).

    boundary_mask[i]: a token starts at base i (always at base 0). boundary_prob[i] = 1 - s, with
    s the pair score across (i-1, i) at the last layer where base i still started a token: low
    where the pair merged with a high score, high where it stayed apart. 1 at base 0, 0 at pads.
    """
    src, real = tokens.source, tokens.base_mask
    mask = torch.zeros_like(real)
    mask[:, 0] = real[:, 0]
    mask[:, 1:] = (src[:, 1:] != src[:, :-1]) & real[:, 1:]
    prob = torch.where(real, 1.0 - tokens.pair_score, torch.zeros_like(tokens.pair_score))
    prob[:, 0] = real[:, 0].float()
    return mask, prob


def global_merge(x: torch.Tensor, mask: torch.Tensor, keep: torch.Tensor, proj: torch.nn.Module):
    """ToMe-style merging at the global scale: each sequence's L tokens down to ``keep`` (B,) groups.

    Bipartite soft matching in rounds (each round can at most halve a sequence): even tokens pick
    their most similar odd token (cosine of ``proj`` embeddings) and the best-scored picks merge,
    size-weighted. Groups need not be contiguous. Returns ``(x_K (B, K, d), mask_K (B, K) bool,
    group (B, L) int64 group of each token, group_sizes (B, K) int64 tokens per group)``.
    """
    b, length, d = x.shape
    dev = x.device
    group = torch.arange(length, device=dev).expand(b, length).clone()
    cur_x, cur_mask, cur_size = x, mask, mask.long()
    while True:
        n = cur_mask.sum(1)
        need = (n - keep).clamp(min=0)
        t = cur_x.shape[1]
        if t < 2 or int(need.max()) == 0:
            break
        a_idx, b_idx = torch.arange(0, t, 2, device=dev), torch.arange(1, t, 2, device=dev)
        g = F.normalize(proj(cur_x).float(), dim=-1)
        sim = 0.5 * (1.0 + g[:, a_idx] @ g[:, b_idx].transpose(1, 2))  # (B, nA, nB)
        sim = sim.masked_fill(~cur_mask[:, b_idx][:, None, :], float("-inf"))
        best, choice = sim.max(-1)
        a_ok = cur_mask[:, a_idx] & torch.isfinite(best)
        key = best.detach().masked_fill(~a_ok, float("-inf"))
        rank = torch.empty_like(choice).scatter_(1, key.argsort(1, descending=True),
                                                 torch.arange(len(a_idx), device=dev).expand(b, -1).contiguous())
        merge_a = (rank < need[:, None]) & a_ok
        if not bool(merge_a.any()):
            break
        survive = cur_mask.clone()
        survive[:, a_idx] &= ~merge_a
        new_index = survive.long().cumsum(1) - 1
        t_new = int(survive.sum(1).max())
        target = new_index.clone()
        target[:, a_idx] = torch.where(merge_a, new_index[:, b_idx].gather(1, choice), new_index[:, a_idx])
        target = torch.where(cur_mask, target, torch.full_like(target, t_new))
        factor = torch.ones(b, t, dtype=x.dtype, device=dev)
        factor[:, a_idx] = torch.where(merge_a, (1.0 + best - best.detach()).to(x.dtype), factor[:, a_idx])
        weight = cur_size.to(x.dtype) * factor
        num = cur_x.new_zeros(b, t_new + 1, d).scatter_add(1, target[..., None].expand(-1, -1, d), cur_x * weight[..., None])
        den = weight.new_zeros(b, t_new + 1).scatter_add(1, target, weight)
        new_mask = torch.arange(t_new, device=dev)[None, :] < survive.sum(1)[:, None]
        cur_x = num[:, :t_new] / den[:, :t_new].clamp_min(1e-6)[..., None] * new_mask[..., None].to(x.dtype)
        cur_size = cur_size.new_zeros(b, t_new + 1).scatter_add(1, target, cur_size)[:, :t_new]
        group = target.gather(1, group).clamp(max=max(t_new - 1, 0))
        cur_mask = new_mask
    group = torch.where(mask, group, torch.zeros_like(group))
    return cur_x, cur_mask, group, cur_size


def adaptive_mask(group: torch.Tensor, group_sizes: torch.Tensor, mask: torch.Tensor, count: torch.Tensor,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """AMTM: choose ``count`` (B,) tokens per sequence to mask, without replacement, P(j) ∝ w_i / g_i = 1 / g_i².

    g_i is the size of token j's latent group i (paper Sec. 3.4). Sampling uses the Gumbel top-k
    trick, which draws without replacement from exactly these probabilities. Returns (B, L) bool.
    """
    g = group_sizes.gather(1, group).clamp(min=1).float()
    u = torch.rand(g.shape, generator=generator, device=g.device).clamp(1e-12, 1 - 1e-12)
    key = (-2.0 * g.log() - (-u.log()).log()).masked_fill(~mask, float("-inf"))
    order = key.argsort(1, descending=True)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(g.shape[1], device=g.device).expand_as(order).contiguous())
    return (rank < count[:, None]) & mask
