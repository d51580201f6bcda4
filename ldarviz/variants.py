"""Variant effects on tokenization: does a SNV or short indel move the model's chunk boundaries?

For each variant the reference window and the alternative window (the allele applied) are run
through the embedding, encoder and router (``model.extract_boundaries``), batched across variants.
The alternative track is aligned on the reference: bases left of the variant keep their
coordinate, bases right of it shift back by ``len(alt) - len(ref)``; deleted reference bases have
no alternative value (NaN), inserted bases have no reference coordinate (a boundary on one counts
at the insertion point). Alleles are trimmed of their shared prefix (the VCF anchor base) and suffix
first. Coordinates are 0-based, half-open; VCF POS (1-based) is converted on reading.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ldarnet import batch_encode
from ldarnet.genome import introns, read_annotation, sequence_source

MAX_INDEL = 50  # longest REF or ALT allele handled, in bases (after trimming the shared bases)
VARIANT_COLUMNS = ["chrom", "pos", "ref", "alt", "id", "line"]
_BASES = set("ACGTN")


class VariantError(ValueError):
    """A variant that cannot be scored; the message names the VCF line (or DataFrame row)."""


# -- reading ---------------------------------------------------------------------------------------
def _check(chrom: str, pos: int, ref: str, alt: str, where: str, lengths: dict, fetch) -> tuple[str, str] | None:
    """Why the variant cannot be scored: ``(reason, message naming where)``, or None."""
    if alt.startswith("<") or alt in ("*", ".") or "[" in alt or "]" in alt:
        return "symbolic allele", f"{where}: symbolic or breakend ALT allele {alt!r} is not supported (only sequence alleles)"
    for name, allele in (("REF", ref), ("ALT", alt)):
        if not allele or set(allele) - _BASES:
            return "bad letters", f"{where}: {name} allele {allele!r} has letters other than A, C, G, T, N"
    if chrom not in lengths:
        return "unknown contig", f"{where}: contig {chrom!r} is not in the FASTA (it has {len(lengths)} records, e.g. {next(iter(lengths), None)!r})"
    if pos < 0 or pos + len(ref) > lengths[chrom]:
        return "off the contig", f"{where}: REF {ref!r} at 0-based {pos} runs off {chrom} (length {lengths[chrom]:,})"
    genome = fetch(chrom, pos, pos + len(ref))
    if genome != ref:
        return "REF mismatch", f"{where}: REF {ref!r} disagrees with the FASTA, which has {genome!r} at {chrom}:{pos + 1} (1-based)"
    r, a = _trim(pos, ref, alt)[1:]
    if max(len(r), len(a)) > MAX_INDEL:
        return "too long", f"{where}: allele change of {max(len(r), len(a))} bp is longer than {MAX_INDEL} bp"
    if r == a:
        return "ALT equals REF", f"{where}: ALT {alt!r} equals REF"
    return None


def _validated(records, lengths, fetch, skip_invalid: bool) -> tuple[pd.DataFrame, dict[str, int]]:
    rows, skipped = [], {}
    for chrom, pos, ref, alt, vid, line, where in records:
        problem = _check(chrom, pos, ref, alt, where, lengths, fetch)
        if problem is None:
            rows.append((chrom, pos, ref, alt, vid, line))
        elif skip_invalid:
            skipped[problem[0]] = skipped.get(problem[0], 0) + 1
        else:
            raise VariantError(problem[1])
    return pd.DataFrame(rows, columns=VARIANT_COLUMNS), skipped


def _header_lines(path: str) -> int:
    """How many ``#`` lines open the file (plain or gzip/bgzip)."""
    import gzip

    with open(path, "rb") as probe:
        gz = probe.read(2) == b"\x1f\x8b"
    count = 0
    with (gzip.open(path, "rt") if gz else open(path)) as handle:
        for line in handle:
            if not line.startswith("#"):
                break
            count += 1
    return count


def read_vcf(path: str | os.PathLike, fasta, *, skip_invalid: bool = False) -> tuple[pd.DataFrame, dict[str, int]]:
    """Variants of a VCF (plain or bgzip), checked against ``fasta``; multi-allelic sites split.

    Parsing is cyvcf2 (htslib). Every variant is checked: sequence alleles only (no symbolic
    ``<DEL>``, ``*`` or breakends), REF equal to the FASTA, a contig the FASTA has, at most
    ``MAX_INDEL`` bases changed.

    Returns
    -------
    (DataFrame, dict)
        ``chrom, pos, ref, alt, id, line``: ``pos`` 0-based, ``line`` the 1-based line in the file;
        and the count of skipped variants per reason (empty unless ``skip_invalid``).

    Raises
    ------
    VariantError
        The first invalid variant, naming the file and line (unless ``skip_invalid``).
    """
    from cyvcf2 import VCF

    path = str(path)
    if not Path(path).is_file():
        raise VariantError(f"VCF {path}: no such file")
    lengths, fetch = sequence_source(fasta)
    try:
        reader = VCF(path, lazy=True)
    except (OSError, Exception) as exc:  # htslib: not a VCF, no header
        raise VariantError(f"VCF {path}: cannot be read as a VCF ({exc})") from None
    header_lines = _header_lines(path)  # counted in the file: htslib's raw_header gains lines (e.g. FILTER=PASS)

    def records():
        for k, rec in enumerate(reader):
            line = header_lines + k + 1
            for alt in rec.ALT or ["."]:
                yield rec.CHROM, rec.POS - 1, rec.REF.upper(), alt.upper(), rec.ID or ".", line, f"{path}, line {line}"

    try:
        return _validated(records(), lengths, fetch, skip_invalid)
    finally:
        reader.close()


def variants_frame(variants: pd.DataFrame, fasta, *, skip_invalid: bool = False) -> tuple[pd.DataFrame, dict[str, int]]:
    """A DataFrame ``chrom, pos (0-based), ref, alt[, id]`` checked like :func:`read_vcf` (errors name the row)."""
    missing = {"chrom", "pos", "ref", "alt"} - set(variants.columns)
    if missing:
        raise VariantError(f"variants table lacks column(s) {sorted(missing)} (need chrom, pos (0-based), ref, alt)")
    lengths, fetch = sequence_source(fasta)
    ids = variants["id"] if "id" in variants else pd.Series(["."] * len(variants), index=variants.index)
    records = ((str(r.chrom), int(r.pos), str(r.ref).upper(), str(r.alt).upper(), str(i), k, f"variants row {k}")
               for k, (r, i) in enumerate(zip(variants.itertuples(index=False), ids)))
    return _validated(records, lengths, fetch, skip_invalid)


def spliced_locus(annotation, *, pad: int = 100, max_length: int = 1500) -> tuple[str, int, int, str]:
    """A locus with splice sites (notebook 09): the first plus-strand transcript with at least two introns, from
    ``pad`` bases before its first intron to ``pad`` after its second (at most ``max_length`` bases).

    Returns ``(record, start, end, transcript_id)``, 0-based half-open.
    """
    table = read_annotation(annotation) if not hasattr(annotation, "columns") else annotation
    found = introns(table)
    plus = found[found["strand"] == "+"].sort_values(["start", "transcript_id"])
    for tid, part in plus.groupby("transcript_id", sort=False):
        if len(part) >= 2:
            first, second = part.iloc[0], part.iloc[1]
            start = int(first["start"]) - pad
            end = min(int(second["end"]) + pad, start + max_length)
            return str(first["seq_id"]), start, end, str(tid)
    raise ValueError("no plus-strand transcript with two introns in the annotation")


# -- alignment -------------------------------------------------------------------------------------
def _trim(pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """Drop the shared prefix (moving ``pos``), then the shared suffix: ``(pos, ref, alt)`` of the change."""
    k = 0
    while k < min(len(ref), len(alt)) and ref[k] == alt[k]:
        k += 1
    pos, ref, alt = pos + k, ref[k:], alt[k:]
    k = 0
    while k < min(len(ref), len(alt)) and ref[-1 - k] == alt[-1 - k]:
        k += 1
    return pos, ref[: len(ref) - k], alt[: len(alt) - k]


def alt_to_reference(n_alt: int, window_start: int, pos: int, n_ref: int, n_alt_allele: int) -> np.ndarray:
    """(n_alt,) int64 reference coordinate of each base of an alternative window, -1 for inserted bases.

    The window starts at reference ``window_start``; the (trimmed) change replaces ``n_ref`` reference
    bases at ``pos`` by ``n_alt_allele`` bases. Equal lengths align base to base.
    """
    i = np.arange(n_alt)
    local = pos - window_start
    out = window_start + i
    if n_ref != n_alt_allele:
        after = i >= local + n_alt_allele
        out[after] = window_start + i[after] - n_alt_allele + n_ref
        out[(i >= local) & ~after] = -1
    return out.astype(np.int64)


def chunk_jaccard(starts_a, starts_b, lo: int, hi: int) -> float:
    """Jaccard index of the chunk sets of ``[lo, hi)`` cut at two sets of chunk starts (region edges cut too)."""
    def chunks(starts):
        cuts = sorted({lo, hi} | {int(s) for s in starts if lo < s < hi})
        return set(zip(cuts[:-1], cuts[1:]))

    a, b = chunks(starts_a), chunks(starts_b)
    return len(a & b) / len(a | b) if a | b else 1.0


# -- effects ---------------------------------------------------------------------------------------
@dataclass
class VariantEffects:
    """Ranked effects of variants on the boundaries, and the aligned Δp track of each."""

    table: pd.DataFrame  # one row per variant, largest max |Δp| first
    tracks: dict[str, pd.DataFrame] = field(default_factory=dict)  # variant key -> position, p_ref, p_alt, delta
    model_calls: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


def _run(model, windows: list[str], batch_size: int) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """Router p and decisions for every window; windows of one length share a call (no padding)."""
    probs, masks = [None] * len(windows), [None] * len(windows)
    order = sorted(range(len(windows)), key=lambda k: len(windows[k]))
    device = next(model.parameters()).device
    calls, b = 0, 0
    with torch.no_grad():
        while b < len(order):
            n = len(windows[order[b]])
            e = b
            while e < len(order) and e - b < batch_size and len(windows[order[e]]) == n:
                e += 1
            ids, mask = batch_encode([windows[k] for k in order[b:e]])
            stage = model.extract_boundaries(ids.to(device), mask.to(device))[0]
            calls += 1
            p, m = stage.boundary_prob.float().cpu().numpy(), stage.boundary_mask.cpu().numpy()
            for row, k in enumerate(order[b:e]):
                probs[k], masks[k] = p[row], m[row]
            b = e
    return probs, masks, calls


def variant_boundary_effects(model: torch.nn.Module, fasta, variants, *, flank: int = 50, context: int = 256,
                             batch_size: int = 64, skip_invalid: bool = False) -> VariantEffects:
    """How each variant changes the boundaries within ``±flank`` of it.

    Parameters
    ----------
    model
        An ``LDARNet`` (anything with ``extract_boundaries``), in eval mode.
    fasta
        The reference: FASTA path, ``pyfaidx.Fasta`` or dict of name -> str.
    variants
        A VCF path (read by :func:`read_vcf`) or a DataFrame ``chrom, pos (0-based), ref, alt[, id]``.
    flank : int
        Boundaries compared on ``[pos - flank, pos + len(ref) + flank)`` (reference coordinates).
    context : int
        Extra bases the model reads on each side beyond ``flank``; reference and alternative windows
        differ only by the allele, so edge effects cancel in Δp.
    skip_invalid : bool
        Skip invalid variants and count them in ``skipped`` instead of raising :class:`VariantError`.

    Returns
    -------
    VariantEffects
        ``table`` columns: ``chrom, pos, ref, alt, id, line, kind, max_abs_delta, max_delta_pos,
        n_gained, n_lost, gained, lost, chunk_jaccard``; sorted by ``max_abs_delta``.
    """
    if isinstance(variants, pd.DataFrame):
        table, skipped = variants_frame(variants, fasta, skip_invalid=skip_invalid)
    else:
        table, skipped = read_vcf(variants, fasta, skip_invalid=skip_invalid)
    lengths, fetch = sequence_source(fasta)
    windows, plans = [], []
    for row in table.itertuples(index=False):
        pos, r, a = _trim(row.pos, row.ref, row.alt)
        n = lengths[row.chrom]
        ws, we = max(pos - flank - context, 0), min(pos + len(r) + flank + context, n)
        ref_window = fetch(row.chrom, ws, we)
        alt_window = ref_window[: pos - ws] + a + ref_window[pos - ws + len(r):]
        windows += [ref_window, alt_window]
        plans.append((pos, r, a, ws, max(pos - flank, 0), min(pos + len(r) + flank, n)))
    probs, masks, calls = _run(model, windows, batch_size) if windows else ([], [], 0)
    rows, tracks = [], {}
    for k, (row, (pos, r, a, ws, lo, hi)) in enumerate(zip(table.itertuples(index=False), plans)):
        p_ref, m_ref, p_alt, m_alt = probs[2 * k], masks[2 * k], probs[2 * k + 1], masks[2 * k + 1]
        to_ref = alt_to_reference(len(p_alt), ws, pos, len(r), len(a))
        x = np.arange(lo, hi)
        alt_at = np.full(len(x), np.nan, dtype=np.float32)  # p_alt aligned on the reference; NaN at deleted bases
        aligned = to_ref >= 0
        inside = aligned & (to_ref >= lo) & (to_ref < hi)
        alt_at[to_ref[inside] - lo] = p_alt[inside]
        delta = alt_at - p_ref[x - ws]
        ref_starts = set((x[m_ref[x - ws]]).tolist())
        mapped = np.where(aligned, to_ref, pos)  # a boundary on an inserted base counts at the insertion point
        alt_starts = {int(v) for v in mapped[m_alt & (mapped >= lo) & (mapped < hi)]}
        gained, lost = sorted(alt_starts - ref_starts), sorted(ref_starts - alt_starts)
        finite = np.isfinite(delta)
        j = int(np.nanargmax(np.abs(delta))) if finite.any() else 0
        kind = "SNV" if len(r) == len(a) == 1 else "MNV" if len(r) == len(a) else \
            "insertion" if not r else "deletion" if not a else "complex"
        key = f"{row.chrom}:{row.pos + 1}:{row.ref}>{row.alt}"
        tracks[key] = pd.DataFrame({"position": x, "p_ref": p_ref[x - ws], "p_alt": alt_at, "delta": delta})
        rows.append((row.chrom, row.pos, row.ref, row.alt, row.id, row.line, kind,
                     float(np.abs(delta[j])) if finite.any() else 0.0, int(x[j]) if len(x) else pos,
                     len(gained), len(lost), gained, lost, chunk_jaccard(ref_starts, alt_starts, lo, hi), key))
    out = pd.DataFrame(rows, columns=VARIANT_COLUMNS + ["kind", "max_abs_delta", "max_delta_pos", "n_gained",
                                                        "n_lost", "gained", "lost", "chunk_jaccard", "key"])
    out = out.sort_values(["max_abs_delta", "n_gained", "n_lost"], ascending=False, kind="stable").reset_index(drop=True)
    return VariantEffects(out, tracks, calls, skipped)


def variant_track(effects: VariantEffects) -> pd.DataFrame:
    """Max |Δp| per variant as bedGraph intervals ``chrom, start, end, value`` (the REF bases, 1 bp for
    insertions); where variants overlap, each base keeps the largest value."""
    best: dict[tuple[str, int], float] = {}
    for row in effects.table.itertuples(index=False):
        pos, r, _ = _trim(row.pos, row.ref, row.alt)
        for b in range(pos, pos + max(len(r), 1)):
            best[(row.chrom, b)] = max(best.get((row.chrom, b), 0.0), row.max_abs_delta)
    frame = pd.DataFrame([(c, b, b + 1, v) for (c, b), v in sorted(best.items())], columns=["chrom", "start", "end", "value"])
    return frame


def write_variant_track(effects: VariantEffects, path: str | os.PathLike, fasta=None) -> Path:
    """Write :func:`variant_track` as bedGraph, or as bigWig when ``path`` ends in ``.bw``/``.bigwig``
    (then ``fasta`` gives the chromosome sizes). Written atomically."""
    from ldarnet.genome import write_bigwig

    path = Path(path)
    frame = variant_track(effects)
    if path.suffix.lower() in (".bw", ".bigwig"):
        if fasta is None:
            raise ValueError("a bigWig needs chromosome sizes: pass fasta=")
        return write_bigwig(path, frame, sequence_source(fasta)[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    frame.to_csv(temp, sep="\t", header=False, index=False, float_format="%.6g")
    os.replace(temp, path)
    return path


def plot_variant_tracks(effects: VariantEffects, keys=None, *, top: int = 4, ax=None, save_path=None,
                        title: str | None = None, provenance: dict | None = None):
    """Aligned Δp (alternative minus reference) around variants, one line each, on reference coordinates.

    ``keys`` picks variants (``table.key``); default: the ``top`` of the ranked table. Gaps are
    deleted bases. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    from .provenance import finish_figure

    keys = list(effects.table["key"].head(top)) if keys is None else list(keys)
    fig, ax = plt.subplots(figsize=(8, 3)) if ax is None else (ax.figure, ax)
    rows = effects.table.set_index("key")
    for key in keys:
        track = effects.tracks[key]
        pos = _trim(int(rows.loc[key, "pos"]), rows.loc[key, "ref"], rows.loc[key, "alt"])[0]
        ax.plot(track["position"] - pos, track["delta"], lw=1,
                label=f"{rows.loc[key, 'id']} ({rows.loc[key, 'kind']}, {rows.loc[key, 'n_gained']}+/{rows.loc[key, 'n_lost']}-)")
    ax.axhline(0, color="#555", lw=0.5)
    ax.axvline(0, color="#111", lw=0.8, ls=":")
    ax.set_xlabel("position relative to the variant (reference bases)")
    ax.set_ylabel("Δp (alt − ref)")
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        ax.set_title(title, fontsize=10)
    return finish_figure(fig, save_path=save_path, provenance=provenance)
