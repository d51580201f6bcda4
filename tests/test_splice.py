"""Tests for ldarviz.splice on the bundled Arabidopsis slice (data/athal_chr1_1000000_1200000.*)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ldarnet.genome import exons, read_annotation
from ldarviz.matching import window_gc
from ldarviz.sequences import sequence_source
from ldarviz.splice import SITE_COLUMNS, canonical_fractions, matched_controls, splice_profiles, splice_sites

DATA = Path(__file__).resolve().parents[1] / "data"
FASTA = DATA / "athal_chr1_1000000_1200000.fa"
GFF = DATA / "athal_chr1_1000000_1200000.gff3"
_RC = str.maketrans("ACGT", "TGCA")


@pytest.fixture(scope="module")
def genome():
    lengths, fetch = sequence_source(FASTA)
    return {name: fetch(name, 0, n) for name, n in lengths.items()}


@pytest.fixture(scope="module")
def sites():
    return splice_sites(GFF, FASTA)


@pytest.fixture(scope="module")
def controls(sites):
    return matched_controls(sites, FASTA, n_per_site=2, window=200, seed=0)


def _read_dinucleotide(seq, kind, strand, j):
    if strand == "+":
        return seq[j:j + 2] if kind == "donor" else seq[j - 2:j]
    return (seq[j - 2:j] if kind == "donor" else seq[j:j + 2]).translate(_RC)[::-1]


def test_bundled_donors_are_canonical(sites):
    assert list(sites.columns) == SITE_COLUMNS
    fractions = canonical_fractions(sites)
    assert fractions["donor"] >= 0.95
    assert fractions["acceptor"] >= 0.95
    assert not sites.duplicated(["seq_id", "kind", "strand", "junction"]).any()
    assert set(sites["strand"]) == {"+", "-"}


def test_junctions_sit_at_exon_edges(sites):
    ann = read_annotation(GFF)
    ex = exons(ann)
    tx = ex[ex["transcript_id"] == ex["transcript_id"].iloc[0]].sort_values("start")
    plus = sites[(sites["strand"] == tx["strand"].iloc[0])]
    donors = set(plus.loc[plus["kind"] == "donor", "junction"])
    acceptors = set(plus.loc[plus["kind"] == "acceptor", "junction"])
    if tx["strand"].iloc[0] == "+":
        assert set(tx["end"].iloc[:-1]) <= donors and set(tx["start"].iloc[1:]) <= acceptors
    else:
        assert set(tx["start"].iloc[1:]) <= donors and set(tx["end"].iloc[:-1]) <= acceptors


def test_minus_strand_dinucleotides_read_on_transcript_strand(sites, genome):
    seq = next(iter(genome.values()))
    for row in sites.sample(60, random_state=1).itertuples():
        assert row.dinucleotide == _read_dinucleotide(seq, row.kind, row.strand, row.junction)


def test_gtf_gives_the_same_sites(tmp_path, sites):
    ex = exons(read_annotation(GFF))
    lines = [f'{r.seq_id}\tx\texon\t{r.start + 1}\t{r.end}\t.\t{r.strand}\t.\tgene_id "{r.gene_id}"; transcript_id "{r.transcript_id}";'
             for r in ex.itertuples()]
    gtf = tmp_path / "slice.gtf"
    gtf.write_text("\n".join(lines) + "\n")
    pd.testing.assert_frame_equal(splice_sites(gtf, FASTA), sites)


def test_controls_match_gc_strand_and_dinucleotide(sites, controls, genome):
    seq = next(iter(genome.values()))
    site_gc = window_gc(sites, FASTA, window=200)
    assert list(controls.columns) == SITE_COLUMNS + ["gc"]
    diff = controls["gc"].to_numpy() - site_gc.loc[controls.index].to_numpy()
    assert np.abs(diff).mean() < 0.01
    assert abs(controls["gc"].mean() - site_gc.loc[controls.index].mean()) < 0.01
    recomputed = window_gc(controls.reset_index(drop=True), FASTA, window=200)
    np.testing.assert_allclose(recomputed.to_numpy(), controls["gc"].to_numpy())
    canonical = sites[sites["dinucleotide"] == sites["kind"].map({"donor": "GT", "acceptor": "AG"})]
    assert len(controls) >= 1.9 * len(canonical)
    for row in controls.itertuples():
        assert _read_dinucleotide(seq, row.kind, row.strand, row.junction) == row.dinucleotide
    matched = sites.loc[controls.index]
    assert (matched["kind"].to_numpy() == controls["kind"].to_numpy()).all()
    assert (matched["strand"].to_numpy() == controls["strand"].to_numpy()).all()
    annotated = set(zip(sites["seq_id"], sites["junction"]))
    assert not any((r.seq_id, r.junction) in annotated for r in controls.itertuples())
    assert not controls.duplicated(["seq_id", "kind", "strand", "junction"]).any()
    assert controls.attrs["provenance"]["seed"] == 0


def test_controls_are_reproducible_and_seeded(sites):
    again = matched_controls(sites, FASTA, n_per_site=2, window=200, seed=0)
    other = matched_controls(sites, FASTA, n_per_site=2, window=200, seed=1)
    first = matched_controls(sites, FASTA, n_per_site=2, window=200, seed=0)
    pd.testing.assert_frame_equal(again, first)
    assert not np.array_equal(other["junction"].to_numpy(), first["junction"].to_numpy())


def test_profiles_true_vs_control(sites, controls, genome):
    name, seq = next(iter(genome.items()))
    cut = np.zeros(len(seq), dtype=np.float16)
    cut[sites["junction"].to_numpy()] = 1  # a toy router that cuts at every annotated junction
    profiles, stats = splice_profiles({name: cut}, sites, controls, flank=10, n_boot=100, n_perm=200)
    true = profiles[(profiles["set"] == "true") & (profiles["kind"] == "donor")].set_index("offset")["mean"]
    assert true.idxmax() == 0 and true[0] == 1.0
    stats = stats.set_index(["kind", "set"])
    assert stats.loc[("donor", "true"), "pvalue"] < 0.01
    assert stats.loc[("donor", "control"), "peak_mean"] < 0.05
    assert stats.loc[("donor", "true"), "canonical_fraction"] >= 0.95
    assert abs(stats.loc[("donor", "true"), "mean_gc"] - stats.loc[("donor", "control"), "mean_gc"]) < 0.01


def test_missing_record_and_out_of_range_features_are_named(tmp_path, genome):
    name, seq = next(iter(genome.items()))
    with pytest.raises(ValueError, match=r"athal_chr1_1000000_1200000.gff3, line \d+: record .* is not in"):
        splice_sites(GFF, {"other": seq})
    with pytest.raises(ValueError, match=r"line \d+: .* beyond the end of record"):
        splice_sites(GFF, {name: seq[:100_000]})
