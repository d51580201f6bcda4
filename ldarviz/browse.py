"""A genome-browser view of one locus: igv.js inside JupyterLab through igv-notebook, fully offline.

Every track travels inline as a ``data:`` URL (igv.js decodes them itself): the reference record,
the boundary probabilities (bedGraph), the chunks (BED), the annotation (GFF3 lines of the locus)
and motif hits (BED). igv.js comes from the copy bundled in the igv-notebook wheel
(``igv_notebook.init()`` without a version), so nothing is fetched at run time.
igv.js and the tracks are 1-based in its display; everything passed here is 0-based, half-open.
"""

from __future__ import annotations

import base64
import os

import numpy as np
import pandas as pd

from ldarnet.genome import sequence_source

_INITIALISED = False
MAX_REFERENCE = 5_000_000  # bases of a record sent inline; longer records need a served FASTA


def data_url(text: str) -> str:
    """``text`` as a base64 ``data:`` URL (what igv.js reads in place of a file URL)."""
    return "data:text/plain;base64," + base64.b64encode(text.encode()).decode("ascii")


def _bedgraph_text(chrom: str, start: int, probs) -> str:
    probs = np.asarray(probs, dtype=np.float64)
    return "".join(f"{chrom}\t{start + i}\t{start + i + 1}\t{v:.4g}\n" for i, v in enumerate(probs))


def _bed_text(rows) -> str:
    return "".join("\t".join(map(str, r)) + "\n" for r in rows)


def _chunk_rows(chrom: str, start: int, starts, length: int) -> list[tuple]:
    cuts = sorted({0, length} | {int(s) for s in starts if 0 < s < length})
    return [(chrom, start + a, start + b, f"chunk{k}", 0, "+") for k, (a, b) in enumerate(zip(cuts[:-1], cuts[1:]))]


def _gff3_text(annotation, chrom: str, start: int, end: int) -> str:
    """The GFF3 lines of ``annotation`` (a path) on ``chrom`` overlapping ``[start, end)``."""
    out = ["##gff-version 3\n"]
    with open(annotation) as handle:
        for line in handle:
            if line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) >= 9 and fields[0] == chrom and int(fields[3]) - 1 < end and int(fields[4]) > start:
                out.append(line if line.endswith("\n") else line + "\n")
    return "".join(out)


def igv_config(fasta, region: tuple[str, int, int], *, probs=None, threshold: float = 0.5, chunk_starts=None,
               annotation: str | os.PathLike | None = None, hits: pd.DataFrame | None = None,
               variants: pd.DataFrame | None = None) -> dict:
    """The igv.js browser configuration for one locus, every track inline.

    Parameters
    ----------
    fasta
        FASTA path, ``pyfaidx.Fasta`` or dict of name -> str; the whole record of ``region`` is sent.
    region : (chrom, start, end)
        The locus, 0-based half-open; ``probs`` and ``chunk_starts`` index it from its start.
    probs : array-like, shape (end - start,), optional
        Boundary probability per base (bedGraph track).
    chunk_starts : array-like of int, optional
        Chunk starts, 0-based within the region (default: where ``probs > threshold``, and base 0).
    annotation : path, optional
        GFF3 of the record; only the lines overlapping the locus are sent.
    hits : DataFrame, optional
        Motif hits ``start, end, motif_id[, strand]`` in record coordinates.
    variants : DataFrame, optional
        ``pos, ref, alt[, max_abs_delta]`` (e.g. ``VariantEffects.table``), drawn as a BED track.

    Returns
    -------
    dict
        Ready for ``igv_notebook.Browser``.
    """
    chrom, start, end = region
    lengths, fetch = sequence_source(fasta)
    if chrom not in lengths:
        raise ValueError(f"record {chrom!r} is not in the FASTA")
    if not 0 <= start < end <= lengths[chrom]:
        raise ValueError(f"region [{start}, {end}) does not lie within {chrom} (length {lengths[chrom]:,})")
    if lengths[chrom] > MAX_REFERENCE:
        raise ValueError(f"{chrom} has {lengths[chrom]:,} bases, more than the {MAX_REFERENCE:,} sent inline; cut a slice first")
    reference = f">{chrom}\n{fetch(chrom, 0, lengths[chrom])}\n"
    tracks = []
    if probs is not None:
        probs = np.asarray(probs, dtype=np.float64)
        if len(probs) != end - start:
            raise ValueError(f"probs has {len(probs)} values for a region of {end - start} bases")
        tracks.append({"name": "boundary probability", "type": "wig", "format": "bedgraph",
                       "url": data_url(_bedgraph_text(chrom, start, probs)), "min": 0, "max": 1, "height": 60,
                       "color": "#2563eb"})
        if chunk_starts is None:
            chunk_starts = np.flatnonzero(probs > threshold)
    if chunk_starts is not None:
        tracks.append({"name": "chunks", "type": "annotation", "format": "bed", "displayMode": "EXPANDED",
                       "url": data_url(_bed_text(_chunk_rows(chrom, start, chunk_starts, end - start))), "color": "#dc2626"})
    if annotation is not None:
        tracks.append({"name": "annotation", "type": "annotation", "format": "gff3", "displayMode": "EXPANDED",
                       "url": data_url(_gff3_text(annotation, chrom, start, end))})
    if hits is not None and len(hits):
        rows = [(chrom, int(h.start), int(h.end), str(h.motif_id), 0, getattr(h, "strand", "."))
                for h in hits.itertuples(index=False)]
        tracks.append({"name": "motif hits", "type": "annotation", "format": "bed", "url": data_url(_bed_text(rows)),
                       "color": "#059669"})
    if variants is not None and len(variants):
        rows = [(chrom, int(v.pos), int(v.pos) + max(len(v.ref), 1), f"{v.ref}>{v.alt}"
                 + (f" |dp|={v.max_abs_delta:.2f}" if hasattr(v, "max_abs_delta") else ""), 0, ".")
                for v in variants.itertuples(index=False)]
        tracks.append({"name": "variants", "type": "annotation", "format": "bed", "url": data_url(_bed_text(rows)),
                       "color": "#7c3aed"})
    # loadDefaultGenomes False: igv.js would otherwise fetch igv.org's genome list before drawing anything
    return {"reference": {"id": chrom, "name": chrom, "fastaURL": data_url(reference), "indexed": False},
            "locus": f"{chrom}:{start + 1}-{end}", "tracks": tracks, "loadDefaultGenomes": False}


def browse(fasta, region: tuple[str, int, int], **tracks):
    """Show a locus in igv.js inside the notebook (igv-notebook, bundled igv.js, inline tracks).

    Takes the arguments of :func:`igv_config`; returns the ``igv_notebook.Browser``.
    """
    import igv_notebook

    global _INITIALISED
    config = igv_config(fasta, region, **tracks)
    if not _INITIALISED:  # once per kernel: the bundled igv.js is 1.3 MB of notebook output
        igv_notebook.init()  # the igv.js copy inside the wheel: no download
        _INITIALISED = True
    return igv_notebook.Browser(config)
