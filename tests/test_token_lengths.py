"""Tests for ldarviz.token_lengths on the bundled Arabidopsis slice."""

from pathlib import Path

import numpy as np
import pytest

from ldarnet.genome import cds, introns, read_annotation, transcripts
from ldarviz.sequences import sequence_source
from ldarviz.token_lengths import (
    CONTEXTS, bpe_length_counts, chunk_lengths, compare_contexts, context_regions, kmer_length_counts,
    learned_length_counts, token_length_distributions, train_bpe,
)

DATA = Path(__file__).resolve().parents[1] / "data"
FASTA = DATA / "athal_chr1_1000000_1200000.fa"
GFF = DATA / "athal_chr1_1000000_1200000.gff3"


@pytest.fixture(scope="module")
def genome():
    lengths, fetch = sequence_source(FASTA)
    return {name: fetch(name, 0, n) for name, n in lengths.items()}


@pytest.fixture(scope="module")
def annotation():
    return read_annotation(GFF)


@pytest.fixture(scope="module")
def regions(annotation, genome):
    return context_regions(annotation, genome, promoter=500, splice_window=10)


def _label_at(regions, name, pos):
    row = regions[(regions["seq_id"] == name) & (regions["start"] <= pos) & (regions["end"] > pos)]
    assert len(row) == 1
    return row["context"].item()


def test_chunk_lengths_by_hand():
    mask = np.zeros(20, dtype=bool)
    mask[[0, 3, 4, 9, 15]] = True
    assert chunk_lengths(mask, 0, 20, drop_edges=False).tolist() == [3, 1, 5, 6, 5]
    assert chunk_lengths(mask, 0, 20).tolist() == [1, 5, 6]
    assert chunk_lengths(mask, 2, 12, drop_edges=False).tolist() == [1, 1, 5, 3]  # region start cuts too


def test_context_regions_tile_the_record_and_follow_priorities(regions, annotation, genome):
    name, seq = next(iter(genome.items()))
    assert regions["start"].iloc[0] == 0 and regions["end"].iloc[-1] == len(seq)
    assert (regions["start"].to_numpy()[1:] == regions["end"].to_numpy()[:-1]).all()
    assert set(regions["context"]) == set(CONTEXTS)
    cd = cds(annotation).iloc[5]
    assert _label_at(regions, name, (cd["start"] + cd["end"]) // 2) in ("CDS", "splice")
    intr = introns(annotation)
    long_intron = intr[(intr["end"] - intr["start"]) > 200].iloc[0]
    assert _label_at(regions, name, (long_intron["start"] + long_intron["end"]) // 2) in ("intron", "CDS", "five_prime_UTR", "three_prime_UTR")
    assert _label_at(regions, name, int(long_intron["start"])) == "splice"
    tx = transcripts(annotation)
    plus, minus = tx[tx["strand"] == "+"].iloc[0], tx[tx["strand"] == "-"].iloc[0]
    assert _label_at(regions, name, plus["start"] - 1) in ("promoter", "CDS", "five_prime_UTR", "three_prime_UTR", "intron")
    labels_before = {_label_at(regions, name, int(t.start) - 1) for t in tx[tx["strand"] == "+"].itertuples() if t.start > 0}
    labels_after = {_label_at(regions, name, int(t.end)) for t in tx[tx["strand"] == "-"].itertuples() if t.end < len(seq)}
    assert "promoter" in labels_before and "promoter" in labels_after
    assert minus["end"] <= len(seq)


def test_learned_lengths_differ_by_context_and_kmers_do_not(regions, genome):
    name, seq = next(iter(genome.items()))
    label = np.empty(len(seq), dtype=object)
    for r in regions.itertuples():
        label[r.start:r.end] = r.context
    # a toy router: a chunk every 3 bases inside CDS, every 8 elsewhere
    mask = np.zeros(len(seq), dtype=bool)
    pos = 0
    while pos < len(seq):
        mask[pos] = True
        pos += 3 if label[pos] == "CDS" else 8
    learned = learned_length_counts({name: mask}, regions)
    cds_lengths = learned[learned["context"] == "CDS"].set_index("length")["count"]
    assert cds_lengths.idxmax() == 3
    table = token_length_distributions({name: mask.astype(np.float16)}, regions, genome, kmers=(6,), bpe_vocab_size=None)
    np.testing.assert_allclose(table.groupby(["tokenizer", "context"])["fraction"].sum(), 1.0)
    stats = compare_contexts(table).set_index("tokenizer")
    assert stats.loc["learned", "chi2_pvalue"] < 1e-10 and stats.loc["learned", "cramers_v"] > 0.3
    assert stats.loc["learned", "median_CDS"] == 3 and stats.loc["learned", "median_intergenic"] == 8
    assert stats.loc["kmer6", "cramers_v"] == 0.0
    kmer = kmer_length_counts(regions, 6)
    assert set(kmer["length"]) <= {1, 2, 3, 4, 5, 6}


def test_random_boundaries_show_no_context_effect(regions, genome):
    name, seq = next(iter(genome.items()))
    mask = np.random.default_rng(0).random(len(seq)) < 0.25
    stats = compare_contexts(learned_length_counts({name: mask}, regions).assign(tokenizer="random"))
    assert stats["cramers_v"].item() < 0.05


def test_bpe_trained_with_tokenizers_library(regions, genome):
    tok = train_bpe(genome, vocab_size=300, max_bases=100_000, seed=0)
    assert 200 < tok.get_vocab_size() <= 300
    counts = bpe_length_counts(tok, regions.head(40), genome, drop_edges=False)
    total = sum(r.end - r.start for r in regions.head(40).itertuples())
    assert (counts["length"] * counts["count"]).sum() == total
    assert counts["length"].max() > 3
