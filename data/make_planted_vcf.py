"""Write ``data/planted_variants_athal.vcf``: PLANTED (not observed) variants for notebook 09.

There is no second Arabidopsis or yeast assembly in ``shared/data`` to take real sequence
differences from, so the variants are planted, deterministically, where a tokenizer change would
matter biologically, in the locus notebook 09 studies (``ldarviz.variants.spliced_locus``):

- splice sites: the G of every intron-starting GT (donor) and of every intron-ending AG (acceptor)
  of the locus's transcript, changed to C;
- promoter-motif hits (TATA box, CCAAT box, GC box; FIMO p < 1e-3, JASPAR 2024) in the locus and the
  2 kb upstream of it: the hit's central base changed to its complement;
- two short indels near the first donor: a 1-bp deletion and a 3-bp insertion 10 bp into the intron.

Every ID starts with ``PLANTED_`` and INFO says ``PLANTED``. Run from the project root:
``python data/make_planted_vcf.py``. Coordinates here are 0-based; VCF POS is 1-based.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from ldarnet.genome import introns, open_fasta, read_annotation  # noqa: E402
from ldarviz.variants import spliced_locus  # noqa: E402

FASTA = HERE / "athal_chr1_1000000_1200000.fa"
GFF = HERE / "athal_chr1_1000000_1200000.gff3"
OUT = HERE / "planted_variants_athal.vcf"
MOTIFS = ["MA0108", "MA0060", "MA0502"]  # TATA box, CCAAT box (NFYA), GC box (SP1)
COMPLEMENT = str.maketrans("ACGT", "TGCA")


def planted_variants() -> list[tuple[str, int, str, str, str]]:
    """``(record, pos 0-based, ref, alt, id)`` sorted by position."""
    from ldarviz.motifs import scan_motifs

    annotation = read_annotation(GFF)
    record, start, end, tid = spliced_locus(annotation)
    with open_fasta(FASTA, quiet=True) as fasta:
        seq = fasta[record][:].seq.upper()
    out = []
    found = introns(annotation)
    for k, intron in enumerate(found[found["transcript_id"] == tid].itertuples(index=False)):
        if start <= intron.start and intron.end <= end:
            if seq[intron.start: intron.start + 2] == "GT":
                out.append((record, intron.start, "G", "C", f"PLANTED_donor_G_intron{k + 1}"))
            if seq[intron.end - 2: intron.end] == "AG":
                out.append((record, intron.end - 1, "G", "C", f"PLANTED_acceptor_G_intron{k + 1}"))
    first = found[found["transcript_id"] == tid].iloc[0]
    p = int(first["start"]) + 10
    out.append((record, p - 1, seq[p - 1: p + 1], seq[p - 1], "PLANTED_deletion_1bp"))
    out.append((record, p + 9, seq[p + 9], seq[p + 9] + "TTA", "PLANTED_insertion_3bp"))
    lo = max(start - 2000, 0)
    hits = scan_motifs({record: seq[lo:end]}, MOTIFS, pvalue=1e-3, release="JASPAR2024")
    for h in hits.sort_values("pvalue").head(6).itertuples(index=False):
        mid = lo + (int(h.start) + int(h.end)) // 2
        base = seq[mid]
        if base in "ACGT":
            out.append((record, mid, base, base.translate(COMPLEMENT), f"PLANTED_motif_{h.motif_id}_{h.strand}_at_{mid + 1}"))
    return sorted(set(out), key=lambda v: (v[1], v[4]))


def main() -> int:
    record_lengths = {}
    with open_fasta(FASTA, quiet=True) as fasta:
        for name in fasta.keys():
            record_lengths[name] = len(fasta[name])
    lines = ["##fileformat=VCFv4.2", "##source=data/make_planted_vcf.py (PLANTED variants, not observed in any genome)",
             *(f"##contig=<ID={n},length={m}>" for n, m in record_lengths.items()),
             '##INFO=<ID=PLANTED,Number=0,Type=Flag,Description="Planted by data/make_planted_vcf.py; not a real variant">',
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    for record, pos, ref, alt, vid in planted_variants():
        lines.append(f"{record}\t{pos + 1}\t{vid}\t{ref}\t{alt}\t.\t.\tPLANTED")
    tmp = OUT.with_suffix(".vcf.part")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
