"""Build labeled fine-tuning sets from a genome FASTA and its GFF3/GTF annotation.

- **promoter**: windows centred on every distinct transcription start site (label 1) against
  random windows far from any TSS (label 0);
- **splice donor / acceptor**: windows centred on every annotated exon-intron (donor) or
  intron-exon (acceptor) junction (label 1) against decoy windows centred on a GT (donor) or AG
  (acceptor) dinucleotide that is no annotated site (label 0), decoys matched to the true sites'
  GC content bin by bin.

Every window is read 5'->3' on its strand (reverse-complemented on ``-``) and upper-cased. The
table written keeps where each window came from: ``seq_id, start, end, strand`` (0-based,
half-open, forward-strand coordinates of the window), plus ``kind``.

Where the TSS lies in a promoter window of length ``W``: at index ``W // 2`` of the oriented
sequence. In a donor window the intron's first base (the G of GT) is at index ``W // 2``; in an
acceptor window the exon's first base is at ``W // 2``, so the AG is at ``W // 2 - 2 .. W // 2``.
Annotations without UTRs (such as the yeast CDS-only GFF3) put the "TSS" at the start codon.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..vocab import reverse_complement_text
from .load import save_csv

__all__ = ["promoter_task", "splice_site_task", "build_task", "TASKS"]

TASKS = ("promoter", "donor", "acceptor")
_COLUMNS = ["sequence", "label", "seq_id", "start", "end", "strand", "kind"]


def promoter_task(
    fasta: str | os.PathLike,
    annotation: str | os.PathLike,
    *,
    window: int = 300,
    negatives_per_positive: float = 1.0,
    min_distance: int = 2000,
    max_n_fraction: float = 0.01,
    seed: int = 0,
    skip_outside: bool = False,
) -> pd.DataFrame:
    """TSS-centred promoter windows (label 1) vs random non-promoter windows (label 0).

    Parameters
    ----------
    fasta, annotation : path
        Genome FASTA (plain, bgzip or plain gzip) and its GFF3/GTF; record names must match.
    window : int
        Window length in bp; the TSS is at index ``window // 2`` of the oriented window.
    negatives_per_positive : float
        Random windows drawn per TSS window.
    min_distance : int
        A random window's centre lies at least this far from every annotated TSS (either strand).
    max_n_fraction : float
        Windows with a larger share of N are skipped.
    seed : int
        Seeds the random windows and their strands.

    Returns
    -------
    pandas.DataFrame
        ``sequence, label, seq_id, start, end, strand, kind`` (``kind`` is ``tss`` or ``random``),
        positives first, each group sorted by position.
    """
    from ldarnet.genome import transcripts

    _check_window(window)
    features = _checked_annotation(fasta, annotation, skip_outside)
    starts = transcripts(features)
    if starts.empty:
        raise ValueError(f"{annotation}: no transcripts with exons or CDS, so no TSS to centre windows on")
    tss = np.where(starts["strand"].to_numpy() == "-", starts["end"].to_numpy() - 1, starts["start"].to_numpy())
    sites = pd.DataFrame({"seq_id": starts["seq_id"], "pos": tss, "strand": starts["strand"]}).drop_duplicates()
    genome = _read_records(fasta, annotation, sites["seq_id"].unique())
    rng = np.random.default_rng(seed)
    positives = _windows_at(genome, sites, window, offset=window // 2, max_n=max_n_fraction, kind="tss", label=1)
    if positives.empty:
        raise ValueError(f"{fasta}: no TSS window of {window} bp fits inside its record with <= {max_n_fraction:.0%} N")
    wanted = int(round(len(positives) * negatives_per_positive))
    negatives = []
    for seq_id, count in _spread_counts(genome, wanted, rng).items():
        near = np.sort(sites.loc[sites["seq_id"] == seq_id, "pos"].to_numpy())
        picked = _random_far_windows(genome[seq_id], near, count, window, min_distance, max_n_fraction, rng)
        negatives.append(pd.DataFrame({"seq_id": seq_id, "pos": picked, "strand": rng.choice(["+", "-"], len(picked))}))
    negatives = _windows_at(genome, pd.concat(negatives), window, offset=window // 2, max_n=1.0, kind="random", label=0)
    if negatives.empty:
        raise ValueError(f"{fasta}: found no {window} bp window at least {min_distance} bp from every TSS")
    table = pd.concat([positives, negatives], ignore_index=True)[_COLUMNS]
    table.attrs["skipped_outside"] = features.attrs.get("skipped_outside", 0)
    return table


def splice_site_task(
    fasta: str | os.PathLike,
    annotation: str | os.PathLike,
    *,
    site: str = "donor",
    window: int = 400,
    decoys_per_site: float = 1.0,
    gc_bin_width: float = 0.05,
    min_distance: int = 50,
    max_n_fraction: float = 0.01,
    seed: int = 0,
    skip_outside: bool = False,
) -> pd.DataFrame:
    """Annotated splice donor or acceptor windows (label 1) vs GC-matched GT/AG decoys (label 0).

    Parameters
    ----------
    site : {"donor", "acceptor"}
        Donors centre the window on the intron's first base (GT), acceptors on the exon's first base
        after the intron (AG just before the centre).
    decoys_per_site : int
        Decoy windows per true site (a whole number).
    gc_bin_width : float
        GC fractions are binned this finely; each true site gets ``decoys_per_site`` decoys from its
        bin (``ldarnet.genome.match_on_gc``); a site whose bin runs short takes the unused
        candidates nearest in GC.
    min_distance : int
        A decoy's dinucleotide lies at least this far from every annotated site of that kind.
    seed : int
        Seeds the decoy sampling.

    Returns
    -------
    pandas.DataFrame
        ``sequence, label, seq_id, start, end, strand, kind`` (``kind`` is ``donor``/``acceptor``
        or ``decoy``). ``attrs["gc_match"]`` holds the mean GC of sites and decoys.
    """
    from ldarnet.genome import (CANONICAL, base_codes, candidate_junctions, match_on_gc, oriented_first_base,
                                splice_junctions)

    if site not in ("donor", "acceptor"):
        raise ValueError(f"site={site!r}; choose 'donor' or 'acceptor'")
    _check_window(window)
    if not 0 < gc_bin_width <= 1:
        raise ValueError(f"gc_bin_width={gc_bin_width} must be in (0, 1]")
    if decoys_per_site < 1 or int(decoys_per_site) != decoys_per_site:
        raise ValueError(f"decoys per site={decoys_per_site} must be a whole number >= 1")
    features = _checked_annotation(fasta, annotation, skip_outside)
    junctions = splice_junctions(features)
    junctions = junctions[junctions["kind"] == site]
    if junctions.empty:
        raise ValueError(f"{annotation}: no stranded introns (transcripts with two or more exons) to take splice sites from")
    # the window centre: the first base after the boundary, read on the transcript strand
    sites = pd.DataFrame({"seq_id": junctions["seq_id"].to_numpy(), "strand": junctions["strand"].to_numpy(),
                          "pos": oriented_first_base(junctions["junction"], junctions["strand"])})
    genome = _read_records(fasta, annotation, sites["seq_id"].unique())
    positives = _windows_at(genome, sites, window, offset=window // 2, max_n=max_n_fraction, kind=site, label=1)
    if positives.empty:
        raise ValueError(f"{fasta}: no {site} window of {window} bp fits inside its record with <= {max_n_fraction:.0%} N")
    candidates = []
    for seq_id, seq in genome.items():
        true = sites.loc[sites["seq_id"] == seq_id]
        codes = base_codes(seq)
        for strand in ("+", "-"):
            centres = oriented_first_base(candidate_junctions(codes, site, strand), strand)
            taken = np.sort(true.loc[true["strand"] == strand, "pos"].to_numpy())
            centres = centres[_far_from(centres, taken, min_distance)]
            candidates.append(pd.DataFrame({"seq_id": seq_id, "pos": centres, "strand": strand}))
    pool = pd.concat(candidates, ignore_index=True)
    rng = np.random.default_rng(seed)
    # score GC on a random subset big enough for matching; reading every GT of a genome is wasteful
    pool = pool.iloc[rng.permutation(len(pool))[: max(50 * len(positives), 1000)]]
    pool = _windows_at(genome, pool, window, offset=window // 2, max_n=max_n_fraction, kind="decoy", label=0)
    if pool.empty:
        raise ValueError(f"{fasta}: no {CANONICAL[site]} decoy window of {window} bp away from annotated {site}s")
    cells = {name: pd.DataFrame({"group": 0, "length": window, "gc": _gc(table["sequence"])})
             for name, table in (("sites", positives), ("pool", pool))}
    _, rows = match_on_gc(cells["sites"], cells["pool"], n_per_site=int(decoys_per_site), gc_bin_width=gc_bin_width,
                          rng=rng, fill_nearest=True)
    decoys = pool.iloc[np.sort(rows)].sort_values(["seq_id", "start"], kind="stable")
    table = pd.concat([positives, decoys], ignore_index=True)[_COLUMNS]
    table.attrs["gc_match"] = {"site_mean_gc": float(_gc(positives["sequence"]).mean()),
                               "decoy_mean_gc": float(_gc(decoys["sequence"]).mean())}
    table.attrs["skipped_outside"] = features.attrs.get("skipped_outside", 0)
    return table


def build_task(task: str, fasta: str | os.PathLike, annotation: str | os.PathLike, out_csv: str | os.PathLike,
               **options) -> pd.DataFrame:
    """Build ``task`` (``promoter``, ``donor`` or ``acceptor``) and write it to ``out_csv`` atomically."""
    if task == "promoter":
        table = promoter_task(fasta, annotation, **options)
    elif task in ("donor", "acceptor"):
        table = splice_site_task(fasta, annotation, site=task, **options)
    else:
        raise ValueError(f"task={task!r}; choose one of {TASKS}")
    save_csv(table, Path(out_csv))
    return table


# -- internals ---------------------------------------------------------------------------------

def _check_window(window: int) -> None:
    if not isinstance(window, int) or window < 4:
        raise ValueError(f"window={window!r} must be an integer of at least 4 bp")


def _checked_annotation(fasta, annotation, skip_outside: bool) -> pd.DataFrame:
    """The annotation with every feature inside a FASTA record: an error naming the first feature
    outside (file and line), or with ``skip_outside`` those features dropped (count in ``attrs``)."""
    from ldarnet.genome import check_within_records, read_annotation, record_lengths

    return check_within_records(read_annotation(annotation), record_lengths(fasta), str(fasta), skip=skip_outside)


def _read_records(fasta, annotation, names) -> dict[str, str]:
    """Upper-cased sequence of every annotated record present in the FASTA."""
    from ldarnet.genome import open_fasta

    with open_fasta(fasta, uppercase=True, quiet=True) as handle:
        present = set(handle.keys())
        wanted = [n for n in names if n in present]
        if not wanted:
            raise ValueError(f"{annotation}: none of its sequence names {sorted(names)[:5]} is a record of {fasta} "
                             f"(which has {sorted(present)[:5]})")
        return {name: str(handle[name][:].seq) for name in wanted}


def _windows_at(genome: dict[str, str], sites: pd.DataFrame, window: int, *, offset: int, max_n: float,
                kind: str, label: int) -> pd.DataFrame:
    """Oriented windows with the site at index ``offset``; drops windows off the record or too N-rich."""
    rows = []
    for seq_id, pos, strand in sites[["seq_id", "pos", "strand"]].itertuples(index=False):
        if seq_id not in genome:
            continue
        seq = genome[seq_id]
        # on "-" the oriented index i is forward position end - 1 - i, so the site needs end = pos + offset + 1
        start = pos - offset if strand != "-" else pos + offset + 1 - window
        end = start + window
        if start < 0 or end > len(seq):
            continue
        text = seq[start:end]
        if text.count("N") > max_n * window:
            continue
        if strand == "-":
            text = reverse_complement_text(text)
        rows.append((text, label, seq_id, int(start), int(end), strand, kind))
    return pd.DataFrame.from_records(rows, columns=_COLUMNS)


def _spread_counts(genome: dict[str, str], total: int, rng: np.random.Generator) -> dict[str, int]:
    """Split ``total`` draws over records in proportion to their lengths."""
    names = list(genome)
    weights = np.array([len(genome[n]) for n in names], dtype=float)
    counts = rng.multinomial(total, weights / weights.sum())
    return {n: int(c) for n, c in zip(names, counts) if c}


def _random_far_windows(seq: str, sites: np.ndarray, count: int, window: int, min_distance: int,
                        max_n: float, rng: np.random.Generator) -> np.ndarray:
    """Centres of up to ``count`` distinct windows inside ``seq`` whose centre is >= min_distance from every site."""
    low, high = window // 2, len(seq) - (window - window // 2)
    if high <= low:
        return np.empty(0, dtype=np.int64)
    chosen: set[int] = set()
    for _ in range(20):  # rejection sampling in rounds; dense annotations reject most draws
        need = count - len(chosen)
        if need <= 0:
            break
        draws = rng.integers(low, high, size=4 * need + 16)
        draws = draws[_far_from(draws, sites, min_distance)]
        for centre in draws:
            if len(chosen) >= count:
                break
            text = seq[centre - window // 2: centre - window // 2 + window]
            if centre not in chosen and text.count("N") <= max_n * window:
                chosen.add(int(centre))
    return np.array(sorted(chosen), dtype=np.int64)


def _far_from(points: np.ndarray, sites: np.ndarray, distance: int) -> np.ndarray:
    """(len(points),) bool: True where no value of the sorted ``sites`` lies within ``distance``."""
    if sites.size == 0:
        return np.ones(len(points), dtype=bool)
    idx = np.searchsorted(sites, points)
    left = np.abs(points - sites[np.clip(idx - 1, 0, sites.size - 1)])
    right = np.abs(sites[np.clip(idx, 0, sites.size - 1)] - points)
    return np.minimum(left, right) >= distance


def _gc(sequences: pd.Series) -> np.ndarray:
    text = sequences.to_numpy()
    return np.array([(s.count("G") + s.count("C")) / max(len(s) - s.count("N"), 1) for s in text])
