"""LDARNet: embedding -> nested (encoder, chunk, inner, dechunk, decoder) stages -> MLM head."""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import checkpoint
from .chunking import Router, chunk, confidence_ste, dechunk, protect_masked, ratio_loss
from .config import LDARNetConfig
from .layers.blocks import Isotropic
from .outputs import BoundaryOutput, LDARNetOutput
from .vocab import MASK_ID, PAD_ID


class Stage(nn.Module):
    """One nesting level. Innermost: a backbone. Otherwise: encoder, router, inner level, decoder."""

    def __init__(self, config: LDARNetConfig, level: int = 0):
        super().__init__()
        spec = config.levels[level]
        self.d = config.d_model[level]
        self.is_backbone = "backbone" in spec
        if self.is_backbone:
            self.backbone = Isotropic(spec["backbone"], config, level)
            return
        self.encoder = Isotropic(spec["encoder"], config, level)
        self.router = Router(self.d, config.router[level], config.target_ratio[level], config.router_centering,
                             config.router_centering_span)
        self.reverse_gate = config.dechunk_reverse_gate
        self.mask_protection, self.masked_residual_gating = config.mask_protection, config.masked_residual_gating
        # training switch (not config): chunk at a fixed stride N while the router still learns from the
        # ratio loss on its own decisions (pretrain's router_warmup_steps)
        self.stride_warmup = False
        # training switch (not config): the router learns from the ratio loss alone; the MLM loss sees p
        # detached (pretrain's router_isolation_steps)
        self.isolate_router = False
        # training switch (not config): the router's projections learn from the ratio loss alone, while the
        # MLM loss still reaches the encoder through p (pretrain's router_params_isolation_steps)
        self.isolate_router_params = False
        self.inner = Stage(config, level + 1)
        self.decoder = Isotropic(spec["decoder"], config, level)
        # zero-initialised skip from the encoder output, kept in fp32 (H-Net)
        self.residual_proj = nn.Linear(self.d, self.d)
        nn.init.zeros_(self.residual_proj.weight)
        nn.init.zeros_(self.residual_proj.bias)
        self.residual_proj.weight._no_reinit = True
        extra = config.d_model[level + 1] - self.d
        # learned filler for the extra channels of a wider inner level (zero at init)
        self.pad_dimension = nn.Parameter(torch.zeros(extra)) if extra else None

    def _widen(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.pad_dimension is None:
            return h
        fill = self.pad_dimension.to(h.dtype).expand(*h.shape[:-1], -1) * mask.unsqueeze(-1).to(h.dtype)
        return torch.cat([h, fill], dim=-1)

    def route(self, h: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor, masked: torch.Tensor):
        """Encoder + router. ``masked`` (B, L) bool marks [MASK] positions (chunks holding one, inside)."""
        h = self.encoder(h, mask, lengths)
        p, boundary = self.router(h, mask)
        own = boundary  # the router's own decisions: the ratio loss's F
        if self.stride_warmup:
            t = torch.arange(h.shape[1], device=h.device)
            boundary = (t % round(self.router.target_ratio) == 0)[None, :] & mask
        free = mask  # positions whose boundary the router decides: the ratio loss's F and G count these
        if self.mask_protection:
            p, boundary, forced = protect_masked(p, boundary, masked, mask)
            free = mask & ~forced
        return h, p, boundary, (own, free), BoundaryOutput(p, boundary, boundary.sum(dim=1))

    def forward(self, h, mask, lengths, boundaries: list[BoundaryOutput], ratio_terms: list[torch.Tensor],
                masked: torch.Tensor):
        if self.is_backbone:
            return self.backbone(h, mask, lengths)
        h, p, boundary, (own, free), out = self.route(h, mask, lengths, masked)
        boundaries.append(out)
        if self.router.kind == "learned":
            ratio_terms.append(ratio_loss(p, own, free, self.router.target_ratio))
        if self.isolate_router:
            p = p.detach()
        elif self.isolate_router_params and torch.is_grad_enabled():
            p = self._p_for_mlm(h, mask, masked)
        chunks, order, chunk_mask = chunk(h, boundary)
        inner_masked = torch.gather(masked, 1, order) & chunk_mask
        inner = self.inner(self._widen(chunks, chunk_mask), chunk_mask, out.lengths, boundaries, ratio_terms,
                           inner_masked)
        up = dechunk(inner[..., : self.d], torch.gather(p, 1, order), chunk_mask, boundary, self.reverse_gate)
        skip = self.residual_proj(h.to(self.residual_proj.weight.dtype)).to(up.dtype)
        if self.masked_residual_gating:  # a masked base reaches the decoder only through the chunk path
            skip = skip * (~masked).unsqueeze(-1).to(skip.dtype)
        h = up * confidence_ste(p, boundary).unsqueeze(-1).to(up.dtype) + skip
        return self.decoder(h, mask, lengths)

    def _p_for_mlm(self, h: torch.Tensor, mask: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        """p again, with the router's projections detached: the MLM loss moves boundaries only through the
        encoder, so the projections answer to the ratio loss alone and can hold the rate at any α."""
        p, boundary = self.router(h, mask, detach_params=True)
        if self.mask_protection:
            p = protect_masked(p, boundary, masked, mask)[0]
        return p

    def boundaries_only(self, h, mask, lengths, boundaries: list[BoundaryOutput], masked: torch.Tensor) -> None:
        if self.is_backbone:
            return
        h, _, boundary, _, out = self.route(h, mask, lengths, masked)
        boundaries.append(out)
        if self.inner.is_backbone:  # no router inside: the chunks themselves are not needed
            return
        chunks, order, chunk_mask = chunk(h, boundary)
        self.inner.boundaries_only(self._widen(chunks, chunk_mask), chunk_mask, out.lengths, boundaries,
                                   torch.gather(masked, 1, order) & chunk_mask)


class LDARNet(nn.Module):
    """The LDARNet masked language model. See ``LDARNetConfig`` for the architecture knobs."""

    def __init__(self, config: LDARNetConfig):
        super().__init__()
        self.config = config
        self.source: dict | None = None  # where the weights came from (set by from_pretrained); None: random init
        self.embedding = nn.Embedding(config.vocab_size, config.d_model[0])
        self.stage = Stage(config, 0)
        self.lm_head = nn.Linear(config.d_model[0], config.vocab_size, bias=False)
        self._init_weights()

    def _init_weights(self) -> None:
        std = self.config.initializer_range
        n_residual = sum(1 for m in self.modules() if getattr(m, "_residual_out", False))
        for module in self.modules():
            if isinstance(module, nn.Linear) and not getattr(module.weight, "_no_reinit", False):
                # residual-branch outputs are shrunk so the residual stream does not grow with depth (GPT-2/H-Net)
                scale = 1 / math.sqrt(max(n_residual, 1)) if getattr(module, "_residual_out", False) else 1.0
                nn.init.normal_(module.weight, std=std * scale)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        nn.init.normal_(self.embedding.weight, std=std)

    # -- inputs --------------------------------------------------------------------------------
    @staticmethod
    def _mask(input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be (batch, length), got shape {tuple(input_ids.shape)}")
        mask = input_ids != PAD_ID if attention_mask is None else attention_mask.bool()
        if mask.shape != input_ids.shape:
            raise ValueError(f"attention_mask shape {tuple(mask.shape)} differs from input_ids {tuple(input_ids.shape)}")
        lengths = mask.sum(dim=1)
        right_padded = torch.arange(mask.shape[1], device=mask.device)[None, :] < lengths[:, None]
        if not torch.equal(mask, right_padded):
            raise ValueError("attention_mask must be right-padded: ones for real bases, then zeros")
        return mask, lengths

    # -- forward -------------------------------------------------------------------------------
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None) -> LDARNetOutput:
        """input_ids (B, L) int64, attention_mask (B, L) 0/1 (default: input_ids != PAD_ID),
        labels (B, L) int64 with -100 where no loss is taken."""
        mask, lengths = self._mask(input_ids, attention_mask)
        h = self.embedding(input_ids) * mask.unsqueeze(-1)
        boundaries: list[BoundaryOutput] = []
        ratio_terms: list[torch.Tensor] = []
        h = self.stage(h, mask, lengths, boundaries, ratio_terms, (input_ids == MASK_ID) & mask)
        logits = self.lm_head(h)
        ratio = torch.stack(ratio_terms).sum() if ratio_terms else h.new_zeros((), dtype=torch.float32)
        out = LDARNetOutput(logits=logits, hidden_states=h, ratio_loss=ratio, boundaries=boundaries)
        if labels is not None:
            out.mlm_loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
            out.loss = out.mlm_loss + self.config.ratio_loss_weight * ratio
        return out

    def extract_boundaries(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> list[BoundaryOutput]:
        """Boundaries of every stage from the embedding, encoders and routers alone (no backbone, no decoder)."""
        mask, lengths = self._mask(input_ids, attention_mask)
        boundaries: list[BoundaryOutput] = []
        self.stage.boundaries_only(self.embedding(input_ids) * mask.unsqueeze(-1), mask, lengths, boundaries,
                                   (input_ids == MASK_ID) & mask)
        return boundaries

    # -- parameters ----------------------------------------------------------------------------
    def parameter_levels(self) -> dict[str, int]:
        """Nesting level of every parameter (0 = outermost; embedding and head count as level 0)."""
        return {name: name.count("inner.") for name, _ in self.named_parameters()}

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # -- checkpoints ---------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``model.safetensors`` and ``config.json`` into ``directory``."""
        return checkpoint.save(self, directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path, map_location: str | torch.device = "cpu") -> "LDARNet":
        """Load a model written by ``save_pretrained``. Never unpickles; raises ValueError on a bad checkpoint.

        The model's ``source`` attribute records where its weights came from:
        ``{"path": directory, "sha256": ldarnet.checkpoint_sha256(directory)}`` (a content hash).
        """
        config, state = checkpoint.load(directory, map_location)
        if not isinstance(config, LDARNetConfig):
            raise ValueError(f"checkpoint {directory} holds a {getattr(config, 'model_kind', type(config).__name__)} "
                             "model, not an LDARNet; ldarnet.load_pretrained loads either kind")
        model = cls(config)
        checkpoint.restore(model, state, directory)
        model.source = checkpoint.source_record(directory)
        return model.to(map_location)
