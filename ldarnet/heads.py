"""Task heads on top of a pretrained LDARNet."""

from __future__ import annotations

import torch
import torch.nn as nn

from .model import LDARNet
from .vocab import reverse_complement

POOLINGS = ("mean", "max", "first")


def pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """Pool hidden states (B, L, d) over valid positions (mask (B, L) bool) -> (B, d)."""
    if pooling == "first":
        return hidden[:, 0]
    m = mask.unsqueeze(-1)
    if pooling == "mean":
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1)
    if pooling == "max":
        return hidden.masked_fill(~m, float("-inf")).amax(1)
    raise ValueError(f"pooling={pooling!r}; choose one of {POOLINGS}")


class LDARNetForSequenceClassification(nn.Module):
    """Pooled LDARNet states -> linear classifier.

    With ``conjoin_rc=True`` the logits of a sequence and of its reverse complement are averaged
    (Caduceus' post-hoc conjoining), so the prediction does not depend on the strand it was read from.
    """

    def __init__(self, backbone: LDARNet, num_labels: int, pooling: str = "mean", conjoin_rc: bool = False):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling={pooling!r}; choose one of {POOLINGS}")
        if num_labels < 1:
            raise ValueError(f"num_labels={num_labels} must be >= 1")
        self.backbone, self.pooling, self.conjoin_rc = backbone, pooling, conjoin_rc
        width = backbone.config.d_model
        self.score = nn.Linear(width if isinstance(width, int) else width[0], num_labels)
        nn.init.normal_(self.score.weight, std=backbone.config.initializer_range)
        nn.init.zeros_(self.score.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """input_ids (B, L), attention_mask (B, L) -> logits (B, num_labels)."""
        mask, _ = self.backbone._mask(input_ids, attention_mask)
        if self.conjoin_rc:
            both = torch.cat([input_ids, reverse_complement(input_ids, mask)])
            both_mask = torch.cat([mask, mask])
            logits = self._logits(both, both_mask)
            return 0.5 * (logits[: len(input_ids)] + logits[len(input_ids):])
        return self._logits(input_ids, mask)

    def _logits(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if hasattr(self.backbone, "encode"):  # MergeDNA: pool its Latent Encoder's merged tokens (paper Sec. 3.2)
            hidden, mask = self.backbone.encode(input_ids, mask.long())
        else:
            hidden = self.backbone(input_ids, mask.long()).hidden_states
        return self.score(pool(hidden, mask, self.pooling).to(self.score.weight.dtype))
