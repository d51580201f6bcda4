"""Tests for ldarviz.profiles: strand-aware motif-aligned profiles, controls and enrichment."""

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ldarviz.extract import extract_boundaries
from ldarviz.matching import gc_matched_positions, window_gc
from ldarviz.motifs import scan_motifs
from ldarviz.profiles import (
    boundary_profile, motif_anchors, motif_profiles, peak_enrichment, planted_windows, profile_from_matrix, site_matrix,
)
from ldarviz.sequences import sequence_source

from toy_boundaries import KmerStartModel, kmer_boundaries

DATA = Path(__file__).resolve().parents[1] / "data"
ATHAL = DATA / "athal_chr1_1000000_1200000.fa"


@pytest.fixture(scope="module")
def genome():
    lengths, fetch = sequence_source(ATHAL)
    return {name: fetch(name, 0, n) for name, n in lengths.items()}


@pytest.fixture(scope="module")
def tbp_hits(genome):
    return scan_motifs(genome, motifs=["MA0108"], pvalue=1e-4)


@pytest.fixture(scope="module")
def toy_boundaries(genome):
    """Boundaries of the toy model over the real slice, through the real tiled extraction."""
    return extract_boundaries(KmerStartModel("TATAAAA"), genome, window=4096, overlap=256, batch_size=4)


def test_toy_extraction_matches_direct_computation(genome, toy_boundaries):
    direct = kmer_boundaries(genome)
    name = next(iter(genome))
    np.testing.assert_array_equal(toy_boundaries[name], direct[name])


def test_profile_peaks_exactly_at_offset_zero_on_both_strands(tbp_hits, toy_boundaries):
    assert set(tbp_hits["strand"]) == {"+", "-"}
    for strand in "+-":
        sites = tbp_hits[tbp_hits["strand"] == strand]
        prof = boundary_profile(toy_boundaries, sites, flank=20, n_boot=200)
        assert prof.loc[prof["mean"].idxmax(), "offset"] == 0
        top = prof.set_index("offset")["mean"]
        assert top[0] > 0.3 and top.drop(0).max() < top[0] / 2
        assert (prof["lo"] <= prof["mean"] + 1e-12).all() and (prof["mean"] <= prof["hi"] + 1e-12).all()


def test_strand_mirroring_by_hand():
    boundaries = {"s": np.zeros(100, dtype=np.float16)}
    boundaries["s"][[40, 43]] = 1  # cuts before bases 40 and 43
    sites = pd.DataFrame({"seq_id": ["s", "s"], "start": [40, 33], "end": [47, 43], "strand": ["+", "-"]})
    assert motif_anchors(sites).tolist() == [40, 43]
    m = site_matrix(boundaries, sites, flank=5)
    offsets = np.arange(-5, 6)
    assert offsets[m[0] == 1].tolist() == [0, 3]    # + : 43 is 3 downstream of 40
    assert offsets[m[1] == 1].tolist() == [0, 3]    # - : 40 is 3 downstream of 43 on the minus strand
    edge = site_matrix(boundaries, pd.DataFrame({"seq_id": ["s"], "anchor": [2], "strand": ["+"]}), flank=5)
    assert np.isnan(edge[0, :3]).all() and not np.isnan(edge[0, 3:]).any()


def test_enrichment_detects_peak_and_not_noise():
    rng = np.random.default_rng(0)
    noise = rng.random((300, 41))
    flat = peak_enrichment(noise, n_perm=500)
    peaked = noise.copy()
    peaked[:, 20] += 1.0
    strong = peak_enrichment(peaked, n_perm=500)
    assert strong["enrichment"] > 1.3 and strong["pvalue"] <= 2 / 501
    assert 0.9 < flat["enrichment"] < 1.1 and flat["pvalue"] > 0.01


def test_bootstrap_band_has_the_normal_theory_width():
    rng = np.random.default_rng(1)
    matrix = rng.binomial(1, 0.2, size=(2000, 11)).astype(float)
    matrix[:1000, 0] = np.nan  # half the sites have no value at the first offset
    prof = profile_from_matrix(matrix, n_boot=400, ci=0.95, seed=3)
    sample_mean = np.nanmean(matrix, axis=0)
    np.testing.assert_allclose(prof["mean"], sample_mean)
    assert prof["n"].tolist() == [1000] + [2000] * 10
    expected = 2 * 1.96 * np.sqrt(sample_mean * (1 - sample_mean) / prof["n"])
    np.testing.assert_allclose(prof["hi"] - prof["lo"], expected, rtol=0.2)
    np.testing.assert_allclose((prof["hi"] + prof["lo"]) / 2, sample_mean, atol=0.004)


def test_gc_matched_positions_match_gc(genome, tbp_hits):
    sites = tbp_hits.assign(anchor=motif_anchors(tbp_hits))
    controls = gc_matched_positions(sites, genome, position="anchor", window=101, n_per_site=2, seed=0)
    site_gc = window_gc(sites, genome, position="anchor", window=101)
    control_gc = window_gc(controls.reset_index(drop=True), genome, position="anchor", window=101)
    diff = control_gc.to_numpy() - site_gc.loc[controls.index].to_numpy()
    assert len(controls) >= 1.8 * len(sites)
    assert np.abs(diff).mean() < 0.01
    assert abs(control_gc.mean() - site_gc.mean()) < 0.01
    assert (controls["strand"].to_numpy() == sites.loc[controls.index, "strand"].to_numpy()).all()


def test_planted_windows_keep_the_motif_and_shuffle_the_rest(genome, tbp_hits):
    windows, sites = planted_windows(tbp_hits.head(30), genome, flank=20, context=50, seed=0)
    assert len(windows) == len(sites) > 20
    name = next(iter(genome))
    changed = 0
    for label, site in sites.iterrows():
        hit = tbp_hits.loc[label]
        text = windows[site["seq_id"]]
        pad = 70
        original = genome[name][hit["start"] - pad: hit["end"] + pad]
        assert len(text) == len(original)
        assert text[pad: pad + hit["end"] - hit["start"]] == original[pad: pad + hit["end"] - hit["start"]]
        changed += text != original
        assert site["anchor"] == (pad if hit["strand"] == "+" else pad + hit["end"] - hit["start"])
    assert changed == len(sites)


def test_motif_profiles_with_all_controls(genome, tbp_hits):
    model = KmerStartModel("TATAAAA")
    boundary_fn = partial(extract_boundaries, model, window=1024, overlap=128)
    boundaries = kmer_boundaries(genome)
    profiles, stats = motif_profiles(boundaries, tbp_hits, genome, boundary_fn=boundary_fn, flank=20,
                                     n_boot=100, n_perm=200, max_planted=200, planted_context=64)
    stats = stats.set_index("set")
    assert set(stats.index) == {"true", "gc_matched", "planted_shuffle", "shuffled_pwm"}
    assert stats.loc["true", "pvalue"] <= 0.01 and stats.loc["true", "enrichment"] > 5
    # the toy reads the motif itself, so planting it in shuffled context keeps the peak
    assert stats.loc["planted_shuffle", "pvalue"] <= 0.01
    assert stats.loc["gc_matched", "peak_mean"] < 0.05 and stats.loc["gc_matched", "pvalue"] > 0.01
    true = profiles[profiles["set"] == "true"].set_index("offset")["mean"]
    assert true.idxmax() == 0
    assert profiles.attrs["provenance"]["jaspar_release"] == "JASPAR2024"
    with pytest.raises(ValueError, match="needs boundary_fn"):
        motif_profiles(boundaries, tbp_hits, genome, controls=("planted_shuffle",))


def test_real_tiny_model_profile_records_checkpoint(tmp_path, genome, tbp_hits):
    import torch

    from ldarnet import LDARNet, LDARNetConfig
    from ldarviz import load_model

    torch.manual_seed(0)
    model = LDARNet(LDARNetConfig.preset("ldarnet-tiny")).eval()
    model.save_pretrained(tmp_path / "ckpt")
    name = next(iter(genome))
    piece = {name: genome[name][:12_000]}
    probs = extract_boundaries(model, piece, window=4096, overlap=512)
    assert probs[name].dtype == np.float16 and len(probs[name]) == 12_000
    sites = tbp_hits[tbp_hits["end"] < 12_000]
    loaded = load_model(tmp_path / "ckpt")
    prof = boundary_profile(probs, sites, flank=10, n_boot=50, model=loaded)
    assert prof["n"].max() == len(sites) and prof["mean"].between(0, 1).all()
    assert prof.attrs["provenance"]["checkpoint_sha256"] == loaded.sha256 and len(loaded.sha256) == 64
