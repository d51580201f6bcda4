"""Splice sites from an annotation, and controls matched on GC and window length.

Junction convention (both strands, shared with ``ldarnet make-task``): see ``ldarnet.genome.splice``.
``junction`` is the 0-based forward-strand index of the base just right of the exon-intron
boundary, so a boundary mask value ``mask[junction]`` (a chunk starting there) marks a cut exactly
at the junction.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ldarnet.genome import (CANONICAL, candidate_junctions, check_within_records, junction_dinucleotides, read_annotation,
                            splice_junctions)

from .matching import match_on_gc, record_cumsums, warn_unmatched, window_stats
from .provenance import attach, make_provenance
from .sequences import sequence_source

SITE_COLUMNS = ["seq_id", "kind", "strand", "junction", "dinucleotide"]


def _as_annotation(annotation) -> pd.DataFrame:
    if isinstance(annotation, (str, os.PathLike)):
        return read_annotation(annotation)
    if isinstance(annotation, pd.DataFrame):
        return annotation
    raise ValueError(f"annotation must be a GFF3/GTF path or a read_annotation() table, got {type(annotation).__name__}")


def splice_sites(annotation, fasta) -> pd.DataFrame:
    """Unique donor and acceptor junctions of all annotated transcripts.

    Parameters
    ----------
    annotation : path or DataFrame
        GFF3/GTF file (plain or gzip) or the table from ``ldarnet.genome.read_annotation``.
    fasta : path, pyfaidx.Fasta or dict[str, str]
        The genome the annotation refers to.

    Returns
    -------
    pandas.DataFrame
        ``seq_id, kind, strand, junction, dinucleotide``: one row per unique (record, kind, strand,
        junction) over all transcripts; ``kind`` is ``donor``/``acceptor``, ``junction`` follows the
        module's convention (0-based forward-strand index of the base right of the boundary) and
        ``dinucleotide`` is the two intron bases at the junction read on the transcript strand.
        Unstranded introns are skipped. Sorted by record, junction, kind.

    Raises
    ------
    ValueError
        When a record is missing from the FASTA or a feature lies outside its record (naming the
        annotation file and line).
    """
    ann = _as_annotation(annotation)
    lengths, fetch = sequence_source(fasta)
    fasta_name = str(fasta) if isinstance(fasta, (str, os.PathLike)) else "the sequences"
    check_within_records(ann, lengths, fasta_name)
    junctions = splice_junctions(ann)
    order = {name: k for k, name in enumerate(lengths)}
    parts = []
    for name, group in junctions.groupby("seq_id", sort=False):
        seq = fetch(name, 0, lengths[name])
        dinucleotide = pd.Series("", index=group.index, dtype=object)
        for (kind, strand), rows in group.groupby(["kind", "strand"], sort=False):
            dinucleotide.loc[rows.index] = junction_dinucleotides(seq, kind, strand, rows["junction"].to_numpy())
        parts.append(group.assign(dinucleotide=dinucleotide))
    if not parts:
        table = pd.DataFrame({c: pd.Series(dtype=object if c != "junction" else np.int64) for c in SITE_COLUMNS})
    else:
        table = pd.concat(parts, ignore_index=True)
        table = table.assign(_o=table["seq_id"].map(order)).sort_values(["_o", "junction", "kind", "strand"], kind="stable")
        table = table.drop(columns="_o").reset_index(drop=True)
    table["junction"] = table["junction"].astype(np.int64)
    inputs = [p for p in (ann.attrs.get("source_path"), fasta) if isinstance(p, (str, os.PathLike))]
    return attach(table[SITE_COLUMNS], make_provenance(inputs=inputs, analysis="splice_sites"))


def canonical_fractions(sites: pd.DataFrame) -> dict[str, float]:
    """Fraction of donors reading GT and of acceptors reading AG (a sanity check of the coordinates)."""
    out = {}
    for kind, motif in CANONICAL.items():
        rows = sites[sites["kind"] == kind]
        out[kind] = float((rows["dinucleotide"] == motif).mean()) if len(rows) else float("nan")
    return out


def matched_controls(sites: pd.DataFrame, fasta, n_per_site: int = 1, gc_bin_width: float = 0.02,
                     window: int = 200, seed: int = 0, *, exclude: pd.DataFrame | None = None,
                     max_n_fraction: float = 0.1) -> pd.DataFrame:
    """Decoy junctions: the same canonical dinucleotide on the same strand, at no annotated junction,
    matched to each true site on window GC content and window length.

    Parameters
    ----------
    sites : DataFrame
        From :func:`splice_sites` (non-canonical sites get no control: there is no decoy pattern).
    fasta : path, pyfaidx.Fasta or dict[str, str]
    n_per_site : int
        Controls per site; each candidate position is used once.
    gc_bin_width : float
        GC bin width for matching; pairs are GC-rank-matched inside a bin.
    window : int
        Window ``[junction - window // 2, junction - window // 2 + window)``, clipped to the record.
    seed : int
        Seed of the random draw.
    exclude : DataFrame, optional
        Junctions (``seq_id, junction``) no control may sit on; default: ``sites`` itself. Pass the
        full ``splice_sites`` table when ``sites`` is a subset.
    max_n_fraction : float
        Candidates whose window has more non-ACGT bases than this are skipped.

    Returns
    -------
    pandas.DataFrame
        ``seq_id, kind, strand, junction, dinucleotide, gc``, indexed by the label of the true site
        each control is matched to (index name ``site``). ``attrs["site_gc"]`` holds the true
        sites' window GC (a Series on ``sites.index``).
    """
    if n_per_site < 1:
        raise ValueError(f"n_per_site must be >= 1, got {n_per_site}")
    if not 0 < gc_bin_width <= 1:
        raise ValueError(f"gc_bin_width must be in (0, 1], got {gc_bin_width}")
    missing = [c for c in SITE_COLUMNS if c not in sites.columns]
    if missing:
        raise ValueError(f"sites table lacks column(s) {missing}; expected {SITE_COLUMNS} (from splice_sites)")
    rng = np.random.default_rng(seed)
    lengths, fetch = sequence_source(fasta)
    exclude = sites if exclude is None else exclude
    site_gc = pd.Series(np.nan, index=sites.index, name="gc")
    site_parts, cand_parts = [], []
    for name in [n for n in lengths if n in set(sites["seq_id"])]:
        codes, gc_cum, acgt_cum = record_cumsums(fetch, name, lengths[name])
        taken = np.unique(exclude.loc[exclude["seq_id"] == name, "junction"].to_numpy(np.int64))
        in_record = sites[sites["seq_id"] == name]
        gc, win, _ = window_stats(gc_cum, acgt_cum, in_record["junction"].to_numpy(np.int64), window)
        site_gc.loc[in_record.index] = gc
        canonical = in_record["dinucleotide"].to_numpy() == in_record["kind"].map(CANONICAL).to_numpy()
        site_parts.append(pd.DataFrame({"label": in_record.index[canonical], "group": (in_record["kind"] + in_record["strand"]).to_numpy()[canonical],
                                        "gc": gc[canonical], "length": win[canonical]}))
        for kind in CANONICAL:
            for strand in "+-":
                if not ((in_record["kind"] == kind) & (in_record["strand"] == strand)).any():
                    continue
                cand = candidate_junctions(codes, kind, strand)
                cand = cand[~np.isin(cand, taken)]
                cgc, cwin, cn = window_stats(gc_cum, acgt_cum, cand, window)
                keep = cn <= max_n_fraction
                cand_parts.append(pd.DataFrame({"seq_id": name, "group": kind + strand, "junction": cand[keep],
                                                "gc": cgc[keep], "length": cwin[keep]}))
    site_table = pd.concat(site_parts, ignore_index=True) if site_parts else pd.DataFrame(columns=["label", "group", "gc", "length"])
    cand_table = pd.concat(cand_parts, ignore_index=True) if cand_parts else pd.DataFrame(columns=["seq_id", "group", "junction", "gc", "length"])
    site_rows, cand_rows = match_on_gc(site_table, cand_table, n_per_site=n_per_site, gc_bin_width=gc_bin_width, rng=rng)
    warn_unmatched(len(site_table), site_rows, n_per_site, "matched_controls")
    labels = site_table["label"].to_numpy()[site_rows]
    matched = sites.loc[labels]
    out = pd.DataFrame({
        "seq_id": cand_table["seq_id"].to_numpy()[cand_rows],
        "kind": matched["kind"].to_numpy(),
        "strand": matched["strand"].to_numpy(),
        "junction": cand_table["junction"].to_numpy(np.int64)[cand_rows],
        "dinucleotide": matched["dinucleotide"].to_numpy(),
        "gc": cand_table["gc"].to_numpy(np.float64)[cand_rows],
    }, index=pd.Index(labels, name="site")).sort_index(kind="stable")
    out.attrs["site_gc"] = site_gc
    record = make_provenance(inputs=[fasta] if isinstance(fasta, (str, os.PathLike)) else [], seed=seed,
                             analysis="matched_controls", n_per_site=n_per_site, gc_bin_width=gc_bin_width,
                             window=window, max_n_fraction=max_n_fraction)
    return attach(out, record)


def splice_profiles(boundaries: dict[str, np.ndarray], sites: pd.DataFrame, controls: pd.DataFrame, *, flank: int = 50,
                    n_boot: int = 1000, n_perm: int = 1000, peak: int = 2, seed: int = 0,
                    model=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Junction-aligned boundary profiles of true sites vs their matched controls, per kind.

    Parameters
    ----------
    boundaries : dict[str, np.ndarray]
        seq_id -> (L,) boundary probabilities or mask (cut-before-base convention).
    sites, controls : DataFrame
        From :func:`splice_sites` and :func:`matched_controls`.
    model : ldarviz.Loaded, optional
        The loaded model the boundaries came from; its checkpoint hash goes in the provenance.

    Returns
    -------
    profiles : DataFrame
        ``kind, set, offset, mean, lo, hi, n`` with ``set`` in ``true``/``control``; positive
        offsets run into the intron for donors and into the exon for acceptors.
    stats : DataFrame
        Per (kind, set): peak-vs-flank ``enrichment``, ``pvalue`` (permutation), the canonical
        dinucleotide fraction of the true sites, and the mean window GC of each set.
    """
    from .profiles import peak_enrichment, profile_from_matrix, site_matrix

    fractions = canonical_fractions(sites)
    site_gc = controls.attrs.get("site_gc")
    profiles, stats = [], []
    for kind in ("donor", "acceptor"):
        for name, table in (("true", sites), ("control", controls)):
            rows = table[table["kind"] == kind]
            if rows.empty:
                continue
            matrix = site_matrix(boundaries, rows, flank=flank, position="junction")
            profiles.append(profile_from_matrix(matrix, n_boot=n_boot, seed=seed).assign(kind=kind, set=name))
            gc = rows["gc"].mean() if "gc" in rows else (site_gc.loc[rows.index].mean() if site_gc is not None else np.nan)
            stats.append({"kind": kind, "set": name, **peak_enrichment(matrix, peak=peak, n_perm=n_perm, seed=seed),
                          "canonical_fraction": fractions[kind] if name == "true" else 1.0, "mean_gc": float(gc)})
    columns = ["kind", "set", "offset", "mean", "lo", "hi", "n"]
    profiles = pd.concat(profiles, ignore_index=True)[columns] if profiles else pd.DataFrame(columns=columns)
    record = make_provenance(model=model, seed=seed, analysis="splice_profiles", flank=flank, n_boot=n_boot, n_perm=n_perm, peak=peak)
    for parent in (sites, controls):
        record["inputs"].update(parent.attrs.get("provenance", {}).get("inputs", {}))
    return attach(profiles, record), attach(pd.DataFrame(stats), record)
