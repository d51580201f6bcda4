"""The seven-token nucleotide vocabulary and its tensor helpers.

Token ids (stable; checkpoints depend on them):

======  ====  ==========================================
token   id    meaning
======  ====  ==========================================
A       0     adenine
C       1     cytosine
G       2     guanine
T       3     thymine (RNA ``U`` is read as T)
N       4     any base; IUPAC ambiguity codes map here
[MASK]  5     masked-language-model mask
[PAD]   6     right padding in a batch
======  ====  ==========================================

Lower-case input (soft-masked repeats) is read as upper case.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

A_ID, C_ID, G_ID, T_ID, N_ID, MASK_ID, PAD_ID = range(7)
VOCAB_SIZE = 7
TOKENS = ("A", "C", "G", "T", "N", "[MASK]", "[PAD]")
BASE_IDS = (A_ID, C_ID, G_ID, T_ID)

#: complement of every id: A<->T, C<->G, and N, [MASK], [PAD] map to themselves.
COMPLEMENT = torch.tensor([T_ID, G_ID, C_ID, A_ID, N_ID, MASK_ID, PAD_ID], dtype=torch.long)
_COMPLEMENT_NP = COMPLEMENT.numpy()

_IUPAC_AMBIGUOUS = "RYSWKMBDHVN"
_LOOKUP = np.full(256, -1, dtype=np.int64)
for _ch, _id in (("A", A_ID), ("C", C_ID), ("G", G_ID), ("T", T_ID), ("U", T_ID)):
    _LOOKUP[ord(_ch)] = _LOOKUP[ord(_ch.lower())] = _id
for _ch in _IUPAC_AMBIGUOUS:
    _LOOKUP[ord(_ch)] = _LOOKUP[ord(_ch.lower())] = N_ID


def encode(sequence: str) -> torch.Tensor:
    """Encode a nucleotide string as token ids.

    Parameters
    ----------
    sequence : str
        DNA or RNA letters; case-insensitive. IUPAC ambiguity codes become N, U becomes T.

    Returns
    -------
    torch.Tensor
        Shape (L,), dtype int64.

    Raises
    ------
    ValueError
        On any other character, naming it and its 0-based position.
    """
    raw = np.frombuffer(sequence.encode("latin-1", errors="replace"), dtype=np.uint8)
    ids = _LOOKUP[raw]
    bad = np.flatnonzero(ids < 0)
    if bad.size:
        pos = int(bad[0])
        raise ValueError(
            f"invalid nucleotide {sequence[pos]!r} at position {pos} "
            f"(accepted: A, C, G, T, U, N and IUPAC codes {_IUPAC_AMBIGUOUS}, any case)"
        )
    return torch.from_numpy(ids.copy())


def decode(ids: torch.Tensor | Sequence[int], skip_pad: bool = True) -> str:
    """Turn ids of shape (L,) back into text; [MASK] is written as ``[MASK]``, pads are dropped."""
    out = []
    for i in (ids.tolist() if isinstance(ids, torch.Tensor) else ids):
        if not 0 <= i < VOCAB_SIZE:
            raise ValueError(f"token id {i} is outside the vocabulary 0..{VOCAB_SIZE - 1}")
        if i == PAD_ID and skip_pad:
            continue
        out.append(TOKENS[i])
    return "".join(out)


def batch_encode(sequences: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode and right-pad a batch.

    Returns
    -------
    input_ids : torch.Tensor
        (B, L_max) int64, padded with ``PAD_ID`` on the right.
    attention_mask : torch.Tensor
        (B, L_max) int64, 1 at real bases and 0 at pads.
    """
    if isinstance(sequences, str):
        raise TypeError("batch_encode takes a list of sequences; use encode() for one string")
    encoded = []
    for k, seq in enumerate(sequences):
        try:
            encoded.append(encode(seq))
        except ValueError as err:
            raise ValueError(f"sequence {k}: {err}") from None
    length = max((len(e) for e in encoded), default=0)
    input_ids = torch.full((len(encoded), length), PAD_ID, dtype=torch.long)
    attention_mask = torch.zeros((len(encoded), length), dtype=torch.long)
    for k, e in enumerate(encoded):
        input_ids[k, : len(e)] = e
        attention_mask[k, : len(e)] = 1
    return input_ids, attention_mask


def reverse_within_length(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row of ``x`` (B, L, ...) within its first ``lengths[b]`` positions.

    Positions at or beyond a row's length stay where they are, so right padding stays on the
    right. The map is its own inverse.
    """
    length = x.shape[1]
    t = torch.arange(length, device=x.device)[None, :]
    lengths = lengths.to(x.device)[:, None]
    index = torch.where(t < lengths, lengths - 1 - t, t)
    # row indexing moves whole feature rows; gather would read an index as large as x itself
    return x[torch.arange(x.shape[0], device=x.device)[:, None], index]


def reverse_complement(ids, attention_mask: torch.Tensor | None = None):
    """Reverse-complement token ids of shape (L,) or (B, L): a torch tensor, or a numpy array (same type back).

    With ``attention_mask`` (B, L), each row is reversed within its valid length and its pads
    stay on the right (tensors only). Applying the function twice gives back the input. For
    sequence text use :func:`reverse_complement_text`.
    """
    if isinstance(ids, np.ndarray):
        if attention_mask is not None:
            raise ValueError("reverse_complement: attention_mask goes with torch tensors, not numpy arrays")
        return np.ascontiguousarray(_COMPLEMENT_NP[ids][..., ::-1])
    comp = COMPLEMENT.to(ids.device)[ids]
    if ids.dim() == 1:
        return comp.flip(0)
    if attention_mask is None:
        return comp.flip(1)
    return reverse_within_length(comp, attention_mask.sum(dim=1))

# IUPAC codes complement too (R=A/G <-> Y=C/T, K <-> M, B <-> V, D <-> H; S, W, N self); case is kept
_TEXT_COMPLEMENT = str.maketrans("ACGTUNRYKMBVDHSWacgtunrykmbvdhsw", "TGCAANYRMKVBHDSWtgcaanyrmkvbhdsw")


def reverse_complement_text(sequence: str) -> str:
    """Reverse complement of DNA text (IUPAC-aware, case kept; U reads as T). For token ids: :func:`reverse_complement`."""
    return sequence.translate(_TEXT_COMPLEMENT)[::-1]
