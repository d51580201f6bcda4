"""`MergeDNAConfig`: every architectural and objective choice of a MergeDNA, as one typed JSON record.

MergeDNA (Li et al., AAAI 2026; ``../shared/papers/mergedna-paper.txt``) is an autoencoder of four
stacks at one width ``d_model`` (paper Table A1 uses 4 / 20 / 4 / 2 blocks at 1024):

- Local Encoder: ``local_encoder_layers`` local-attention blocks, each followed by token merging
  inside fixed blocks of ``merge_window`` bases (the learned tokenizer);
- Latent Encoder: ``latent_encoder_layers`` full-attention blocks over the merged tokens;
- Latent Decoder: ``latent_decoder_layers`` full-attention blocks (pretraining only);
- Local Decoder: unmerge to bases, then ``local_decoder_layers`` local-attention blocks.

``model_kind`` is always ``"mergedna"``; ``config.json`` files without it hold an LDARNet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..config import JsonConfig
from ..vocab import VOCAB_SIZE

MODEL_KIND = "mergedna"

_INT_FIELDS = ("d_model", "d_intermediate", "num_heads", "rotary_emb_dim", "local_encoder_layers",
               "latent_encoder_layers", "latent_decoder_layers", "local_decoder_layers", "merge_window",
               "attention_window", "group_dim", "vocab_size")
_FLOAT_FIELDS = ("target_keep", "keep_std", "latent_keep", "latent_mtr_weight", "norm_eps", "initializer_range")


@dataclass
class MergeDNAConfig(JsonConfig):
    """Architecture and pretraining objective of a MergeDNA; see the module doc for the four stacks."""

    model_kind: str = MODEL_KIND
    d_model: int = 128
    d_intermediate: int = 232  # SwiGLU width of every block
    num_heads: int = 4
    rotary_emb_dim: int = 16
    local_encoder_layers: int = 4
    latent_encoder_layers: int = 8
    latent_decoder_layers: int = 2
    local_decoder_layers: int = 2
    # Merging: tokens never cross a block of merge_window bases (block k = bases [k*G, (k+1)*G)).
    merge_window: int = 16
    # Local attention half-width, in tokens (Local Encoder) or bases (Local Decoder).
    attention_window: int = 16
    # Tokens kept per base (L/N): target_keep at inference; in training drawn from
    # Normal(target_keep, keep_std) clipped to keep_range (paper: L ~ N/2 within [0.4N, 0.6N]).
    target_keep: float = 0.5
    keep_std: float = 0.05
    keep_range: list = field(default_factory=lambda: [0.4, 0.6])
    group_dim: int = 32  # width of the DTEM-style grouping embedding that scores adjacent pairs
    # Latent merging for the latent MTR and AMTM (paper Sec. 3.4): K = ceil(latent_keep * L).
    latent_keep: float = 0.25
    latent_mtr_weight: float = 0.25  # lambda of Eq. 8
    vocab_size: int = VOCAB_SIZE
    norm_eps: float = 1e-5
    initializer_range: float = 0.02

    def __post_init__(self) -> None:
        self.keep_range = list(self.keep_range) if isinstance(self.keep_range, (list, tuple)) else self.keep_range
        self._validate()

    # -- views shared with LDARNetConfig (the training loop and tiling read these) -------------
    @property
    def n_stages(self) -> int:
        """One tokenization stage: bases -> merged tokens."""
        return 1

    @property
    def router(self) -> list[str]:
        return ["merge"]

    def merges_per_layer(self, keep: float) -> list[int]:
        """r_l, the merges per block in each Local Encoder layer, so that a full block keeps ~keep of its bases.

        The total ``R = round(G * (1 - keep))`` is split as evenly as possible, earlier layers first.
        R is then held where a full block's realised fraction ``(G - R) / G`` lies inside
        ``keep_range`` (when some R does), so rounding never leaves the paper's [0.4N, 0.6N]; with
        G = 16 the sampled keeps realise as 7/16, 8/16 or 9/16 (finer steps need a larger G).
        """
        G, n = self.merge_window, self.local_encoder_layers
        total = round(G * (1.0 - keep))
        low = math.ceil(G * (1.0 - self.keep_range[1]) - 1e-9)
        high = math.floor(G * (1.0 - self.keep_range[0]) + 1e-9)
        if low <= high:
            total = min(high, max(low, total))
        total = min(G - 1, max(0, total))
        return [total // n + (1 if i < total % n else 0) for i in range(n)]

    def encoder_reach(self) -> int:
        """Upper bound, in bases, on how far the Local Encoder's merges look (for tiling).

        Each layer attends ``attention_window`` tokens either side; a token lies inside one block of
        ``merge_window`` bases and every block holds at least one token, so one layer reaches at
        most ``(attention_window + 1) * merge_window`` bases; the final merge adds one block.
        """
        return self.local_encoder_layers * (self.attention_window + 1) * self.merge_window + self.merge_window

    # -- construction (presets and JSON: ldarnet.config.JsonConfig) ----------------------------
    @classmethod
    def _presets(cls) -> dict[str, dict]:
        return PRESETS

    # -- checks --------------------------------------------------------------------------------
    def _validate(self) -> None:
        if self.model_kind != MODEL_KIND:
            raise ValueError(f"model_kind={self.model_kind!r} must be {MODEL_KIND!r} in a MergeDNAConfig")
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{name}={value!r} must be an integer")
        for name in _FLOAT_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ValueError(f"{name}={value!r} must be a number")
            setattr(self, name, float(value))
        for name in ("d_model", "d_intermediate", "num_heads", "local_encoder_layers", "latent_encoder_layers",
                     "local_decoder_layers", "attention_window", "group_dim", "vocab_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be a positive integer")
        if self.latent_decoder_layers < 0:
            raise ValueError(f"latent_decoder_layers={self.latent_decoder_layers} must be >= 0")
        if self.merge_window < 2:
            raise ValueError(f"merge_window={self.merge_window} must be at least 2 bases")
        if self.d_model % self.num_heads:
            raise ValueError(f"num_heads={self.num_heads} must divide d_model={self.d_model}")
        head = self.d_model // self.num_heads
        if self.rotary_emb_dim < 0 or self.rotary_emb_dim % 2 or self.rotary_emb_dim > head:
            raise ValueError(f"rotary_emb_dim={self.rotary_emb_dim} must be even and at most the head size {head}")
        if not (isinstance(self.keep_range, list) and len(self.keep_range) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.keep_range)):
            raise ValueError(f"keep_range={self.keep_range!r} must be a list [low, high] of numbers")
        self.keep_range = [float(v) for v in self.keep_range]
        low, high = self.keep_range
        if not 0 < low <= self.target_keep <= high <= 1:
            raise ValueError(f"need 0 < keep_range[0] <= target_keep <= keep_range[1] <= 1, got "
                             f"keep_range={self.keep_range}, target_keep={self.target_keep}")
        if self.keep_std < 0:
            raise ValueError(f"keep_std={self.keep_std} must be >= 0")
        if not 0 < self.latent_keep <= 1:
            raise ValueError(f"latent_keep={self.latent_keep} must lie in (0, 1]")
        if self.latent_mtr_weight < 0:
            raise ValueError(f"latent_mtr_weight={self.latent_mtr_weight} must be >= 0")


PRESETS: dict[str, dict] = {
    # About 2.5M parameters, comparable to ldarnet-proxy (2,508,400); Table A1's 4:20:4:2 depth
    # ratio shortened to 4:8:2:2 at width 128.
    "mergedna-proxy": dict(d_model=128, d_intermediate=232, num_heads=4, rotary_emb_dim=16,
                           local_encoder_layers=4, latent_encoder_layers=8, latent_decoder_layers=2,
                           local_decoder_layers=2, merge_window=16, attention_window=16, group_dim=32),
    # For tests: well under 100k parameters.
    "mergedna-tiny": dict(d_model=32, d_intermediate=64, num_heads=2, rotary_emb_dim=8,
                          local_encoder_layers=2, latent_encoder_layers=1, latent_decoder_layers=1,
                          local_decoder_layers=1, merge_window=8, attention_window=4, group_dim=8),
}
