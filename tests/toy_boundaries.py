"""A stand-in LDARNet for analysis tests: it cuts exactly where a given k-mer starts, on either strand.

For a forward occurrence ``[s, s + k)`` it sets a chunk start at ``s``; for an occurrence of the
reverse complement it sets one at ``s + k`` (the motif's first base read on the minus strand), the
anchor convention of ``ldarviz.profiles``. Position 0 is always a chunk start, as in the real router.
"""

from __future__ import annotations

import numpy as np
import torch

from ldarnet import encode
from ldarnet.outputs import BoundaryOutput


def _revcomp(seq: str) -> str:
    return seq[::-1].translate(str.maketrans("ACGT", "TGCA"))


class KmerStartModel(torch.nn.Module):
    def __init__(self, kmer: str = "TATAAAA"):
        super().__init__()
        self.fwd = encode(kmer)
        self.rev = encode(_revcomp(kmer))
        self.k = len(kmer)
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, *args, **kwargs):
        raise AssertionError("boundary analyses must not run the full forward")

    def extract_boundaries(self, input_ids, attention_mask=None):
        batch, length = input_ids.shape
        cut = torch.zeros(batch, length + 1, dtype=torch.bool)
        if length >= self.k:
            windows = input_ids.unfold(1, self.k, 1)  # (B, L-k+1, k)
            fwd = (windows == self.fwd).all(-1)
            rev = (windows == self.rev).all(-1)
            cut[:, : length - self.k + 1] |= fwd
            cut[:, self.k:] |= rev
        cut = cut[:, :length]
        cut[:, 0] = True
        if attention_mask is not None:
            cut &= attention_mask.bool()
        prob = cut.float()
        return [BoundaryOutput(prob, cut, cut.sum(1))]


def kmer_boundaries(sequences: dict[str, str], kmer: str = "TATAAAA") -> dict[str, np.ndarray]:
    """The same boundaries computed directly in numpy (a dict of float16 arrays), for quick tests."""
    out = {}
    rc = _revcomp(kmer)
    for name, seq in sequences.items():
        arr = np.zeros(len(seq), dtype=np.float16)
        arr[0] = 1
        for k in range(len(seq) - len(kmer) + 1):
            word = seq[k:k + len(kmer)]
            if word == kmer:
                arr[k] = 1
            if word == rc and k + len(kmer) < len(seq):
                arr[k + len(kmer)] = 1
        out[name] = arr
    return out
