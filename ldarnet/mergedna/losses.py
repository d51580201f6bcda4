"""MergeDNA's pretraining objective (paper Eq. 8): L_MTR + lambda * latent L_MTR + L_AMTM, three forward passes.

Decisions where the paper is silent (each is tested in tests/test_mergedna_losses.py):

- Targets: the original bases. With a corpus batch (inputs carry the corpus's own MLM masks) the
  unmasked sequence is ``labels`` where ``labels >= 0``, else ``input_ids``; the corpus masks are
  otherwise unused. Losses are taken at A/C/G/T bases only (N and padding never count), and every
  loss is a mean over its target bases (Eq. 7 divides by K tokens; we divide by the bases those K
  tokens cover, so long and short masked tokens weigh per base, as in Eq. 6).
- Compression sampling: one token fraction ``keep = L/N`` per forward call (each micro-batch),
  drawn from Normal(target_keep, keep_std) clipped to keep_range with torch's global RNG (so a
  resumed run repeats it); the same keep serves all three passes of that call.
- Latent MTR (pass 2): the Local Encoder's tokens from pass 1, detached (phi is frozen in this
  term, and the tokens are identical, so they are not recomputed); the Latent Encoder runs over all
  L tokens, then a global ToMe merge reduces each sequence to ``K = ceil(latent_keep * L)`` groups,
  which are unmerged to L and decoded. The merge comes after the encoder's last block (the paper
  does not say which block merges).
- AMTM (pass 3): K local tokens (the same K) are masked, drawn without replacement with
  P(j) ∝ 1/g_i² (w_i = 1/g_i, P ∝ w_i / g_i as in the paper), expanded to bases through the
  source map, replaced by [MASK], and the masked sequence goes through the whole network at the same
  keep without latent merging. Its loss covers the masked A/C/G/T bases.
"""

from __future__ import annotations


import torch
import torch.nn.functional as F

from ..vocab import MASK_ID, N_ID
from .merging import adaptive_mask, global_merge, unmerge

__all__ = ["pretraining_losses", "sample_keep", "base_targets", "latent_count"]


def sample_keep(config, generator: torch.Generator | None = None) -> float:
    """The token fraction L/N for one training call: Normal(target_keep, keep_std) clipped to keep_range."""
    low, high = config.keep_range
    draw = config.target_keep + config.keep_std * float(torch.randn((), generator=generator))
    return min(high, max(low, draw))


def base_targets(input_ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor | None):
    """(original bases (B, N) int64, targets (B, N) int64 with -100 except at real A/C/G/T)."""
    original = input_ids if labels is None else torch.where(labels >= 0, labels, input_ids)
    targets = torch.where(mask & (original < N_ID), original, torch.full_like(original, -100))
    return original, targets


def latent_count(token_mask: torch.Tensor, fraction: float) -> torch.Tensor:
    """K per sequence: ceil(fraction * L), at least 1 for a non-empty sequence; (B,) int64."""
    n = token_mask.sum(1)
    return torch.minimum(n, torch.ceil(n.double() * fraction).long().clamp(min=1))


def _ce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    if not bool((targets >= 0).any()):
        return logits.sum() * 0.0  # keeps the graph; no target base in this batch
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)


def pretraining_losses(model, input_ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor | None = None,
                       keep: float | None = None):
    """Eq. 8 on one batch: input_ids (B, N), mask (B, N) bool, labels (B, N) or None. Returns a MergeDNAOutput.

    ``loss`` = mtr + latent_mtr_weight * latent_mtr + amtm; ``mlm_loss`` = amtm; ``logits`` and
    ``boundaries`` come from pass 1 (MTR), so the training loop logs pass 1's compression.
    """
    from .model import MergeDNAOutput

    config = model.config
    keep = sample_keep(config) if keep is None else keep
    original, targets = base_targets(input_ids, mask, labels)

    # pass 1: Merged Token Reconstruction, everything trained
    tokens = model.tokenize(original, mask, keep)
    latent = model.latent_encoder(tokens.x, tokens.mask)
    logits, hidden = model.decode(latent, tokens)
    mtr = _ce(logits, targets)

    # pass 2: latent MTR with the tokenizer frozen: K latent groups -> unmerge -> decode
    frozen = tokens.x.detach()
    latent2 = model.latent_encoder(frozen, tokens.mask)
    count = latent_count(tokens.mask, config.latent_keep)
    merged, _, group, group_sizes = global_merge(latent2, tokens.mask, count, model.latent_grouping)
    spread = unmerge(merged, group) * tokens.mask.unsqueeze(-1).to(merged.dtype)
    logits2, _ = model.decode(spread, tokens)
    latent_mtr = _ce(logits2, targets)

    # pass 3: Adaptive Masked Token Modeling on K informative tokens, expanded to their bases
    with torch.no_grad():
        token_mask = adaptive_mask(group, group_sizes, tokens.mask, count)
        base_mask = unmerge(token_mask.unsqueeze(-1).long(), tokens.source).squeeze(-1).bool() & mask
    masked = torch.where(base_mask, torch.full_like(original, MASK_ID), original)
    tokens3 = model.tokenize(masked, mask, keep)
    logits3, _ = model.decode(model.latent_encoder(tokens3.x, tokens3.mask), tokens3)
    amtm = _ce(logits3, torch.where(base_mask, targets, torch.full_like(targets, -100)))

    total = mtr + config.latent_mtr_weight * latent_mtr + amtm
    return MergeDNAOutput(logits=logits, hidden_states=hidden, latent_states=latent, latent_mask=tokens.mask,
                          source=tokens.source, ratio_loss=logits.new_zeros((), dtype=torch.float32),
                          boundaries=[model.boundary_output(tokens)], loss=total, mlm_loss=amtm, mtr_loss=mtr,
                          latent_mtr_loss=latent_mtr, keep=keep)


def amtm_base_mask(model, input_ids, mask, keep: float, generator: torch.Generator | None = None):
    """The AMTM base mask for a batch (no gradients), for inspection: ((B, N) bool, tokens, token mask (B, L))."""
    with torch.no_grad():
        tokens = model.tokenize(input_ids, mask, keep)
        latent = model.latent_encoder(tokens.x, tokens.mask)
        count = latent_count(tokens.mask, model.config.latent_keep)
        _, _, group, sizes = global_merge(latent, tokens.mask, count, model.latent_grouping)
        token_mask = adaptive_mask(group, sizes, tokens.mask, count, generator)
        bases = unmerge(token_mask.unsqueeze(-1).long(), tokens.source).squeeze(-1).bool() & mask
    return bases, tokens, token_mask


__all__.append("amtm_base_mask")
