"""Read GFF3 and GTF gene annotations into tidy tables.

Coordinates: every table uses 0-based, half-open forward-strand intervals ``[start, end)``
(GFF/GTF files are 1-based and closed; ``start = column4 - 1``, ``end = column5``).

Functions
---------
read_annotation(path, format=None)
    One row per feature (per parent for multi-parent features), with ``transcript_id`` and
    ``gene_id`` resolved through the GFF3 ``Parent`` chain or the GTF attributes.
genes, transcripts, exons, cds, utrs, introns
    Tidy per-kind views of that table; ``utrs`` derives UTRs from exons minus the CDS span
    when the file does not list them.

Malformed input raises ``ValueError`` naming the file and the 1-based line number.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd

FEATURE_COLUMNS = ("seq_id", "source", "feature", "start", "end", "strand", "phase",
                   "feature_id", "parent_id", "transcript_id", "gene_id", "name", "line")
INTERVAL_COLUMNS = ("seq_id", "start", "end", "strand", "transcript_id", "gene_id")

GENE_TYPES = frozenset({"gene", "pseudogene", "ncRNA_gene", "transposable_element_gene"})
EXON_TYPES = frozenset({"exon", "noncoding_exon", "pseudogenic_exon"})
CDS_TYPES = frozenset({"CDS"})
FIVE_UTR_TYPES = frozenset({"five_prime_UTR", "5UTR", "five_prime_utr", "5'UTR"})
THREE_UTR_TYPES = frozenset({"three_prime_UTR", "3UTR", "three_prime_utr", "3'UTR"})
# GTF's undirected "UTR" is split into 5'/3' by its position relative to the CDS.
PLAIN_UTR_TYPES = frozenset({"UTR"})
_STRANDS = frozenset({"+", "-", ".", "?"})


def _open_text(path: Path):
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _sniff_format(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".gff3", ".gff")):
        return "gff3"
    if name.endswith(".gtf"):
        return "gtf"
    with _open_text(path) as handle:
        for line in handle:
            if line.startswith("##gff-version"):
                return "gff3"
            if line.startswith("#") or not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            attributes = fields[8] if len(fields) >= 9 else ""
            return "gtf" if ('gene_id "' in attributes or "gene_id '" in attributes) else "gff3"
    return "gff3"


def _gff3_attributes(text: str, where: str) -> dict[str, str]:
    out = {}
    for item in text.strip().strip(";").split(";"):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"{where}: GFF3 attribute {item!r} is not key=value")
        out[key.strip()] = value
    return out


def _gtf_attributes(text: str, where: str) -> dict[str, str]:
    out = {}
    for item in text.strip().split(";"):
        item = item.strip()
        if not item:
            continue
        key, _, value = item.partition(" ")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif not value:
            raise ValueError(f"{where}: GTF attribute {item!r} has no value (expected key \"value\")")
        out.setdefault(key, value)
    return out


def _parse_lines(path: Path, fmt: str) -> pd.DataFrame:
    rows = []
    parse_attributes = _gff3_attributes if fmt == "gff3" else _gtf_attributes
    with _open_text(path) as handle:
        for lineno, line in enumerate(handle, start=1):
            if line.startswith("##FASTA"):
                break
            if line.startswith("#") or not line.strip():
                continue
            where = f"{path}, line {lineno}"
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) != 9:
                raise ValueError(f"{where}: expected 9 tab-separated columns, found {len(fields)}")
            seq_id, source, feature, start, end, _score, strand, phase, attributes = fields
            try:
                start_i, end_i = int(start), int(end)
            except ValueError:
                raise ValueError(f"{where}: start {start!r} and end {end!r} must be integers") from None
            if start_i < 1 or end_i < start_i:
                raise ValueError(f"{where}: need 1 <= start <= end (1-based, closed), got start={start_i} end={end_i}")
            if strand not in _STRANDS:
                raise ValueError(f"{where}: strand must be one of + - . ?, got {strand!r}")
            if phase not in (".", "0", "1", "2"):
                raise ValueError(f"{where}: phase must be ., 0, 1 or 2, got {phase!r}")
            attrs = parse_attributes(attributes, where)
            if fmt == "gff3":
                feature_id = unquote(attrs.get("ID", ""))
                parents = [unquote(p) for p in attrs.get("Parent", "").split(",") if p] or [""]
                name = unquote(attrs.get("Name", attrs.get("gene", "")))
                transcript_id = gene_id = ""
            else:
                gene_id = attrs.get("gene_id", "")
                transcript_id = attrs.get("transcript_id", "")
                if not gene_id and feature not in ("region", "source"):
                    raise ValueError(f"{where}: GTF record has no gene_id attribute")
                feature_id = transcript_id if feature == "transcript" else (gene_id if feature == "gene" else "")
                parents = [gene_id if feature == "transcript" else (transcript_id if feature != "gene" else "")]
                name = attrs.get("gene_name", "")
            for parent in parents:
                rows.append((seq_id, source, feature, start_i - 1, end_i, strand,
                             -1 if phase == "." else int(phase), feature_id, parent,
                             transcript_id, gene_id, name, lineno))
    if not rows:
        raise ValueError(f"{path}: no feature lines found (is it a GFF3/GTF file?)")
    table = pd.DataFrame.from_records(rows, columns=list(FEATURE_COLUMNS))
    table["start"] = table["start"].astype(np.int64)
    table["end"] = table["end"].astype(np.int64)
    table["phase"] = table["phase"].astype(np.int8)
    return table


def _resolve_gff3_ids(table: pd.DataFrame) -> pd.DataFrame:
    """Fill transcript_id / gene_id from the Parent chain.

    A transcript is any feature that is the parent of an exon or CDS; its gene is its own parent.
    """
    child_mask = table["feature"].isin(EXON_TYPES | CDS_TYPES | FIVE_UTR_TYPES | THREE_UTR_TYPES | PLAIN_UTR_TYPES)
    transcript_ids = set(table.loc[child_mask, "parent_id"]) - {""}
    id_to_parent = dict(zip(table["feature_id"], table["parent_id"]))
    is_transcript = table["feature_id"].isin(transcript_ids) & ~child_mask
    table.loc[is_transcript, "transcript_id"] = table.loc[is_transcript, "feature_id"]
    table.loc[is_transcript, "gene_id"] = table.loc[is_transcript, "parent_id"]
    table.loc[child_mask, "transcript_id"] = table.loc[child_mask, "parent_id"]
    table.loc[child_mask, "gene_id"] = table.loc[child_mask, "parent_id"].map(id_to_parent).fillna("")
    is_gene = table["feature"].isin(GENE_TYPES) | (table["feature_id"].isin(set(table.loc[is_transcript, "parent_id"])) & ~is_transcript)
    table.loc[is_gene, "gene_id"] = table.loc[is_gene, "feature_id"]
    # A transcript listed without a parent gene (e.g. a bare mRNA) is its own gene.
    orphan = is_transcript & (table["gene_id"] == "")
    table.loc[orphan, "gene_id"] = table.loc[orphan, "transcript_id"]
    orphan_child = child_mask & (table["gene_id"] == "")
    table.loc[orphan_child, "gene_id"] = table.loc[orphan_child, "transcript_id"]
    return table


def read_annotation(path: str | os.PathLike, format: str | None = None) -> pd.DataFrame:
    """Read a GFF3 or GTF file (plain or gzip) into one tidy feature table.

    Parameters
    ----------
    path : str or PathLike
        The annotation file. Gzip is detected from the file's first bytes.
    format : {"gff3", "gtf"}, optional
        Forces the dialect; by default it is taken from the extension (``.gff``/``.gff3``/``.gtf``,
        optionally ``.gz``) or, failing that, from the attribute syntax.

    Returns
    -------
    pandas.DataFrame
        Columns ``seq_id, source, feature, start, end, strand, phase, feature_id, parent_id,
        transcript_id, gene_id, name, line``. ``line`` is the 1-based line in the file. ``start``/``end`` are int64, 0-based half-open on the
        forward strand; ``phase`` is int8 with -1 for ".". Features with several GFF3 parents
        give one row per parent. ``attrs["source_path"]`` and ``attrs["format"]`` record the input.

    Raises
    ------
    ValueError
        Naming the file and 1-based line for malformed lines (column count, coordinates, strand,
        phase, attribute syntax, GTF records without ``gene_id``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"annotation file {path} does not exist")
    fmt = (format or _sniff_format(path)).lower()
    if fmt in ("gff", "gff3"):
        fmt = "gff3"
    elif fmt != "gtf":
        raise ValueError(f"format must be 'gff3' or 'gtf', got {format!r}")
    table = _parse_lines(path, fmt)
    if fmt == "gff3":
        table = _resolve_gff3_ids(table)
    table.attrs["source_path"] = str(path)
    table.attrs["format"] = fmt
    return table


def _intervals(table: pd.DataFrame, mask: pd.Series, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    out = table.loc[mask, list(INTERVAL_COLUMNS) + list(extra)]
    out = out.drop_duplicates().sort_values(["seq_id", "start", "end", "transcript_id"], kind="stable")
    out = out.reset_index(drop=True)
    out.attrs = dict(table.attrs)
    return out


def genes(annotation: pd.DataFrame) -> pd.DataFrame:
    """Gene intervals: ``seq_id, start, end, strand, gene_id, name, feature`` (0-based, half-open).

    GTF files without ``gene`` lines get one gene per ``gene_id`` spanning its features.
    """
    rows = annotation[annotation["feature"].isin(GENE_TYPES)]
    if rows.empty:
        rows = (annotation[annotation["gene_id"] != ""]
                .groupby(["seq_id", "strand", "gene_id"], as_index=False)
                .agg(start=("start", "min"), end=("end", "max"), name=("name", "first")))
        rows["feature"] = "gene"
    out = rows[["seq_id", "start", "end", "strand", "gene_id", "name", "feature"]]
    out = out.drop_duplicates("gene_id").sort_values(["seq_id", "start"], kind="stable").reset_index(drop=True)
    out.attrs = dict(annotation.attrs)
    return out


def exons(annotation: pd.DataFrame) -> pd.DataFrame:
    """Exons per transcript: ``seq_id, start, end, strand, transcript_id, gene_id`` (0-based, half-open)."""
    return _intervals(annotation, annotation["feature"].isin(EXON_TYPES) & (annotation["transcript_id"] != ""))


def cds(annotation: pd.DataFrame) -> pd.DataFrame:
    """CDS pieces per transcript: ``seq_id, start, end, strand, transcript_id, gene_id, phase``."""
    return _intervals(annotation, annotation["feature"].isin(CDS_TYPES) & (annotation["transcript_id"] != ""), ("phase",))


def transcripts(annotation: pd.DataFrame) -> pd.DataFrame:
    """One row per transcript that has exons or CDS.

    Returns
    -------
    pandas.DataFrame
        ``seq_id, start, end, strand, transcript_id, gene_id, cds_start, cds_end``: the span of
        its exons (or CDS when it has no exons) and of its CDS (``-1`` for non-coding), all 0-based
        half-open on the forward strand. The TSS is ``start`` on ``+`` and ``end - 1`` on ``-``.
    """
    ex = exons(annotation)
    cd = cds(annotation)
    parts = ex if not ex.empty else cd
    span = parts.groupby("transcript_id", sort=False).agg(
        seq_id=("seq_id", "first"), start=("start", "min"), end=("end", "max"),
        strand=("strand", "first"), gene_id=("gene_id", "first")).reset_index()
    coding = cd.groupby("transcript_id").agg(cds_start=("start", "min"), cds_end=("end", "max"))
    span = span.join(coding, on="transcript_id")
    span[["cds_start", "cds_end"]] = span[["cds_start", "cds_end"]].fillna(-1).astype(np.int64)
    out = span[["seq_id", "start", "end", "strand", "transcript_id", "gene_id", "cds_start", "cds_end"]]
    out = out.sort_values(["seq_id", "start", "transcript_id"], kind="stable").reset_index(drop=True)
    out.attrs = dict(annotation.attrs)
    return out


def introns(annotation: pd.DataFrame) -> pd.DataFrame:
    """Introns: the gaps between consecutive exons of each transcript.

    Returns
    -------
    pandas.DataFrame
        ``seq_id, start, end, strand, transcript_id, gene_id``; ``[start, end)`` is the intron,
        0-based half-open on the forward strand. Touching or overlapping exons give no intron.
    """
    ex = exons(annotation).sort_values(["transcript_id", "start"], kind="stable")
    same = ex["transcript_id"].to_numpy()[1:] == ex["transcript_id"].to_numpy()[:-1]
    left, right = ex.iloc[:-1][same], ex.iloc[1:][same]
    out = pd.DataFrame({
        "seq_id": left["seq_id"].to_numpy(), "start": left["end"].to_numpy(),
        "end": right["start"].to_numpy(), "strand": left["strand"].to_numpy(),
        "transcript_id": left["transcript_id"].to_numpy(), "gene_id": left["gene_id"].to_numpy(),
    })
    out = out[out["end"] > out["start"]]
    out = out.sort_values(["seq_id", "start", "end", "transcript_id"], kind="stable").reset_index(drop=True)
    out.attrs = dict(annotation.attrs)
    return out


def utrs(annotation: pd.DataFrame) -> pd.DataFrame:
    """5' and 3' UTR pieces per coding transcript.

    Listed UTR features are used when the file has them; otherwise UTRs are the parts of each
    coding transcript's exons outside its CDS span (upstream = 5' on the transcript strand).

    Returns
    -------
    pandas.DataFrame
        ``seq_id, start, end, strand, transcript_id, gene_id, kind`` with ``kind`` in
        ``five_prime_UTR`` / ``three_prime_UTR``; 0-based half-open on the forward strand.
    """
    feature = annotation["feature"]
    listed = annotation[feature.isin(FIVE_UTR_TYPES | THREE_UTR_TYPES | PLAIN_UTR_TYPES) & (annotation["transcript_id"] != "")]
    span = transcripts(annotation).set_index("transcript_id")
    if not listed.empty:
        pieces = listed[list(INTERVAL_COLUMNS) + ["feature"]].copy()
        cds_start = pieces["transcript_id"].map(span["cds_start"]).fillna(-1).to_numpy()
        upstream_fwd = pieces["end"].to_numpy() <= cds_start
        five = np.where(pieces["strand"].to_numpy() == "-", ~upstream_fwd, upstream_fwd)
        kind = np.where(pieces["feature"].isin(FIVE_UTR_TYPES), "five_prime_UTR",
                        np.where(pieces["feature"].isin(THREE_UTR_TYPES), "three_prime_UTR",
                                 np.where(five, "five_prime_UTR", "three_prime_UTR")))
        pieces["kind"] = kind
        pieces = pieces.drop(columns="feature")
    else:
        ex = exons(annotation)
        ex = ex.join(span[["cds_start", "cds_end"]], on="transcript_id")
        ex = ex[ex["cds_start"] >= 0]
        left = ex.assign(end=np.minimum(ex["end"], ex["cds_start"]))
        left = left[left["end"] > left["start"]]
        right = ex.assign(start=np.maximum(ex["start"], ex["cds_end"]))
        right = right[right["end"] > right["start"]]
        left = left.assign(kind=np.where(left["strand"] == "-", "three_prime_UTR", "five_prime_UTR"))
        right = right.assign(kind=np.where(right["strand"] == "-", "five_prime_UTR", "three_prime_UTR"))
        pieces = pd.concat([left, right])[list(INTERVAL_COLUMNS) + ["kind"]]
    out = pieces.drop_duplicates().sort_values(["seq_id", "start", "end", "transcript_id"], kind="stable")
    out = out.reset_index(drop=True)
    out.attrs = dict(annotation.attrs)
    return out


def outside_records(annotation: pd.DataFrame, lengths: dict[str, int]) -> np.ndarray:
    """(n,) bool: True for each feature whose record is missing from ``lengths`` or that ends past the record's end."""
    record_length = annotation["seq_id"].map(lengths)
    known = record_length.notna().to_numpy()
    beyond = np.zeros(len(annotation), dtype=bool)
    beyond[known] = annotation["end"].to_numpy()[known] > record_length.to_numpy()[known]
    return ~known | beyond


def check_within_records(annotation: pd.DataFrame, lengths: dict[str, int], fasta_name: str = "the FASTA", *,
                         skip: bool = False) -> pd.DataFrame:
    """Every feature's record must exist in ``lengths`` and hold the whole feature.

    Raises ValueError naming the annotation file and line of the first offending feature; with
    ``skip``, drops the offending features instead and returns the rest, the number dropped in
    ``attrs["skipped_outside"]``. Returns the (checked) table.
    """
    outside = outside_records(annotation, lengths)
    if skip:
        kept = annotation[~outside].reset_index(drop=True)
        kept.attrs = {**annotation.attrs, "skipped_outside": int(outside.sum())}
        return kept
    if outside.any():
        source = annotation.attrs.get("source_path", "annotation")
        row = annotation[outside].iloc[0]
        if row["seq_id"] not in lengths:
            raise ValueError(f"{source}, line {row['line']}: record {row['seq_id']!r} is not in {fasta_name} "
                             f"(its records: {', '.join(list(lengths)[:3])}{', ...' if len(lengths) > 3 else ''})")
        raise ValueError(f"{source}, line {row['line']}: {row['feature']} ends at {row['end']} (1-based), beyond the "
                         f"end of record {row['seq_id']!r} ({lengths[row['seq_id']]} bp) in {fasta_name}")
    return annotation


def first_promoter(annotation, upstream: int = 250, downstream: int = 50) -> tuple[str, int, int, str]:
    """The promoter of the first plus-strand transcript (lowest start) at least ``upstream`` bp into its record.

    Parameters
    ----------
    annotation
        A GFF3/GTF path or the table from :func:`read_annotation`.

    Returns
    -------
    (seq_id, start, end, transcript_id)
        ``[TSS - upstream, TSS + downstream)``, 0-based half-open forward coordinates.
    """
    table = annotation if isinstance(annotation, pd.DataFrame) else read_annotation(annotation)
    tx = transcripts(table)
    plus = tx[(tx.strand == "+") & (tx.start >= upstream)].sort_values("start")
    if plus.empty:
        where = "the annotation" if isinstance(annotation, pd.DataFrame) else str(annotation)
        raise ValueError(f"{where}: no plus-strand transcript at least {upstream} bp from its record start")
    row = plus.iloc[0]
    return row.seq_id, int(row.start) - upstream, int(row.start) + downstream, str(row.transcript_id)
