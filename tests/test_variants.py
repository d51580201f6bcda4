"""Variant effects on tokenization with a toy router that cuts exactly where TATAAAA starts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from toy_boundaries import KmerStartModel

from ldarviz.variants import (VariantError, alt_to_reference, chunk_jaccard, read_vcf, variant_boundary_effects,
                              variant_track, write_variant_track)

KMER = "TATAAAA"
PAD = "GCGCGCGCGCGCGCGCGCGC"  # 20 bases, no k-mer and no reverse complement
SEQ = PAD + "TATAAAC" + PAD + KMER + PAD  # near-k-mer at [20, 27); k-mer at [47, 54); length 74
FASTA = {"s1": SEQ}


def _effects(rows, **kw):
    frame = pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt"])
    return variant_boundary_effects(KmerStartModel(KMER), FASTA, frame, flank=15, context=10, **kw)


def test_snv_creating_the_kmer_gains_exactly_that_boundary():
    row = _effects([("s1", 26, "C", "A")]).table.iloc[0]
    assert row.gained == [20] and row.lost == []
    assert row.max_abs_delta == 1.0 and row.max_delta_pos == 20
    # the chunk [lo, hi) cut at 20 splits into two: 1 shared chunk... none shared, Jaccard 0/3
    assert row.chunk_jaccard == pytest.approx(chunk_jaccard([], [20], 11, 42))


def test_snv_destroying_the_kmer_loses_exactly_that_boundary():
    effects = _effects([("s1", 50, "A", "C"), ("s1", 5, "C", "T")])
    top, quiet = effects.table.iloc[0], effects.table.iloc[1]
    assert top.pos == 50 and top.lost == [47] and top.gained == [] and top.kind == "SNV"
    assert quiet.pos == 5 and quiet.gained == [] and quiet.lost == [] and quiet.max_abs_delta == 0.0
    assert quiet.chunk_jaccard == 1.0
    assert effects.model_calls == 2  # one call per window length: the window at pos 5 is clipped by the record start


def test_alignment_of_indels_on_a_hand_case():
    # window starts at ref 10; 2 bases deleted at ref 15..17: alt base 5 is ref 17
    assert alt_to_reference(8, 10, 15, 2, 0).tolist() == [10, 11, 12, 13, 14, 17, 18, 19]
    # 3 bases inserted before ref 15: alt bases 5..7 have no reference coordinate
    assert alt_to_reference(8, 10, 15, 0, 3).tolist() == [10, 11, 12, 13, 14, -1, -1, -1]
    # same length: base to base
    assert alt_to_reference(4, 10, 12, 1, 1).tolist() == [10, 11, 12, 13]


def test_indels_that_only_shift_the_kmer_change_no_boundary():
    # VCF style: anchor base kept. Deleting GC before the k-mer, or inserting GGG, moves it in the alt window only
    effects = _effects([("s1", 42, "CGC", "C"), ("s1", 45, "G", "GGGG")])
    for row in effects.table.itertuples():
        assert row.gained == [] and row.lost == [] and row.chunk_jaccard == 1.0
        track = effects.tracks[row.key]
        assert np.nanmax(np.abs(track["delta"])) == 0.0
    deletion = effects.tracks["s1:43:CGC>C"]
    assert deletion.loc[deletion["position"].isin([43, 44]), "p_alt"].isna().all()  # deleted bases have no alt value
    assert deletion.loc[deletion["position"] == 47, ["p_ref", "p_alt"]].values.tolist() == [[1.0, 1.0]]


def test_an_insertion_completing_the_kmer_gains_the_boundary_at_its_reference_start():
    seq = PAD + "TATAGC" + PAD  # inserting AAA after TATA (ref 24) makes TATAAAA starting at ref 20
    effects = variant_boundary_effects(KmerStartModel(KMER), {"s1": seq},
                                       pd.DataFrame({"chrom": ["s1"], "pos": [23], "ref": ["A"], "alt": ["AAAA"]}),
                                       flank=10, context=5)
    row = effects.table.iloc[0]
    assert row.kind == "insertion" and row.gained == [20] and row.lost == []


def _write_vcf(tmp_path, lines):
    path = tmp_path / "v.vcf"
    header = ["##fileformat=VCFv4.2", "##contig=<ID=s1,length=74>", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    path.write_text("\n".join(header + lines) + "\n")
    return path


def test_vcf_errors_name_the_line(tmp_path):
    ok = "s1\t27\tgood\tC\tA\t.\t.\t."
    cases = {"s1\t10\tbad\tA\tG\t.\t.\t.": "line 5: REF 'A' disagrees with the FASTA, which has 'C'",
             "chrZ\t3\tbad\tA\tG\t.\t.\t.": "line 5: contig 'chrZ' is not in the FASTA",
             "s1\t10\tbad\tG\t<DEL>\t.\t.\t.": "line 5: symbolic or breakend ALT allele '<DEL>'"}
    for bad, message in cases.items():
        path = _write_vcf(tmp_path, [ok, bad])
        with pytest.raises(VariantError, match=message):
            read_vcf(path, FASTA)
    path = _write_vcf(tmp_path, [ok, *cases])
    table, skipped = read_vcf(path, FASTA, skip_invalid=True)
    assert table[["pos", "ref", "alt", "id", "line"]].values.tolist() == [[26, "C", "A", "good", 4]]
    assert skipped == {"REF mismatch": 1, "unknown contig": 1, "symbolic allele": 1}
    effects = variant_boundary_effects(KmerStartModel(KMER), FASTA, path, skip_invalid=True, flank=15, context=10)
    assert effects.table.iloc[0].gained == [20] and effects.skipped == skipped


def test_variant_track_round_trips_through_bigwig(tmp_path):
    pyBigWig = pytest.importorskip("pyBigWig")
    effects = _effects([("s1", 26, "C", "A"), ("s1", 42, "CGC", "C"), ("s1", 5, "C", "T")])
    frame = variant_track(effects)
    assert frame[["start", "end", "value"]].values.tolist() == [[5, 6, 0.0], [26, 27, 1.0], [43, 44, 0.0], [44, 45, 0.0]]
    bedgraph = write_variant_track(effects, tmp_path / "v.bedgraph")
    bw = write_variant_track(effects, tmp_path / "v.bw", fasta=FASTA)
    with pyBigWig.open(str(bw)) as handle:
        for line in bedgraph.read_text().splitlines():
            chrom, start, end, value = line.split("\t")
            assert handle.values(chrom, int(start), int(end)) == pytest.approx([float(value)] * (int(end) - int(start)))
