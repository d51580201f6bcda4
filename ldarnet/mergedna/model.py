"""MergeDNA: Local Encoder (attention + merging) -> Latent Encoder -> Latent Decoder -> Local Decoder.

Paper Sec. 3.2 (../shared/papers/mergedna-paper.txt). Every stack is pre-norm attention + SwiGLU
blocks at one width. The Local Encoder's blocks use local attention (``attention_window`` tokens
either side) and are each followed by a local merge (see :mod:`ldarnet.mergedna.merging`); the
latent stacks use full attention over the merged tokens; the Local Decoder unmerges through the
source map and refines at base resolution with local attention.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import checkpoint
from ..layers.attention import LocalAttention
from ..layers.mamba2 import RMSNorm, SwiGLU
from ..model import LDARNet
from ..outputs import BoundaryOutput
from .config import MergeDNAConfig
from .merging import Tokens, initial_tokens, local_merge, pair_scores, token_starts, unmerge

__all__ = ["MergeDNA", "MergeDNAOutput"]


@dataclass
class MergeDNAOutput:
    logits: torch.Tensor  # (B, N, vocab) float: per-base logits of the Local Decoder
    hidden_states: torch.Tensor  # (B, N, d): Local Decoder states, after its last norm
    latent_states: torch.Tensor  # (B, L, d): Latent Encoder output, one row per merged token
    latent_mask: torch.Tensor  # (B, L) bool: real merged tokens
    source: torch.Tensor  # (B, N) int64: merged token of every base (the source map)
    ratio_loss: torch.Tensor  # () float32, always 0: MergeDNA fixes its compression, it has no ratio loss
    boundaries: list[BoundaryOutput] = field(default_factory=list)  # one: bases -> merged tokens
    loss: torch.Tensor | None = None  # () training: Eq. 8 total; with labels: = mlm_loss
    mlm_loss: torch.Tensor | None = None  # () training: L_AMTM; with labels: cross-entropy over labels
    mtr_loss: torch.Tensor | None = None  # () L_MTR (Eq. 6), training only
    latent_mtr_loss: torch.Tensor | None = None  # () latent L_MTR, tokenizer frozen, training only
    keep: float | None = None  # the token fraction L/N used by this forward pass


class AttentionBlock(nn.Module):
    """``h + attn(norm(h))``, then ``h + SwiGLU(norm(h))``; zero at pads."""

    def __init__(self, config: MergeDNAConfig, window: int):
        super().__init__()
        d = config.d_model
        self.norm = RMSNorm(d, config.norm_eps)
        # Query blocks of 4W (at least 16): LocalAttention's default 256-query blocks would score
        # 256 + 2W keys per query for the 2W + 1 it keeps (~9x waste at W = 16); the band is the same.
        block = max(16, 4 * window) if window > 0 else 256
        self.attn = LocalAttention(d, config.num_heads, config.rotary_emb_dim, window, block_size=block,
                                   blocks_per_call=max(32, 8192 // block))
        self.mlp_norm = RMSNorm(d, config.norm_eps)
        self.mlp = SwiGLU(d, config.d_intermediate)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = h + self.attn(self.norm(h), mask)
        return h + self.mlp(self.mlp_norm(h)) * mask.unsqueeze(-1).to(h.dtype)


class Stack(nn.Module):
    """Blocks closed by an RMSNorm; output zero at pads."""

    def __init__(self, config: MergeDNAConfig, layers: int, window: int):
        super().__init__()
        self.blocks = nn.ModuleList(AttentionBlock(config, window) for _ in range(layers))
        self.norm = RMSNorm(config.d_model, config.norm_eps)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            h = block(h, mask)
        return self.norm(h) * mask.unsqueeze(-1).to(h.dtype)


class MergeDNA(nn.Module):
    """The MergeDNA autoencoder. ``forward(..., objective=True)`` gives the pretraining losses (Eq. 8)."""

    def __init__(self, config: MergeDNAConfig):
        super().__init__()
        self.config = config
        c = config
        self.embedding = nn.Embedding(c.vocab_size, c.d_model)
        self.local_blocks = nn.ModuleList(AttentionBlock(c, c.attention_window) for _ in range(c.local_encoder_layers))
        self.grouping = nn.ModuleList(nn.Linear(c.d_model, c.group_dim, bias=False) for _ in range(c.local_encoder_layers))
        self.local_norm = RMSNorm(c.d_model, c.norm_eps)
        self.latent_encoder = Stack(c, c.latent_encoder_layers, -1)
        self.latent_grouping = nn.Linear(c.d_model, c.group_dim, bias=False)
        self.latent_decoder = Stack(c, c.latent_decoder_layers, -1)
        self.local_decoder = Stack(c, c.local_decoder_layers, c.attention_window)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        self._init_weights()

    def _init_weights(self) -> None:
        std = self.config.initializer_range
        n_residual = sum(1 for m in self.modules() if getattr(m, "_residual_out", False))
        for module in self.modules():
            if isinstance(module, nn.Linear):
                scale = 1 / math.sqrt(max(n_residual, 1)) if getattr(module, "_residual_out", False) else 1.0
                nn.init.normal_(module.weight, std=std * scale)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        nn.init.normal_(self.embedding.weight, std=std)

    # -- pieces --------------------------------------------------------------------------------
    _mask = staticmethod(LDARNet._mask)  # same input rules as LDARNet: right-padded, PAD_ID = padding

    def tokenize(self, input_ids: torch.Tensor, mask: torch.Tensor, keep: float | None = None) -> Tokens:
        """The Local Encoder: bases (B, N) -> merged tokens, keeping about ``keep`` (default target_keep) per base."""
        keep = self.config.target_keep if keep is None else keep
        tokens = initial_tokens(self.embedding(input_ids) * mask.unsqueeze(-1), mask)
        for block, grouping, r in zip(self.local_blocks, self.grouping, self.config.merges_per_layer(keep)):
            tokens = replace(tokens, x=block(tokens.x, tokens.mask))
            tokens = local_merge(tokens, pair_scores(grouping(tokens.x)), r, self.config.merge_window)
        return replace(tokens, x=self.local_norm(tokens.x) * tokens.mask.unsqueeze(-1).to(tokens.x.dtype))

    def decode(self, latent: torch.Tensor, tokens: Tokens) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent Decoder, unmerge, Local Decoder: latent (B, L, d) -> (logits (B, N, V), hidden (B, N, d))."""
        z = self.latent_decoder(latent, tokens.mask)
        base = unmerge(z, tokens.source) * tokens.base_mask.unsqueeze(-1).to(z.dtype)
        hidden = self.local_decoder(base, tokens.base_mask)
        return self.lm_head(hidden), hidden

    @staticmethod
    def boundary_output(tokens: Tokens) -> BoundaryOutput:
        mask, prob = token_starts(tokens)
        return BoundaryOutput(boundary_prob=prob, boundary_mask=mask, lengths=tokens.mask.sum(1))

    # -- public --------------------------------------------------------------------------------
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, objective: bool = False, keep: float | None = None) -> MergeDNAOutput:
        """input_ids (B, N) int64, attention_mask (B, N) 0/1 (default: input_ids != PAD_ID).

        Without ``objective``: the full autoencoder at ``keep`` (default ``target_keep``), no latent
        merging; with ``labels`` (B, N) (-100 = no loss) ``loss`` = ``mlm_loss`` = their cross-entropy.
        With ``objective=True``: the three-pass pretraining objective of
        :func:`ldarnet.mergedna.losses.pretraining_losses` (``labels`` recover the unmasked bases).
        """
        mask, _ = self._mask(input_ids, attention_mask)
        if objective:
            from .losses import pretraining_losses
            return pretraining_losses(self, input_ids, mask, labels, keep=keep)
        tokens = self.tokenize(input_ids, mask, keep)
        latent = self.latent_encoder(tokens.x, tokens.mask)
        logits, hidden = self.decode(latent, tokens)
        out = MergeDNAOutput(logits=logits, hidden_states=hidden, latent_states=latent, latent_mask=tokens.mask,
                             source=tokens.source, ratio_loss=logits.new_zeros((), dtype=torch.float32),
                             boundaries=[self.boundary_output(tokens)],
                             keep=self.config.target_keep if keep is None else keep)
        if labels is not None:
            out.mlm_loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
            out.loss = out.mlm_loss
        return out

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Local + Latent Encoder only (the permanent parts, Table A1): (latent (B, L, d), latent mask (B, L) bool)."""
        mask, _ = self._mask(input_ids, attention_mask)
        tokens = self.tokenize(input_ids, mask)
        return self.latent_encoder(tokens.x, tokens.mask), tokens.mask

    def extract_boundaries(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> list[BoundaryOutput]:
        """Token starts from the embedding and Local Encoder alone, at ``target_keep``: a one-stage list.

        ``boundary_mask[i]``: a merged token starts at base i. ``boundary_prob[i]`` = 1 - the pair
        score across bases (i-1, i) at the last Local Encoder layer where base i started a token
        (see :func:`ldarnet.mergedna.merging.token_starts`); a score, not a calibrated probability.
        """
        mask, _ = self._mask(input_ids, attention_mask)
        return [self.boundary_output(self.tokenize(input_ids, mask))]

    @property
    def tile_alignment(self) -> int:
        """Tiles must start at multiples of this (the merge block) to reproduce whole-sequence boundaries."""
        return self.config.merge_window

    def default_tiling(self) -> dict[str, int]:
        """Window and overlap for tiled extraction (``ldarnet.genome.default_tiling`` asks the model).

        Both are multiples of ``merge_window``; the overlap is twice :meth:`MergeDNAConfig.encoder_reach`
        (an upper bound) plus one block either side, which absorbs the shift of block-aligned starts.
        """
        g = self.config.merge_window
        overlap = 2 * (-(-self.config.encoder_reach() // g) + 1) * g
        window = max(4 * overlap, 16384 // g * g)
        return {"window": window, "overlap": overlap, "batch_size": max(1, 65536 // window)}

    def parameter_levels(self) -> dict[str, int]:
        """Every parameter at level 0: MergeDNA has one width, so the trainer's per-level LR multipliers are all 1."""
        return {name: 0 for name, _ in self.named_parameters()}

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # -- checkpoints ---------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``model.safetensors`` and ``config.json`` (with ``model_kind: "mergedna"``) into ``directory``."""
        return checkpoint.save(self, directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path, map_location: str | torch.device = "cpu") -> "MergeDNA":
        """Load a MergeDNA written by ``save_pretrained``; raises ValueError on a bad or non-MergeDNA checkpoint."""
        config, state = checkpoint.load(directory, map_location)
        if not isinstance(config, MergeDNAConfig):
            raise ValueError(f"checkpoint {directory} holds a {type(config).__name__.removesuffix('Config')}, not a MergeDNA; "
                             "use ldarnet.load_pretrained to load either kind")
        model = cls(config)
        checkpoint.restore(model, state, directory)
        model.source = checkpoint.source_record(directory)  # {"path", "sha256" content hash}, as LDARNet's
        return model.to(map_location)
