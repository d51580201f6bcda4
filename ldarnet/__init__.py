"""LDARNet: a DNA masked-language model that learns where to put its token boundaries."""

from . import genome
from .config import LDARNetConfig
from .model import LDARNet
from .outputs import BoundaryOutput, LDARNetOutput
from .vocab import (
    A_ID, C_ID, G_ID, MASK_ID, N_ID, PAD_ID, T_ID, VOCAB_SIZE,
    batch_encode, decode, encode, reverse_complement,
)

__version__ = "0.1.0"

__all__ = [
    "genome",
    "LDARNetConfig", "LDARNet", "BoundaryOutput", "LDARNetOutput",
    "encode", "decode", "batch_encode", "reverse_complement",
    "A_ID", "C_ID", "G_ID", "T_ID", "N_ID", "MASK_ID", "PAD_ID", "VOCAB_SIZE",
]
