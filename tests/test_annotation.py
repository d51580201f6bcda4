"""Tests for ldarnet.genome.annotation: GFF3/GTF parsing into 0-based half-open tables."""

import gzip

import pandas as pd
import pytest

from ldarnet.genome import cds, exons, genes, introns, read_annotation, transcripts, utrs

# Real lines (attributes trimmed to ID/Parent/gene) from the NCBI TAIR10.1 chr1 GFF3
# (../shared/data/genomes/athal_tair10_chr1/annotation.gff3.gz): NAC001 (+) and one ARV1 isoform (-).
GFF3_LINES = """\
NC_003070.9\tRefSeq\tgene\t3631\t5899\t.\t+\t.\tID=gene-AT1G01010;gene=NAC001
NC_003070.9\tRefSeq\tmRNA\t3631\t5899\t.\t+\t.\tID=rna-NM_099983.2;Parent=gene-AT1G01010;gene=NAC001
NC_003070.9\tRefSeq\texon\t3631\t3913\t.\t+\t.\tID=exon-NM_099983.2-1;Parent=rna-NM_099983.2;gene=NAC001
NC_003070.9\tRefSeq\texon\t3996\t4276\t.\t+\t.\tID=exon-NM_099983.2-2;Parent=rna-NM_099983.2;gene=NAC001
NC_003070.9\tRefSeq\texon\t4486\t4605\t.\t+\t.\tID=exon-NM_099983.2-3;Parent=rna-NM_099983.2;gene=NAC001
NC_003070.9\tRefSeq\texon\t4706\t5095\t.\t+\t.\tID=exon-NM_099983.2-4;Parent=rna-NM_099983.2;gene=NAC001
NC_003070.9\tRefSeq\texon\t5174\t5326\t.\t+\t.\tID=exon-NM_099983.2-5;Parent=rna-NM_099983.2;gene=NAC001
NC_003070.9\tRefSeq\texon\t5439\t5899\t.\t+\t.\tID=exon-NM_099983.2-6;Parent=rna-NM_099983.2;gene=NAC001
NC_003070.9\tRefSeq\tCDS\t3760\t3913\t.\t+\t0\tID=cds-NP_171609.1;Parent=rna-NM_099983.2;gene=NAC001
NC_003070.9\tRefSeq\tCDS\t3996\t4276\t.\t+\t2\tID=cds-NP_171609.1;Parent=rna-NM_099983.2;gene=NAC001
NC_003070.9\tRefSeq\tCDS\t4486\t4605\t.\t+\t0\tID=cds-NP_171609.1;Parent=rna-NM_099983.2;gene=NAC001
NC_003070.9\tRefSeq\tCDS\t4706\t5095\t.\t+\t0\tID=cds-NP_171609.1;Parent=rna-NM_099983.2;gene=NAC001
NC_003070.9\tRefSeq\tCDS\t5174\t5326\t.\t+\t0\tID=cds-NP_171609.1;Parent=rna-NM_099983.2;gene=NAC001
NC_003070.9\tRefSeq\tCDS\t5439\t5630\t.\t+\t0\tID=cds-NP_171609.1;Parent=rna-NM_099983.2;gene=NAC001
NC_003070.9\tRefSeq\tgene\t6788\t9130\t.\t-\t.\tID=gene-AT1G01020;gene=ARV1
NC_003070.9\tRefSeq\tmRNA\t6788\t9130\t.\t-\t.\tID=rna-NM_001331242.1;Parent=gene-AT1G01020;gene=ARV1
NC_003070.9\tRefSeq\texon\t8594\t9130\t.\t-\t.\tID=exon-NM_001331242.1-1;Parent=rna-NM_001331242.1;gene=ARV1
NC_003070.9\tRefSeq\texon\t8417\t8464\t.\t-\t.\tID=exon-NM_001331242.1-2;Parent=rna-NM_001331242.1;gene=ARV1
NC_003070.9\tRefSeq\texon\t8236\t8325\t.\t-\t.\tID=exon-NM_001331242.1-3;Parent=rna-NM_001331242.1;gene=ARV1
NC_003070.9\tRefSeq\texon\t7942\t7987\t.\t-\t.\tID=exon-NM_001331242.1-4;Parent=rna-NM_001331242.1;gene=ARV1
NC_003070.9\tRefSeq\texon\t7762\t7835\t.\t-\t.\tID=exon-NM_001331242.1-5;Parent=rna-NM_001331242.1;gene=ARV1
NC_003070.9\tRefSeq\texon\t7564\t7649\t.\t-\t.\tID=exon-NM_001331242.1-6;Parent=rna-NM_001331242.1;gene=ARV1
NC_003070.9\tRefSeq\texon\t7384\t7450\t.\t-\t.\tID=exon-NM_001331242.1-7;Parent=rna-NM_001331242.1;gene=ARV1
NC_003070.9\tRefSeq\texon\t7157\t7232\t.\t-\t.\tID=exon-NM_001331242.1-8;Parent=rna-NM_001331242.1;gene=ARV1
NC_003070.9\tRefSeq\texon\t6788\t7069\t.\t-\t.\tID=exon-NM_001331242.1-9;Parent=rna-NM_001331242.1;gene=ARV1
NC_003070.9\tRefSeq\tCDS\t8417\t8419\t.\t-\t0\tID=cds-NP_001321776.1;Parent=rna-NM_001331242.1;gene=ARV1
NC_003070.9\tRefSeq\tCDS\t8236\t8325\t.\t-\t0\tID=cds-NP_001321776.1;Parent=rna-NM_001331242.1;gene=ARV1
NC_003070.9\tRefSeq\tCDS\t7942\t7987\t.\t-\t0\tID=cds-NP_001321776.1;Parent=rna-NM_001331242.1;gene=ARV1
NC_003070.9\tRefSeq\tCDS\t7762\t7835\t.\t-\t2\tID=cds-NP_001321776.1;Parent=rna-NM_001331242.1;gene=ARV1
NC_003070.9\tRefSeq\tCDS\t7564\t7649\t.\t-\t0\tID=cds-NP_001321776.1;Parent=rna-NM_001331242.1;gene=ARV1
NC_003070.9\tRefSeq\tCDS\t7384\t7450\t.\t-\t1\tID=cds-NP_001321776.1;Parent=rna-NM_001331242.1;gene=ARV1
NC_003070.9\tRefSeq\tCDS\t7157\t7232\t.\t-\t0\tID=cds-NP_001321776.1;Parent=rna-NM_001331242.1;gene=ARV1
NC_003070.9\tRefSeq\tCDS\t6915\t7069\t.\t-\t2\tID=cds-NP_001321776.1;Parent=rna-NM_001331242.1;gene=ARV1
"""


def _gff3_to_gtf(text):
    """Rewrite the fixture as GTF (gene_id/transcript_id attributes), dropping gene/mRNA lines."""
    parent_gene = {}
    lines = []
    for line in text.splitlines():
        fields = line.split("\t")
        attrs = dict(item.split("=", 1) for item in fields[8].split(";"))
        if fields[2] == "mRNA":
            parent_gene[attrs["ID"]] = attrs["Parent"]
        if fields[2] in ("exon", "CDS"):
            tid = attrs["Parent"]
            fields[8] = f'gene_id "{parent_gene[tid]}"; transcript_id "{tid}"; gene_name "{attrs["gene"]}";'
            lines.append("\t".join(fields))
    return "\n".join(lines) + "\n"


@pytest.fixture
def gff3_path(tmp_path):
    path = tmp_path / "slice.gff3"
    path.write_text("##gff-version 3\n" + GFF3_LINES)
    return path


def test_gff3_coordinates_are_zero_based_half_open(gff3_path):
    ann = read_annotation(gff3_path)
    first_exon = ann[(ann["feature"] == "exon")].iloc[0]
    assert (first_exon["start"], first_exon["end"]) == (3630, 3913)
    assert first_exon["transcript_id"] == "rna-NM_099983.2"
    assert first_exon["gene_id"] == "gene-AT1G01010"
    assert ann.attrs["format"] == "gff3"


def test_gzip_and_gtf_give_the_same_exons(tmp_path, gff3_path):
    gz = tmp_path / "slice.gff3.gz"
    gz.write_bytes(gzip.compress(gff3_path.read_bytes()))
    gtf = tmp_path / "slice.gtf"
    gtf.write_text(_gff3_to_gtf(GFF3_LINES))
    from_gff = exons(read_annotation(gff3_path))
    from_gz = exons(read_annotation(gz))
    from_gtf = exons(read_annotation(gtf))
    pd.testing.assert_frame_equal(from_gff, from_gz)
    pd.testing.assert_frame_equal(from_gff, from_gtf)
    assert len(from_gff) == 6 + 9


def test_transcripts_genes_and_cds(gff3_path):
    ann = read_annotation(gff3_path)
    tx = transcripts(ann).set_index("transcript_id")
    assert tx.loc["rna-NM_099983.2", ["start", "end", "cds_start", "cds_end"]].tolist() == [3630, 5899, 3759, 5630]
    assert tx.loc["rna-NM_001331242.1", "strand"] == "-"
    assert genes(ann)["gene_id"].tolist() == ["gene-AT1G01010", "gene-AT1G01020"]
    assert len(cds(ann)) == 6 + 8


def test_introns_are_gaps_between_exons(gff3_path):
    intr = introns(read_annotation(gff3_path))
    plus = intr[intr["strand"] == "+"]
    assert plus[["start", "end"]].values.tolist()[0] == [3913, 3995]
    assert len(intr) == 5 + 8


def test_utrs_derived_from_exons_outside_cds(gff3_path):
    u = utrs(read_annotation(gff3_path))
    plus = u[u["transcript_id"] == "rna-NM_099983.2"].set_index("kind")
    assert plus.loc["five_prime_UTR", ["start", "end"]].tolist() == [3630, 3759]
    assert plus.loc["three_prime_UTR", ["start", "end"]].tolist() == [5630, 5899]
    minus = u[u["transcript_id"] == "rna-NM_001331242.1"]
    # on the minus strand the 5' UTR lies to the right of the CDS
    five = minus[minus["kind"] == "five_prime_UTR"]
    assert five[["start", "end"]].values.tolist() == [[8419, 8464], [8593, 9130]]
    three = minus[minus["kind"] == "three_prime_UTR"]
    assert three[["start", "end"]].values.tolist() == [[6787, 6914]]


def test_gtf_utr_features_are_oriented(tmp_path):
    gtf = tmp_path / "u.gtf"
    gtf.write_text(
        'chr1\tx\texon\t1\t100\t.\t-\t.\tgene_id "g"; transcript_id "t";\n'
        'chr1\tx\tCDS\t21\t80\t.\t-\t0\tgene_id "g"; transcript_id "t";\n'
        'chr1\tx\tUTR\t1\t20\t.\t-\t.\tgene_id "g"; transcript_id "t";\n'
        'chr1\tx\tUTR\t81\t100\t.\t-\t.\tgene_id "g"; transcript_id "t";\n'
    )
    u = utrs(read_annotation(gtf)).set_index("kind")
    assert u.loc["three_prime_UTR", ["start", "end"]].tolist() == [0, 20]
    assert u.loc["five_prime_UTR", ["start", "end"]].tolist() == [80, 100]


def test_multi_parent_exon_gives_one_row_per_transcript(tmp_path):
    path = tmp_path / "m.gff3"
    path.write_text(
        "c\ts\tgene\t1\t50\t.\t+\t.\tID=g1\n"
        "c\ts\tmRNA\t1\t50\t.\t+\t.\tID=t1;Parent=g1\n"
        "c\ts\tmRNA\t1\t50\t.\t+\t.\tID=t2;Parent=g1\n"
        "c\ts\texon\t1\t50\t.\t+\t.\tID=e1;Parent=t1,t2\n"
    )
    ex = exons(read_annotation(path))
    assert sorted(ex["transcript_id"]) == ["t1", "t2"]
    assert set(ex["gene_id"]) == {"g1"}


@pytest.mark.parametrize("bad_line, message", [
    ("c\ts\texon\t10\t5\t.\t+\t.\tID=e", "start <= end"),
    ("c\ts\texon\tten\t50\t.\t+\t.\tID=e", "must be integers"),
    ("c\ts\texon\t1\t50\t.\tx\t.\tID=e", "strand"),
    ("c\ts\texon\t1\t50\t.\t+\t3\tID=e", "phase"),
    ("c\ts\texon\t1\t50\t.\t+", "9 tab-separated columns"),
    ("c\ts\texon\t1\t50\t.\t+\t.\tID", "key=value"),
])
def test_malformed_gff3_names_file_and_line(tmp_path, bad_line, message):
    path = tmp_path / "bad.gff3"
    path.write_text("##gff-version 3\nc\ts\tgene\t1\t50\t.\t+\t.\tID=g\n" + bad_line + "\n")
    with pytest.raises(ValueError, match=message) as info:
        read_annotation(path)
    assert "bad.gff3, line 3" in str(info.value)


def test_gtf_without_gene_id_is_rejected(tmp_path):
    path = tmp_path / "bad.gtf"
    path.write_text('c\ts\texon\t1\t50\t.\t+\t.\ttranscript_id "t";\n')
    with pytest.raises(ValueError, match=r"bad.gtf, line 1: GTF record has no gene_id"):
        read_annotation(path)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_annotation(tmp_path / "nope.gff3")
    empty = tmp_path / "empty.gff3"
    empty.write_text("##gff-version 3\n")
    with pytest.raises(ValueError, match="no feature lines"):
        read_annotation(empty)
