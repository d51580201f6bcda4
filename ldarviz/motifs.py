"""Motifs: JASPAR (pinned release) or MEME PWMs, scanned on both strands with memelite's FIMO.

Coordinates: hits are 0-based, half-open ``[start, end)`` on the forward strand for both
strands; a ``-`` hit reads the motif on the reverse complement of ``[start, end)``.

PWMs are (4, w) float64 probability matrices in ACGT row order. Scores are FIMO log-odds
(log2, uniform background, pseudocount ``eps``) and p-values are FIMO's exact ones from the
score distribution (memelite's implementation of Grant et al. 2011).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .provenance import attach, file_sha256, make_provenance
from .sequences import one_hot_bool, sequence_source

DEFAULT_RELEASE = "JASPAR2024"
#: TATA-box (TBP), CCAAT-box (NFYA, NFYB), GC-box (SP1), plus Kozak and Initiator consensus PWMs.
DEFAULT_MOTIFS = ("MA0108", "MA0060", "MA0502", "MA0079", "Kozak", "Inr")
#: IUPAC consensus motifs the anchor notebook searched by exact string; here they become PWMs.
CONSENSUS_MOTIFS = {"Kozak": "GCCRCCATGG", "Inr": "YYANWYY"}
HIT_COLUMNS = ["seq_id", "start", "end", "strand", "motif_id", "score", "pvalue"]

_IUPAC = {"A": "A", "C": "C", "G": "G", "T": "T", "U": "T", "R": "AG", "Y": "CT", "S": "CG", "W": "AT",
          "K": "GT", "M": "AC", "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT"}


def iupac_pwm(consensus: str, pseudocount: float = 0.01) -> np.ndarray:
    """(4, w) probability matrix spreading each column evenly over the bases its IUPAC letter allows."""
    columns = []
    for k, letter in enumerate(consensus.upper()):
        if letter not in _IUPAC:
            raise ValueError(f"consensus {consensus!r}: {letter!r} at position {k} is not an IUPAC nucleotide code")
        col = np.array([b in _IUPAC[letter] for b in "ACGT"], dtype=np.float64) + pseudocount
        columns.append(col / col.sum())
    return np.stack(columns, axis=1)


def _normalise(name: str, matrix) -> np.ndarray:
    pwm = np.asarray(matrix, dtype=np.float64)
    if pwm.ndim != 2 or pwm.shape[0] != 4 or pwm.shape[1] < 1:
        raise ValueError(f"motif {name!r}: PWM must have shape (4, w) in ACGT order, got {pwm.shape}")
    if (pwm < 0).any() or not np.isfinite(pwm).all():
        raise ValueError(f"motif {name!r}: PWM has negative or non-finite entries")
    sums = pwm.sum(axis=0)
    if (sums <= 0).any():
        raise ValueError(f"motif {name!r}: a PWM column sums to zero")
    return pwm / sums


def _read_meme_file(path: Path) -> dict[str, np.ndarray]:
    from memelite.io import read_meme

    try:
        raw = read_meme(str(path))
    except (ValueError, IndexError, AttributeError) as err:
        raise ValueError(f"{path}: not a readable MEME motif file ({err})") from None
    if not raw:
        raise ValueError(f"{path}: no MOTIF entries found (is it a MEME file?)")
    return {"_".join(name.split()): _normalise(f"{path}:{name}", pwm) for name, pwm in raw.items()}


def load_motifs(motifs=DEFAULT_MOTIFS, release: str = DEFAULT_RELEASE) -> dict[str, np.ndarray]:
    """Resolve motifs to PWMs.

    Parameters
    ----------
    motifs : str, PathLike, iterable of str, or mapping
        - a MEME file path: every motif in it, keyed by its MOTIF line (spaces -> ``_``);
        - JASPAR matrix IDs, base (``"MA0108"``, latest version in ``release``) or versioned
          (``"MA0108.3"``), keyed ``"<matrix_id>_<name>"``; names in :data:`CONSENSUS_MOTIFS`
          (``"Kozak"``, ``"Inr"``); or ``"iupac:<CONSENSUS>"``;
        - a mapping name -> (4, w) matrix (counts or probabilities, ACGT rows).
    release : str
        JASPAR release of the pyjaspar SQLite database (offline), e.g. ``"JASPAR2024"``.

    Returns
    -------
    dict[str, np.ndarray]
        Motif id -> (4, w) float64 column-normalised probabilities.
    """
    if isinstance(motifs, (str, os.PathLike)) and Path(motifs).is_file():
        return _read_meme_file(Path(motifs))
    if isinstance(motifs, str):
        motifs = [motifs]
    if isinstance(motifs, Mapping):
        return {str(name): _normalise(str(name), pwm) for name, pwm in motifs.items()}
    out: dict[str, np.ndarray] = {}
    db = None
    for item in motifs:
        item = str(item)
        if item in CONSENSUS_MOTIFS:
            out[item] = iupac_pwm(CONSENSUS_MOTIFS[item])
        elif item.lower().startswith("iupac:"):
            out[item[6:].upper()] = iupac_pwm(item[6:])
        elif item.upper().startswith(("MA", "PB", "PF", "PH", "CN", "UN", "POL", "CI")):
            if db is None:
                from pyjaspar import jaspardb

                if release not in jaspardb().get_releases():
                    raise ValueError(f"JASPAR release {release!r} is not in pyjaspar (have {jaspardb().get_releases()})")
                db = jaspardb(release=release)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                motif = db.fetch_motif_by_id(item)
            if motif is None:
                raise ValueError(f"motif {item!r} is not in {release}")
            counts = np.array([motif.counts[b] for b in "ACGT"], dtype=np.float64)
            out[f"{motif.matrix_id}_{motif.name}"] = _normalise(item, counts)
        elif isinstance(item, str) and Path(item).suffix in (".meme", ".txt"):
            raise FileNotFoundError(f"MEME file {item} does not exist")
        else:
            raise ValueError(f"motif {item!r}: not a JASPAR ID, a MEME file, a name in {sorted(CONSENSUS_MOTIFS)} "
                             "or 'iupac:<consensus>'")
    if not out:
        raise ValueError("no motifs given")
    return out


def shuffle_columns(motifs: Mapping[str, np.ndarray], seed: int = 0) -> dict[str, np.ndarray]:
    """Column-shuffled copies of each PWM (a control with the same composition and information).

    Keys get the suffix ``"_colshuf"``. A permutation equal to the identity is redrawn (for w > 1).
    """
    rng = np.random.default_rng(seed)
    out = {}
    for name, pwm in motifs.items():
        order = np.arange(pwm.shape[1])
        for _ in range(100):
            order = rng.permutation(pwm.shape[1])
            if pwm.shape[1] == 1 or not np.allclose(pwm[:, order], pwm):
                break
        out[f"{name}_colshuf"] = np.ascontiguousarray(pwm[:, order])
    return out


def best_pvalue(pwm: np.ndarray, eps: float = 1e-4) -> float:
    """Smallest p-value any site can reach (uniform background): the chance of a top-scoring word.

    Short or degenerate PWMs (e.g. the Initiator ``YYANWYY``: 128 of 16,384 7-mers score the
    maximum, so p >= 0.0078) can never pass a strict threshold.
    """
    log_odds = np.log2(pwm + eps)
    ties = np.isclose(log_odds, log_odds.max(axis=0, keepdims=True)).sum(axis=0)
    return float(np.prod(ties / 4.0))


def _motif_record(motifs, release: str) -> dict:
    if isinstance(motifs, (str, os.PathLike)) and Path(motifs).is_file():
        return {"inputs": {str(motifs): file_sha256(motifs)}, "jaspar_release": None,
                "parameters": {"motif_source": f"MEME file {motifs}"}}
    if isinstance(motifs, Mapping):
        return {"parameters": {"motif_source": "user-supplied PWMs"}}
    return {"jaspar_release": release, "parameters": {"motif_source": f"pyjaspar {release} + IUPAC consensus"}}


def _chunks(lengths: dict[str, int], chunk_size: int, overlap: int):
    """Yield lists of (name, start, end, own_start) pieces totalling <= chunk_size bases.

    Long records are cut into overlapping pieces; a hit belongs to the piece whose own region
    [own_start, end) holds its start, so seams neither lose nor duplicate hits.
    """
    batch, total = [], 0
    for name, n in lengths.items():
        pos = 0
        while pos < n:
            own_start = pos
            start = max(0, pos - overlap)
            end = min(n, start + chunk_size)
            if end - start <= overlap and start > 0:
                break
            if total + (end - start) > chunk_size and batch:
                yield batch
                batch, total = [], 0
            batch.append((name, start, end, own_start))
            total += end - start
            pos = end
    if batch:
        yield batch


def _check_scan_arguments(sequences, motifs, pvalue, both_strands, chunk_size) -> None:
    """One ValueError naming the argument for each way a caller can hand ``scan_motifs`` nonsense."""
    if sequences is None:
        raise ValueError("sequences: got None; give a FASTA path, a pyfaidx.Fasta or a dict of name -> sequence")
    if isinstance(sequences, (str, os.PathLike)) and not Path(sequences).is_file():
        raise ValueError(f"sequences: no FASTA file at {sequences}")
    if isinstance(sequences, Mapping) and (not sequences or not any(len(s) for s in sequences.values())):
        raise ValueError("sequences: no sequence given (empty dict or empty sequences)")
    if motifs is None:
        raise ValueError(f"motifs: got None; give JASPAR ids, consensus names, a MEME file or a dict of PWMs "
                         f"(default {list(DEFAULT_MOTIFS)})")
    if not isinstance(motifs, (str, os.PathLike)) and not isinstance(motifs, (Mapping, Iterable)):
        raise ValueError(f"motifs: expected ids, a MEME file or a dict of PWMs, got {type(motifs).__name__}")
    if isinstance(motifs, (str, Mapping, list, tuple, set, frozenset)) and len(motifs) == 0:
        raise ValueError("motifs: empty; give at least one motif")
    if isinstance(pvalue, bool) or not isinstance(pvalue, (int, float, np.integer, np.floating)) \
            or not 0 < float(pvalue) < 1:
        raise ValueError(f"pvalue: must be a number in (0, 1), got {pvalue!r}")
    if not isinstance(both_strands, (bool, np.bool_)):
        raise ValueError(f"both_strands: must be True or False, got {both_strands!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size: must be a positive int, got {chunk_size!r}")


def scan_motifs(sequences, motifs=DEFAULT_MOTIFS, pvalue: float = 1e-4, both_strands: bool = True, *,
                release: str = DEFAULT_RELEASE, chunk_size: int = 32_000_000) -> pd.DataFrame:
    """Find PWM hits with memelite's FIMO on one or both strands.

    Parameters
    ----------
    sequences : str, PathLike, pyfaidx.Fasta or dict[str, str]
        FASTA path (plain, bgzip or gzip), open Fasta, or name -> sequence.
    motifs
        Anything :func:`load_motifs` accepts (default: TBP, NFYA, NFYB, SP1, Kozak, Inr).
    pvalue : float
        Report hits with FIMO p-value below this.
    both_strands : bool
        Also scan the reverse complement of every motif.
    release : str
        JASPAR release used for JASPAR IDs; recorded in the output's provenance.
    chunk_size : int
        Bases one-hot encoded per FIMO call; bounds memory (about 8 bytes per base).

    Raises
    ------
    ValueError
        Naming the argument (``sequences``, ``motifs``, ``pvalue``, ``both_strands``,
        ``chunk_size``) when one is None, empty, of the wrong type or out of range, or when a motif
        id is unknown.

    Returns
    -------
    pandas.DataFrame
        ``seq_id, start, end, strand, motif_id, score, pvalue``: 0-based half-open forward-strand
        coordinates, sorted by record order, start and motif. ``attrs["provenance"]`` records the
        JASPAR release (or MEME file hash), the threshold and strands.
    """
    from memelite import fimo

    _check_scan_arguments(sequences, motifs, pvalue, both_strands, chunk_size)
    try:
        pwms = load_motifs(motifs, release=release)
    except (ValueError, FileNotFoundError) as err:
        raise ValueError(f"motifs: {err}") from None
    unreachable = {name: best_pvalue(pwm) for name, pwm in pwms.items() if best_pvalue(pwm) > pvalue}
    if unreachable:
        shown = ", ".join(f"{name} (best p = {p:.2g})" for name, p in unreachable.items())
        warnings.warn(f"motif(s) {shown} cannot reach p < {pvalue:g} and will have no hits; scan them with a "
                      "looser pvalue", stacklevel=2)
    lengths, fetch = sequence_source(sequences, upper=False)  # one_hot_bool folds case itself
    order = {name: k for k, name in enumerate(lengths)}
    max_w = max(p.shape[1] for p in pwms.values())
    gap = "N" * max_w
    frames = []
    for pieces in _chunks(lengths, chunk_size, overlap=max_w - 1):
        text = gap.join(fetch(name, start, end) for name, start, end, _ in pieces)
        offsets = np.cumsum([0] + [end - start + max_w for name, start, end, _ in pieces])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=RuntimeWarning)
            per_motif = fimo(pwms, one_hot_bool(text)[None], threshold=pvalue, reverse_complement=both_strands)
        hits = pd.concat(per_motif, ignore_index=True)
        if hits.empty:
            continue
        start = hits["start"].to_numpy(np.int64)
        piece = np.searchsorted(offsets, start, side="right") - 1
        local = start - offsets[piece]
        width = (hits["end"].to_numpy(np.int64) - start)
        info = np.array([(end - s, own - s, s) for _, s, end, own in pieces], dtype=np.int64)
        keep = (local + width <= info[piece, 0]) & (local >= info[piece, 1])
        names = np.array([name for name, *_ in pieces], dtype=object)
        frames.append(pd.DataFrame({
            "seq_id": names[piece[keep]],
            "start": (local + info[piece, 2])[keep],
            "end": (local + info[piece, 2] + width)[keep],
            "strand": hits["strand"].to_numpy()[keep],
            "motif_id": hits["motif_name"].to_numpy()[keep],
            "score": hits["score"].to_numpy(np.float64)[keep],
            "pvalue": hits["p-value"].to_numpy(np.float64)[keep],
        }))
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({c: [] for c in HIT_COLUMNS})
    table = table.astype({"start": np.int64, "end": np.int64, "score": np.float64, "pvalue": np.float64})
    if len(table):
        table["_order"] = table["seq_id"].map(order)
        table = table.sort_values(["_order", "start", "motif_id", "strand"], kind="stable").drop(columns="_order")
    table = table[HIT_COLUMNS].reset_index(drop=True)
    record = make_provenance(inputs=[sequences] if isinstance(sequences, (str, os.PathLike)) else [],
                             pvalue=pvalue, both_strands=both_strands, motifs=sorted(pwms), scanner="memelite.fimo")
    motif_part = _motif_record(motifs, release)
    record["jaspar_release"] = motif_part.get("jaspar_release")
    record["inputs"].update(motif_part.get("inputs", {}))
    record["parameters"].update(motif_part["parameters"])
    return attach(table, record)


def hits_in(hits: pd.DataFrame, motif_ids: Iterable[str]) -> pd.DataFrame:
    """Rows of ``hits`` for the given motif ids (exact ids or their JASPAR base/versioned prefix)."""
    wanted = tuple(motif_ids)
    mask = hits["motif_id"].map(lambda m: any(m == w or m.startswith(w + "_") or m.startswith(w + ".") for w in wanted))
    return hits[mask]
