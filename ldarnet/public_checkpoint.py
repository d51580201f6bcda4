"""Import a checkpoint written by the public LDARNet code (darlednik/ICML-LDARNet) as an LDARNet checkpoint.

Their ``pretrain.py`` saves ``torch.save({"model": state_dict, "opt": ..., "config": {...}, "step": ...,
"args": {...}})``; the released 110M model (Hugging Face ``darlednik/LDARNet-110M``,
``model_ckpt_110m.pt``) is such a file. We read it with ``torch.load(weights_only=True)`` only, so a
file that needs arbitrary Python objects is refused rather than executed, then translate the config,
map every tensor by name and shape (nothing may be left over on either side) and write
``model.safetensors`` + ``config.json`` + ``import.json``.

Their conventions, checked one by one against their code, and what the import does about each:

- Reverse EMA gate of the dechunker: theirs gates chunk j with p_j and starts the reverse scan from a
  zero state; ours uses p_{j+1}. The import sets ``dechunk_reverse_gate="own"``.
- SwiGLU: their ``fc1`` output is ``[value, gate]``, ours ``[gate, value]``; the import swaps the two
  halves of the ``fc1`` rows (same function, no option needed).
- BiMamba-2: two ``Mamba2`` modules with tied ``in_proj``/``out_proj`` (both copies are stored; they
  must be equal) and per-direction conv, dt_bias, A_log, D and gated-norm weight, stacked here on a
  leading axis of 2. Directions fused by the mean (``combine="mean"``; their config cannot select
  another). Mamba-2 defaults they rely on: headdim 64, one B/C group, gated RMSNorm after the gate
  (``norm_before_gate=False``), eps 1e-5.
- RMSNorm: pre-norm blocks and a final norm per stack, eps 1e-5 everywhere, as ours (their fused
  ``residual_in_fp32`` add-norm computes the same sum).
- Attention: one packed ``Wqkv`` (q, k, v blocks), no biases, scale 1/sqrt(head size), window ±W
  (flash-attn's ``(W, W)``), GPT-NeoX half-split rotary on the first ``rotary_emb_dim`` channels,
  base 10000, positions restarting at 0 per sequence: all as ours. On a GPU their attention runs in
  bf16/fp16 even for an fp32 model; ours runs in the model's dtype.
- ``residual_proj``: an fp32 ``nn.Linear`` with bias in both; only the init differs (theirs keeps the
  default uniform bias, ours zeros it), as does the per-stage scaling of residual-output weights at
  init. Neither matters for loaded weights, so there is no option.
- Dechunker dtype: fp32 in both (their bf16 scan was fixed before the 110M release).
- Padding: their reverse Mamba direction flips the padded batch, so pads lead and leak into the
  state of real tokens; ours reverses within each sequence's length. Unpadded sequences agree.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import tempfile
from pathlib import Path

import torch

from . import checkpoint
from .config import LDARNetConfig, layout_levels
from .model import LDARNet
from .vocab import MASK_ID, PAD_ID, VOCAB_SIZE

MAPPING_VERSION = 1
IMPORT_NAME = "import.json"
_PAYLOAD_KEYS = {"model", "config", "step", "opt", "args"}
_CONFIG_KEYS = {"arch_layout", "d_model", "d_intermediate", "vocab_size", "ssm_cfg", "attn_cfg",
                "tie_embeddings", "mode", "pad_token_id", "mask_token_id"}
_SSM_KEYS = {"d_conv", "expand", "d_state", "chunk_size"}
_ATTN_KEYS = {"num_heads", "rotary_emb_dim", "window_size"}
_SWIGLU_MULTIPLE = 128  # their SwiGLU rounds d_intermediate up to a multiple of this
_MAMBA_HEADDIM = 64  # mamba_ssm's Mamba2 default; their ssm_cfg cannot change it


def read_public_checkpoint(src: str | os.PathLike) -> dict:
    """``torch.load(src, weights_only=True)`` with one clear error per way a file can be unusable."""
    src = Path(src)
    if not src.is_file():
        raise ValueError(f"{src}: no such file")
    try:
        payload = torch.load(src, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{src}: refused, the file needs arbitrary Python objects to load and LDARNet reads "
                         f"foreign checkpoints only with torch.load(weights_only=True) ({first})") from None
    except (RuntimeError, EOFError, OSError) as err:
        raise ValueError(f"{src}: not a readable torch checkpoint ({str(err).splitlines()[0] if str(err) else err!r})") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("model"), dict):
        raise ValueError(f"{src}: expected a dict with a 'model' state dict (the public code's save_ckpt format)")
    if not isinstance(payload.get("config"), dict):
        raise ValueError(f"{src}: has no embedded 'config' dict; the public code writes one with save_ckpt(..., config=cfg)")
    bad = [k for k, v in payload["model"].items() if not isinstance(k, str) or not torch.is_tensor(v)]
    if bad:
        raise ValueError(f"{src}: 'model' holds non-tensor entries {bad[:5]}")
    return payload


def translate_config(cfg: dict, src: str | os.PathLike = "<config>", args: dict | None = None) -> LDARNetConfig:
    """Their ``LDarConfig`` (as a dict) -> ``LDARNetConfig``. Unknown or contradictory fields raise ValueError."""
    where = f"{src}: config"
    unknown = sorted(set(cfg) - _CONFIG_KEYS)
    if unknown:
        raise ValueError(f"{where} field(s) {unknown} are not in the public LDarConfig; cannot translate")
    for key in ("arch_layout", "d_model", "d_intermediate"):
        if key not in cfg:
            raise ValueError(f"{where} has no field {key!r}")
    fixed = {"vocab_size": VOCAB_SIZE, "pad_token_id": PAD_ID, "mask_token_id": MASK_ID, "mode": "mlm"}
    for key, ours in fixed.items():
        if key in cfg and cfg[key] != ours:
            raise ValueError(f"{where} field {key!r}={cfg[key]!r} contradicts LDARNet's vocabulary/objective ({key}={ours!r})")
    if not isinstance(cfg.get("tie_embeddings", False), bool):
        raise ValueError(f"{where} field 'tie_embeddings'={cfg['tie_embeddings']!r} must be true or false")
    ssm = _sub(cfg, "ssm_cfg", _SSM_KEYS, where)
    attn = _sub(cfg, "attn_cfg", _ATTN_KEYS, where)
    try:
        levels = len(layout_levels(cfg["arch_layout"]))
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    fields = dict(
        arch_layout=cfg["arch_layout"], d_model=cfg["d_model"],
        d_intermediate=[_round_up(d) for d in _per_level(cfg["d_intermediate"], levels, "d_intermediate", where)],
        d_state=ssm.get("d_state", 128), d_conv=ssm.get("d_conv", 4), expand=ssm.get("expand", 2),
        chunk_size=ssm.get("chunk_size", 256), headdim=_MAMBA_HEADDIM, fusion="mean", norm_eps=1e-5,
        dechunk_reverse_gate="own", router="learned",
    )
    # empty lists (their dataclass default) mean "no attention layers": give our per-level fields neutral values
    heads, rotary, window = (attn.get(k) if attn.get(k) not in (None, []) else d
                             for k, d in (("num_heads", 1), ("rotary_emb_dim", 0), ("window_size", -1)))
    fields.update(num_heads=_per_level(heads, levels, "attn_cfg.num_heads", where),
                  rotary_emb_dim=_per_level(rotary, levels, "attn_cfg.rotary_emb_dim", where),
                  window_size=[_window(w, where) for w in _per_level(window, levels, "attn_cfg.window_size", where)])
    args = args or {}
    if isinstance(args.get("num_bytes_per_token"), (int, float)):  # their name for the target ratio N
        fields["target_ratio"] = float(args["num_bytes_per_token"])
    if isinstance(args.get("alpha_ratio"), (int, float)):
        fields["ratio_loss_weight"] = float(args["alpha_ratio"])
    try:
        return LDARNetConfig(**fields)
    except (ValueError, TypeError, IndexError) as err:
        raise ValueError(f"{where}: {err}") from None


def _sub(cfg: dict, key: str, allowed: set, where: str) -> dict:
    value = cfg.get(key) or {}
    if not isinstance(value, dict):
        raise ValueError(f"{where} field {key!r} must be a dict, got {type(value).__name__}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ValueError(f"{where} field(s) {[f'{key}.{k}' for k in unknown]} are not in the public code's {key}; cannot translate")
    return value


def _per_level(value, n: int, name: str, where: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{where} field {name!r} has {len(value)} entries but arch_layout has {n} level(s)")
        return list(value)
    return [value] * n


def _round_up(d):
    if not isinstance(d, int) or isinstance(d, bool) or d < 0:
        return d  # LDARNetConfig names the bad value
    return -(-d // _SWIGLU_MULTIPLE) * _SWIGLU_MULTIPLE


def _window(w, where: str) -> int:
    if isinstance(w, (list, tuple)):  # flash-attn's (left, right)
        if len(w) != 2 or w[0] != w[1]:
            raise ValueError(f"{where} field 'attn_cfg.window_size'={w!r}: only symmetric windows (W, W) are supported")
        w = w[0]
    return w


# -- state dict ------------------------------------------------------------------------------------
_MAMBA_STACKED = {"conv1d.weight": "conv_weight", "conv1d.bias": "conv_bias", "dt_bias": "dt_bias",
                  "A_log": "A_log", "D": "D", "norm.weight": "norm_weight"}
_MAMBA_SHARED = {"in_proj.weight": "in_proj.weight", "out_proj.weight": "out_proj.weight"}
_BLOCK = {"norm1.weight": "norm.weight", "norm2.weight": "mlp_norm.weight", "mlp.fc1.weight": "mlp.fc1.weight",
          "mlp.fc2.weight": "mlp.fc2.weight", "mixer.Wqkv.weight": "mixer.qkv.weight",
          "mixer.out_proj.weight": "mixer.out_proj.weight"}
_STAGE = {"routing_module.q_proj_layer.weight": "router.q_proj.weight",
          "routing_module.k_proj_layer.weight": "router.k_proj.weight",
          "residual_proj.weight": "residual_proj.weight", "residual_proj.bias": "residual_proj.bias"}
_LAYER = re.compile(r"^layers\.(\d+)\.(.+)$")
_MAMBA = re.compile(r"^mixer\.(fwd|bwd)\.(.+)$")


def _translate_key(key: str, n_levels: int) -> tuple[str, str | None] | None:
    """Their parameter name -> (our name, direction or None); None when no rule applies."""
    if key == "embeddings.weight":
        return "embedding.weight", None
    if key == "lm_head.weight":
        return "lm_head.weight", None
    if not key.startswith("backbone."):
        return None
    rest, ours, level = key[len("backbone."):], "stage.", 0
    while rest.startswith("main_network."):  # LDar_k.main_network: LDar_{k+1}, or the Isotropic backbone when innermost
        rest = rest[len("main_network."):]
        if level == n_levels - 1:
            return _translate_stack(rest, ours + "backbone.")
        if rest == "pad_dimension":  # LDar_{k+1}'s filler lives on our Stage_k
            return ours + "pad_dimension", None
        ours, level = ours + "inner.", level + 1
    if level == n_levels - 1:
        return None
    for prefix, stack in (("encoder.", "encoder."), ("decoder.", "decoder.")):
        if rest.startswith(prefix):
            return _translate_stack(rest[len(prefix):], ours + stack)
    return (ours + _STAGE[rest], None) if rest in _STAGE else None


def _translate_stack(rest: str, ours: str) -> tuple[str, str | None] | None:
    if rest == "rmsnorm.weight":
        return ours + "norm.weight", None
    match = _LAYER.match(rest)
    if not match:
        return None
    index, inner = match.groups()
    ours = f"{ours}blocks.{index}."
    if inner in _BLOCK:
        return ours + _BLOCK[inner], None
    match = _MAMBA.match(inner)
    if match:
        direction, name = match.groups()
        if name in _MAMBA_SHARED:
            return ours + "mixer." + _MAMBA_SHARED[name], "shared:" + direction
        if name in _MAMBA_STACKED:
            return ours + "mixer." + _MAMBA_STACKED[name], direction
    return None


def map_state_dict(theirs: dict[str, torch.Tensor], config: LDARNetConfig, expected: dict[str, torch.Tensor],
                   src: str | os.PathLike = "<checkpoint>", tied_embeddings: bool = False) -> dict[str, torch.Tensor]:
    """Their state dict -> ours. Every key on both sides must be used; shapes must match ``expected``."""
    n_levels = len(config.levels)
    parts: dict[str, dict] = {}
    origin: dict[str, list[str]] = {}  # our name -> their name(s), for error messages
    leftover = []
    for key, tensor in theirs.items():
        target = _translate_key(key, n_levels)
        if target is None:
            leftover.append(key)
            continue
        name, part = target
        slot = parts.setdefault(name, {})
        if (part or "") in slot:
            raise ValueError(f"{src}: tensors {slot[part or ''][0]} and {key} both map to {name}")
        slot[part or ""] = (key, tensor.detach().float())
        origin.setdefault(name, []).append(key)
    if leftover:
        raise ValueError(f"{src}: {len(leftover)} tensor(s) have no counterpart in LDARNet: {sorted(leftover)}")
    state = {}
    for name, slot in parts.items():
        if "fwd" in slot or "bwd" in slot:
            if set(slot) != {"fwd", "bwd"}:
                raise ValueError(f"{src}: {name} needs both Mamba directions, found only {[k for k, _ in slot.values()]}")
            fwd, bwd = slot["fwd"][1], slot["bwd"][1]
            if name.endswith("conv_weight"):  # (C, 1, K) depthwise conv -> (C, K)
                fwd, bwd = fwd.squeeze(1), bwd.squeeze(1)
            state[name] = torch.stack([fwd, bwd])
        elif "shared:fwd" in slot or "shared:bwd" in slot:
            if set(slot) != {"shared:fwd", "shared:bwd"}:
                raise ValueError(f"{src}: {name} is tied between Mamba directions but only {[k for k, _ in slot.values()]} is stored")
            (kf, fwd), (kb, bwd) = slot["shared:fwd"], slot["shared:bwd"]
            if fwd.shape != bwd.shape or not torch.equal(fwd, bwd):
                raise ValueError(f"{src}: {kf} and {kb} should be one tied tensor but differ")
            state[name] = fwd
        else:
            tensor = slot[""][1]
            if name.endswith("mlp.fc1.weight"):  # theirs [value; gate], ours [gate; value]
                value, gate = tensor.chunk(2, dim=0)
                tensor = torch.cat([gate, value], dim=0)
            state[name] = tensor
    if tied_embeddings and not torch.equal(state.get("embedding.weight"), state.get("lm_head.weight")):
        raise ValueError(f"{src}: config says tie_embeddings=true but embeddings.weight and lm_head.weight differ")
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise ValueError(f"{src}: state dict does not match the translated config: LDARNet tensors with no source "
                         f"{missing}, source tensors with no place in LDARNet {[k for n in extra for k in origin[n]]}")
    for name, tensor in state.items():
        if tensor.shape != expected[name].shape:
            raise ValueError(f"{src}: {' + '.join(origin[name])} gives {name} the shape {tuple(tensor.shape)}, "
                             f"the translated config needs {tuple(expected[name].shape)}")
    return state


def import_public(src: str | os.PathLike, out_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Convert a public-code checkpoint ``src`` (.pt) into an LDARNet checkpoint folder ``out_dir``.

    Writes ``model.safetensors``, ``config.json`` and ``import.json`` (source file name, its sha256,
    their training step, the mapping version). Nothing is written unless every check passes; the
    folder appears whole (built beside it, then renamed). Raises ValueError naming the file and the
    field or tensors at fault. Returns ``out_dir``.
    """
    src, out_dir = Path(src), Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())) and not overwrite:
        raise ValueError(f"{out_dir} exists and is not an empty folder; choose a new folder or overwrite")
    payload = read_public_checkpoint(src)
    args = payload.get("args") if isinstance(payload.get("args"), dict) else None
    config = translate_config(payload["config"], src, args)
    model = LDARNet(config)
    state = map_state_dict(payload["model"], config, model.state_dict(), src,
                           tied_embeddings=bool(payload["config"].get("tie_embeddings", False)))
    checkpoint.restore(model, state, src)
    step = payload.get("step")
    record = {
        "source": src.name, "source_sha256": checkpoint.file_sha256(src),
        "source_step": step if isinstance(step, (int, float, str)) or step is None else str(step),
        "mapping_version": MAPPING_VERSION, "source_config": payload["config"],
        "source_dtypes": sorted({str(t.dtype).replace("torch.", "") for t in payload["model"].values()}),
        "ignored_payload_keys": sorted(set(payload) - {"model", "config", "step"}),
        "conventions": {"dechunk_reverse_gate": config.dechunk_reverse_gate, "swiglu_fc1_halves": "swapped",
                        "bimamba_tied_projections": "merged", "mamba_per_direction": "stacked on axis 0"},
    }
    _write_folder(model, record, out_dir)
    return out_dir


def _write_folder(model: LDARNet, record: dict, out_dir: Path) -> None:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.import."))
    try:
        checkpoint.save(model, build)
        (build / IMPORT_NAME).write_text(json.dumps(record, indent=2, default=str) + "\n")
        os.chmod(build, 0o777 & ~_umask())
        old = None
        if out_dir.exists():
            old = out_dir.parent / f".{out_dir.name}.old.{os.getpid()}"
            os.replace(out_dir, old)
        os.replace(build, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if build.exists():
            shutil.rmtree(build, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
