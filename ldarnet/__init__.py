"""LDARNet: a DNA masked-language model that learns where to put its token boundaries.

The public names below are imported on first use (PEP 562), so ``import ldarnet`` and the
``ldarnet`` command's ``--help`` do not pay for torch; ``from ldarnet import LDARNet`` works as usual.
Public subpackages: :mod:`ldarnet.genome` (genome I/O: FASTA, annotation, regions, tiling, tracks).
"""

from importlib import import_module
from pathlib import Path

__version__ = "0.1.0"

#: the checkpoint shipped with the repository (``ldarnet demo``, the notebooks and the workbench default to it)
DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "checkpoints" / "ldarnet-proxy-multispecies"
#: the value of a ``checkpoint`` argument that asks for random weights on purpose (never a silent fallback)
UNTRAINED = "untrained"

# public name -> the module that defines it
_EXPORTS = {
    "LDARNetConfig": "config", "LDARNet": "model", "BoundaryOutput": "outputs", "LDARNetOutput": "outputs",
    "import_public": "public_checkpoint",
    "MergeDNA": "mergedna", "MergeDNAConfig": "mergedna",
    "load_pretrained": "checkpoint", "resolve_config": "checkpoint", "checkpoint_sha256": "checkpoint", "file_sha256": "checkpoint",
    "atomic_write": "io", "atomic_write_text": "io", "atomic_write_json": "io", "eval_mode": "modes",
    "encode": "vocab", "decode": "vocab", "batch_encode": "vocab", "reverse_complement": "vocab", "reverse_complement_text": "vocab",
    "A_ID": "vocab", "C_ID": "vocab", "G_ID": "vocab", "T_ID": "vocab", "N_ID": "vocab", "MASK_ID": "vocab",
    "PAD_ID": "vocab", "VOCAB_SIZE": "vocab",
}
_SUBPACKAGES = ("genome",)

__all__ = [
    "genome", "DEFAULT_CHECKPOINT", "UNTRAINED",
    "LDARNetConfig", "LDARNet", "BoundaryOutput", "LDARNetOutput", "MergeDNA", "MergeDNAConfig",
    "import_public", "load_pretrained", "resolve_config", "checkpoint_sha256", "file_sha256",
    "atomic_write", "atomic_write_text", "atomic_write_json", "eval_mode",
    "encode", "decode", "batch_encode", "reverse_complement", "reverse_complement_text",
    "A_ID", "C_ID", "G_ID", "T_ID", "N_ID", "MASK_ID", "PAD_ID", "VOCAB_SIZE",
]


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return import_module(f".{name}", __name__)
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ldarnet' has no attribute {name!r}")
    value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
