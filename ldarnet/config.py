"""`LDARNetConfig`: every architectural choice of an LDARNet, as one typed, JSON-round-trippable record.

The layout follows H-Net's nested ``arch_layout``. A *level* is either ``[backbone]`` (the
innermost) or ``[encoder, inner_level, decoder]``; every ``[encoder, inner, decoder]`` level adds
one chunking *stage*. Layer strings are runs of ``<kind><count>``:

- ``m`` BiMamba-2 block, ``t`` local (or global) attention block, both without an MLP;
- ``M`` and ``T`` the same blocks followed by a SwiGLU of width ``d_intermediate[level]``.

So ``["m3t1", ["M10"], "m4"]`` is the paper's model: 2 levels, 1 stage. Per-level lists
(``d_model``, ``d_intermediate``, ``num_heads``, ``rotary_emb_dim``, ``window_size``) have one entry
per level, outermost first; per-stage lists (``router``, ``target_ratio``) one entry per stage.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .vocab import VOCAB_SIZE

ROUTERS = ("learned", "fixed", "none")
FUSIONS = ("mean", "sum")
REVERSE_GATES = ("next", "own")
_LAYER_RE = re.compile(r"([mMtT])(\d+)")
_LEVEL_LISTS = ("d_model", "d_intermediate", "num_heads", "rotary_emb_dim", "window_size")
_STAGE_LISTS = ("router", "target_ratio")


def parse_layers(spec: str, where: str = "arch_layout") -> list[str]:
    """Expand a layer string such as ``"m3t1"`` into ``["m", "m", "m", "t"]``."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"{where}: expected a non-empty layer string like 'm3t1', got {spec!r}")
    parts = _LAYER_RE.findall(spec)
    if "".join(k + n for k, n in parts) != spec:
        raise ValueError(f"{where}: {spec!r} is not a run of <m|M|t|T><count> items")
    layers = [kind for kind, count in parts for _ in range(int(count))]
    if not layers:
        raise ValueError(f"{where}: {spec!r} has no layers")
    return layers


def layout_levels(layout: Any) -> list[dict]:
    """Flatten a nested layout into one dict per level: ``{"encoder", "decoder"}`` or ``{"backbone"}``."""
    levels = []
    node, path = layout, "arch_layout"
    while True:
        if not isinstance(node, list) or len(node) not in (1, 3):
            raise ValueError(f"{path}: each level must be [backbone] or [encoder, [inner], decoder], got {node!r}")
        if len(node) == 1:
            levels.append({"backbone": parse_layers(node[0], f"{path}[0]")})
            return levels
        enc, inner, dec = node
        levels.append({"encoder": parse_layers(enc, f"{path}[0]"), "decoder": parse_layers(dec, f"{path}[2]")})
        node, path = inner, f"{path}[1]"


class JsonConfig:
    """Presets and the JSON round trip, shared by every model config (LDARNetConfig, MergeDNAConfig).

    A subclass is a dataclass that names its preset table in ``_presets()``; unknown fields are errors
    naming them, and each config checks its own field types and values in ``__post_init__``.
    """

    @classmethod
    def _presets(cls) -> dict[str, dict]:
        raise NotImplementedError

    @classmethod
    def preset(cls, name: str, **overrides: Any):
        """A named configuration (see the module's ``PRESETS``), with fields replaced by ``overrides``."""
        presets = cls._presets()
        if name not in presets:
            raise ValueError(f"unknown preset {name!r} for {cls.__name__}; choose one of {sorted(presets)}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise ValueError(f"unknown config field(s) {unknown}; valid fields are {sorted(fields)}")
        return cls(**{**copy.deepcopy(presets[name]), **overrides})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    @classmethod
    def from_dict(cls, data: dict):
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise ValueError(f"unknown config field(s) {unknown}")
        return cls(**data)

    @classmethod
    def from_json(cls, source: str | Path):
        """Read a config from a JSON file path or a JSON string."""
        text = str(source)
        if not text.lstrip().startswith("{"):
            path = Path(source)
            try:
                text = path.read_text()
            except OSError as err:
                raise ValueError(f"cannot read config {path}: {err.strerror}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"config is not valid JSON ({source}): {err}") from None
        if not isinstance(data, dict):
            raise ValueError(f"config JSON must be an object, got {type(data).__name__}")
        return cls.from_dict(data)


@dataclass
class LDARNetConfig(JsonConfig):
    """Architecture of an LDARNet. Lists are per level (outermost first) or per stage, see module doc."""

    arch_layout: list = field(default_factory=lambda: ["m3t1", ["M10"], "m4"])
    d_model: list = field(default_factory=lambda: [512, 768])
    d_intermediate: list = field(default_factory=lambda: [0, 2560])
    vocab_size: int = VOCAB_SIZE
    # Mamba-2 mixer, shared by every level.
    d_state: int = 128
    d_conv: int = 4
    expand: int = 2
    headdim: int = 64
    chunk_size: int = 256
    # Attention, per level; window_size -1 means global attention.
    num_heads: list = field(default_factory=lambda: [16, 16])
    rotary_emb_dim: list = field(default_factory=lambda: [32, 48])
    window_size: list = field(default_factory=lambda: [1023, -1])
    # Dynamic chunking, per stage.
    router: list = field(default_factory=lambda: ["learned"])
    target_ratio: list = field(default_factory=lambda: [4.0])
    fusion: str = "mean"
    # Gate of the dechunker's reverse EMA at chunk j: "next" = p_{j+1}, the boundary between j and j+1
    # (1 after the last chunk), so each boundary gates mixing across it alike in both directions (ours);
    # "own" = p_j, as the public LDARNet code does (set by `ldarnet import-public`, see chunking.dechunk).
    dechunk_reverse_gate: str = "next"
    ratio_loss_weight: float = 0.03
    # MLM options of DNAChunker (arXiv 2601.03019), off by default (the paper's LDARNet has neither):
    # mask_protection: every [MASK] and the position after it are forced boundaries, so a masked base
    # is a chunk of one; forced positions are left out of the ratio loss's F and G (chunking.ratio_loss).
    # masked_residual_gating: the encoder->decoder skip (residual_proj) is zeroed at [MASK] positions,
    # so a masked base reaches the decoder only through the chunk path.
    mask_protection: bool = False
    masked_residual_gating: bool = False
    # router_centering: the learned router's q and k are centred over each sequence's valid positions
    # before the cosines, so a direction every position shares cannot push all adjacent cosines to 1
    # (the α = 0.03 collapse; results/mlm-options-proxy/README.md). Off: the paper's router.
    router_centering: bool = False
    # router_centering_span: the mean is taken over positions within +-span of each position (0: over
    # the whole sequence). A bounded span keeps a base's boundary independent of the rest of its window,
    # so tiled extraction reproduces whole-sequence boundaries (ldarnet.genome.default_tiling adds the
    # span to the overlap); the whole-sequence mean would make them depend on where tiles are cut.
    router_centering_span: int = 0
    norm_eps: float = 1e-5
    initializer_range: float = 0.02

    def __post_init__(self) -> None:
        _check_types(self)
        self.arch_layout = copy.deepcopy(self.arch_layout)
        levels = layout_levels(self.arch_layout)
        n_levels, n_stages = len(levels), len(levels) - 1
        for name in _LEVEL_LISTS:
            setattr(self, name, _broadcast(name, getattr(self, name), n_levels, "level"))
        for name in _STAGE_LISTS:
            setattr(self, name, _broadcast(name, getattr(self, name), n_stages, "stage"))
        self.target_ratio = [float(r) for r in self.target_ratio]
        self._validate(levels)

    # -- derived views -------------------------------------------------------------------------
    @property
    def levels(self) -> list[dict]:
        return layout_levels(self.arch_layout)

    @property
    def n_stages(self) -> int:
        return len(self.levels) - 1

    def d_inner(self, level: int) -> int:
        return self.expand * self.d_model[level]

    # -- construction (presets and JSON: JsonConfig) ------------------------------------------
    @classmethod
    def _presets(cls) -> dict[str, dict]:
        return PRESETS

    # -- checks --------------------------------------------------------------------------------
    def _validate(self, levels: list[dict]) -> None:
        for i, level in enumerate(levels):
            layers = level.get("backbone", []) + level.get("encoder", []) + level.get("decoder", [])
            d = self.d_model[i]
            _positive("d_model", d, i)
            if i and d < self.d_model[i - 1]:
                raise ValueError(f"d_model[{i}]={d} is narrower than d_model[{i - 1}]={self.d_model[i - 1]}; inner levels may only widen")
            if any(k.isupper() for k in layers):
                _positive("d_intermediate", self.d_intermediate[i], i, why="level has uppercase (SwiGLU) layers")
            if (self.expand * d) % self.headdim:
                raise ValueError(f"headdim={self.headdim} must divide expand*d_model[{i}]={self.expand * d}")
            if any(k in "tT" for k in layers):
                heads = self.num_heads[i]
                _positive("num_heads", heads, i)
                if d % heads:
                    raise ValueError(f"num_heads[{i}]={heads} must divide d_model[{i}]={d}")
                rot = self.rotary_emb_dim[i]
                if rot < 0 or rot % 2 or rot > d // heads:
                    raise ValueError(f"rotary_emb_dim[{i}]={rot} must be even and at most the head size {d // heads}")
                w = self.window_size[i]
                if w != -1 and w < 1:
                    raise ValueError(f"window_size[{i}]={w} must be -1 (global) or a positive half-width")
        for s, (router, ratio) in enumerate(zip(self.router, self.target_ratio)):
            if router not in ROUTERS:
                raise ValueError(f"router[{s}]={router!r}; choose one of {ROUTERS}")
            if router != "none" and ratio <= 1:
                raise ValueError(f"target_ratio[{s}]={ratio} must be > 1 for a {router!r} router")
            if router == "fixed" and ratio != int(ratio):
                raise ValueError(f"target_ratio[{s}]={ratio} must be a whole number for the 'fixed' router")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion={self.fusion!r}; choose one of {FUSIONS}")
        if self.dechunk_reverse_gate not in REVERSE_GATES:
            raise ValueError(f"dechunk_reverse_gate={self.dechunk_reverse_gate!r}; choose one of {REVERSE_GATES}")
        for name in ("d_state", "d_conv", "expand", "headdim", "chunk_size", "vocab_size"):
            _positive(name, getattr(self, name))
        for name in ("mask_protection", "masked_residual_gating", "router_centering"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}={getattr(self, name)!r} must be true or false")
        if self.ratio_loss_weight < 0:
            raise ValueError(f"ratio_loss_weight={self.ratio_loss_weight} must be >= 0")
        if self.router_centering_span < 0:
            raise ValueError(f"router_centering_span={self.router_centering_span} must be >= 0 (0: the whole sequence)")


# the JSON types each field accepts: a scalar kind, or ("list of", kind) for per-level/per-stage lists
# (a single value is broadcast); "number" is int or float. bool is never taken for a number.
_FIELD_KINDS = {
    "arch_layout": "layout", "d_model": ("list of", "int"), "d_intermediate": ("list of", "int"),
    "vocab_size": "int", "d_state": "int", "d_conv": "int", "expand": "int", "headdim": "int", "chunk_size": "int",
    "num_heads": ("list of", "int"), "rotary_emb_dim": ("list of", "int"), "window_size": ("list of", "int"),
    "router": ("list of", "str"), "target_ratio": ("list of", "number"), "fusion": "str",
    "dechunk_reverse_gate": "str", "ratio_loss_weight": "number", "mask_protection": "bool",
    "masked_residual_gating": "bool", "router_centering": "bool",
    "router_centering_span": "int", "norm_eps": "number", "initializer_range": "number",
}
_KIND_TEXT = {"int": "an integer", "number": "a number", "str": "a string", "bool": "true or false"}


def _is(kind: str, value: Any) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    return isinstance(value, {"int": int, "number": (int, float), "str": str}[kind])


def _check_types(config: "LDARNetConfig") -> None:
    """One ValueError naming the first field whose value has the wrong JSON type (e.g. norm_eps "1e-5")."""
    for f in dataclasses.fields(config):
        kind, value = _FIELD_KINDS.get(f.name), getattr(config, f.name)
        if kind is None:  # a field added without a declared kind is checked by _validate alone
            continue
        if kind == "layout":
            ok = isinstance(value, (list, tuple))
            want = "a list (e.g. [\"m3t1\", [\"M10\"], \"m4\"])"
        elif isinstance(kind, tuple):
            ok = _is(kind[1], value) or (isinstance(value, (list, tuple)) and all(_is(kind[1], v) for v in value))
            want = f"{_KIND_TEXT[kind[1]]} or a list of them"
        else:
            ok, want = _is(kind, value), _KIND_TEXT[kind]
        if not ok:
            raise ValueError(f"config field {f.name!r} must be {want}, got {value!r} ({type(value).__name__})")


def _broadcast(name: str, value: Any, n: int, unit: str) -> list:
    if not isinstance(value, (list, tuple)):
        return [value] * n
    if len(value) != n:
        raise ValueError(f"{name} has {len(value)} entries but arch_layout has {n} {unit}(s)")
    return list(value)


def _positive(name: str, value: Any, index: int | None = None, why: str = "") -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        where = f"{name}[{index}]" if index is not None else name
        raise ValueError(f"{where}={value!r} must be a positive integer" + (f" ({why})" if why else ""))


PRESETS: dict[str, dict] = {
    # The paper's model (App. A.1); the public code counts 110.7M parameters.
    "ldarnet-120m": dict(
        arch_layout=["m3t1", ["M10"], "m4"], d_model=[512, 768], d_intermediate=[0, 2560],
        d_state=128, d_conv=4, expand=2, headdim=64, chunk_size=256,
        num_heads=[16, 16], rotary_emb_dim=[32, 48], window_size=[1023, -1],
        router="learned", target_ratio=4.0, fusion="mean", ratio_loss_weight=0.03,
    ),
    # The paper's 2.5M ablation proxy (App. B), with CPU-friendly SSM sizes.
    "ldarnet-proxy": dict(
        arch_layout=["m3t1", ["M6"], "m3"], d_model=[64, 128], d_intermediate=[0, 704],
        d_state=32, d_conv=4, expand=2, headdim=32, chunk_size=64,
        num_heads=[4, 4], rotary_emb_dim=[16, 16], window_size=[1023, -1],
        router="learned", target_ratio=4.0, fusion="mean", ratio_loss_weight=0.03,
    ),
    # Under 200k parameters, for tests.
    "ldarnet-tiny": dict(
        arch_layout=["m1t1", ["M2"], "m1"], d_model=[32, 64], d_intermediate=[0, 128],
        d_state=16, d_conv=4, expand=2, headdim=16, chunk_size=16,
        num_heads=[2, 2], rotary_emb_dim=[8, 8], window_size=[31, -1],
        router="learned", target_ratio=4.0, fusion="mean", ratio_loss_weight=0.03,
    ),
}
