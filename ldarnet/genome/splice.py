"""Splice junctions from an annotation, and the positions where a decoy junction could sit.

One convention for every user (``ldarnet make-task`` and ``ldarviz.splice``): ``junction`` is the
0-based forward-strand index of the base just right of the exon-intron boundary, so the boundary
lies between ``junction - 1`` and ``junction``. For an intron ``[a, b)``:

========  ======  ==========  ==========================================
kind      strand  junction    dinucleotide (read on the transcript strand)
========  ======  ==========  ==========================================
donor     ``+``   ``a``       ``seq[a:a+2]`` (GT when canonical)
acceptor  ``+``   ``b``       ``seq[b-2:b]`` (AG)
donor     ``-``   ``b``       revcomp ``seq[b-2:b]`` (GT)
acceptor  ``-``   ``a``       revcomp ``seq[a:a+2]`` (AG)
========  ======  ==========  ==========================================

Read on the transcript strand, the first base after the boundary is forward index ``junction`` on
``+`` and ``junction - 1`` on ``-`` (:func:`oriented_first_base`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .annotation import introns

__all__ = ["CANONICAL", "JUNCTION_COLUMNS", "splice_junctions", "candidate_junctions", "oriented_first_base",
           "junction_dinucleotides"]

CANONICAL = {"donor": "GT", "acceptor": "AG"}
JUNCTION_COLUMNS = ["seq_id", "kind", "strand", "junction"]


def splice_junctions(annotation: pd.DataFrame) -> pd.DataFrame:
    """Unique donor and acceptor junctions of all annotated multi-exon transcripts.

    Parameters
    ----------
    annotation
        The table from :func:`ldarnet.genome.read_annotation`.

    Returns
    -------
    pandas.DataFrame
        ``seq_id, kind, strand, junction`` (int64, the module's convention), one row per unique
        (record, kind, strand, junction); unstranded introns are skipped. Records in order of first
        appearance, then by junction, kind, strand.
    """
    intr = introns(annotation)
    intr = intr[intr["strand"].isin(["+", "-"])].drop_duplicates(["seq_id", "start", "end", "strand"])
    if intr.empty:
        return pd.DataFrame({c: pd.Series(dtype=np.int64 if c == "junction" else object) for c in JUNCTION_COLUMNS})
    a, b = intr["start"].to_numpy(np.int64), intr["end"].to_numpy(np.int64)
    plus = intr["strand"].to_numpy() == "+"
    seq_id, strand = intr["seq_id"].to_numpy(), np.where(plus, "+", "-")
    table = pd.concat([
        pd.DataFrame({"seq_id": seq_id, "kind": "donor", "strand": strand, "junction": np.where(plus, a, b)}),
        pd.DataFrame({"seq_id": seq_id, "kind": "acceptor", "strand": strand, "junction": np.where(plus, b, a)}),
    ], ignore_index=True).drop_duplicates(JUNCTION_COLUMNS)
    order = {name: k for k, name in enumerate(pd.unique(intr["seq_id"]))}
    table = table.assign(_o=table["seq_id"].map(order)).sort_values(["_o", "junction", "kind", "strand"], kind="stable")
    table = table.drop(columns="_o").reset_index(drop=True)
    table["junction"] = table["junction"].astype(np.int64)
    return table


def oriented_first_base(junction: np.ndarray, strand: np.ndarray) -> np.ndarray:
    """Forward index of the first base after the boundary read on the transcript strand: ``j`` on +, ``j - 1`` on -."""
    return np.where(np.asarray(strand) == "-", np.asarray(junction) - 1, np.asarray(junction)).astype(np.int64)


def junction_dinucleotides(sequence: str, kind: str, strand: str, junction: np.ndarray) -> list[str]:
    """The two intron bases at each junction, read on the transcript strand (``GT``/``AG`` when canonical)."""
    from ..vocab import reverse_complement_text

    left = (kind, strand) in (("donor", "+"), ("acceptor", "-"))  # the intron lies right of the junction
    pieces = [sequence[j:j + 2] if left else sequence[j - 2:j] for j in np.asarray(junction).tolist()]
    return pieces if strand == "+" else [reverse_complement_text(p) for p in pieces]


def candidate_junctions(codes: np.ndarray, kind: str, strand: str) -> np.ndarray:
    """Forward junction indices whose flanking intron bases spell the canonical dinucleotide.

    ``codes`` is a record's (L,) int8 base codes (A 0, C 1, G 2, T 3, other -1; see
    :func:`ldarnet.genome.base_codes`); the result follows the module's junction convention, so a
    decoy found here and a true junction from :func:`splice_junctions` are placed alike.
    """
    a, c, g, t = 0, 1, 2, 3
    x, y = codes[:-1], codes[1:]  # the pair starting at i: (codes[i], codes[i+1])
    if (kind, strand) == ("donor", "+"):      # seq[j:j+2] == GT
        return np.flatnonzero((x == g) & (y == t))
    if (kind, strand) == ("acceptor", "+"):   # seq[j-2:j] == AG
        return np.flatnonzero((x == a) & (y == g)) + 2
    if (kind, strand) == ("donor", "-"):      # seq[j-2:j] == AC (GT on -)
        return np.flatnonzero((x == a) & (y == c)) + 2
    if (kind, strand) == ("acceptor", "-"):   # seq[j:j+2] == CT (AG on -)
        return np.flatnonzero((x == c) & (y == t))
    raise ValueError(f"kind={kind!r}, strand={strand!r}: expected donor/acceptor and +/-")
