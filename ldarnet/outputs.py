"""Typed outputs of the model: the seam between `ldarnet` and the analysis package `ldarviz`.

`ldarviz` reads boundaries only through `BoundaryOutput`; keep these fields stable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class BoundaryOutput:
    """Where one chunking stage put its boundaries.

    Stage 0 works at base resolution: position t of ``boundary_prob`` is base t of the input.
    Stage s > 0 works on the chunks of stage s - 1. Padding positions have probability 0 and
    are never boundaries; position 0 of every sequence is always a boundary.
    """

    boundary_prob: torch.Tensor  # (B, L_stage) float32 in [0, 1]: p_t, the router's boundary probability
    boundary_mask: torch.Tensor  # (B, L_stage) bool: b_t, a chunk starts at t
    lengths: torch.Tensor  # (B,) int64: chunks per sequence, i.e. boundary_mask.sum(1), the next stage's length

    def to(self, device: torch.device | str) -> "BoundaryOutput":
        return BoundaryOutput(self.boundary_prob.to(device), self.boundary_mask.to(device), self.lengths.to(device))


@dataclass
class LDARNetOutput:
    logits: torch.Tensor  # (B, L, vocab) float: MLM logits at every position
    hidden_states: torch.Tensor  # (B, L, d_model[0]): final decoder states, after the last norm
    ratio_loss: torch.Tensor  # () float32: sum over learned stages of H-Net's ratio loss (0 if none)
    boundaries: list[BoundaryOutput] = field(default_factory=list)  # one per stage, outermost first
    loss: torch.Tensor | None = None  # () total loss = mlm_loss + alpha * ratio_loss, when labels are given
    mlm_loss: torch.Tensor | None = None  # () cross-entropy over labelled positions, when labels are given
