"""ldarviz.extract_boundaries(..., store=): computed once, then read from the store keyed by content hashes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ldarviz.boundary_store import boundaries_with_store
from ldarviz.extract import extract_boundaries

DATA_FASTA = Path(__file__).resolve().parents[1] / "data" / "athal_chr1_1000000_1200000.fa"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    from ldarnet import LDARNet, LDARNetConfig
    from ldarnet.genome import open_fasta

    folder = tmp_path_factory.mktemp("store")
    torch.manual_seed(0)
    LDARNet(LDARNetConfig.preset("ldarnet-tiny")).save_pretrained(folder / "ckpt")
    with open_fasta(DATA_FASTA, quiet=True) as fasta:
        seq = str(fasta[next(iter(fasta.keys()))][:9000])
    path = folder / "g.fa"
    path.write_text(f">a\n{seq[:6000]}\n>b\n{seq[6000:]}\n")
    return LDARNet.from_pretrained(folder / "ckpt"), path, folder


def test_first_call_fills_the_store_and_the_second_reads_it(loaded, tmp_path, monkeypatch):
    model, fasta, _ = loaded
    want, want_mask = extract_boundaries(model, fasta, return_mask=True)
    got, got_mask = extract_boundaries(model, fasta, store=tmp_path, return_mask=True)
    files = list(tmp_path.glob("*.store.npz"))
    assert len(files) == 1 and files[0].name.startswith(model.source["sha256"][:12])
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])
        np.testing.assert_array_equal(got_mask[name], want_mask[name])

    def refuse(*args, **kwargs):
        raise AssertionError("the store should have been read, not the model run")

    monkeypatch.setattr(model, "extract_boundaries", refuse)
    again = extract_boundaries(model, fasta, store=tmp_path)
    assert all((again[n] == want[n]).all() for n in want)


def test_a_store_written_by_the_command_is_found_and_a_foreign_one_refused(loaded, tmp_path):
    from ldarnet.cli import main

    model, fasta, folder = loaded
    assert main(["boundaries", "--checkpoint", str(folder / "ckpt"), "--fasta", str(fasta), "--out", str(tmp_path / "run"),
                 "--store", "--threads", "1", "--no-progress"]) == 0
    probs, _, path = boundaries_with_store(model, fasta, tmp_path)
    assert path == tmp_path / "run.store.npz"
    np.testing.assert_allclose(probs["a"].astype(np.float32), extract_boundaries(model, fasta)["a"].astype(np.float32), atol=2e-3)
    other = tmp_path / "other.fa"
    other.write_text(">a\nACGTACGTAC\n")
    with pytest.raises(ValueError, match="was not computed from this model"):
        boundaries_with_store(model, other, tmp_path / "run.store.npz")
    with pytest.raises(ValueError, match="and no regions"):
        extract_boundaries(model, fasta, regions=[("a", 0, 100)], store=tmp_path)


def test_a_dict_of_sequences_is_keyed_by_its_content_and_an_untrained_model_by_its_weights(tmp_path, monkeypatch):
    from ldarnet import LDARNet, LDARNetConfig

    from ldarviz.boundary_store import store_key

    torch.manual_seed(1)
    model = LDARNet(LDARNetConfig.preset("ldarnet-tiny")).eval()  # no checkpoint: keyed by its tensors
    rng = np.random.default_rng(0)
    seqs = {f"w{i}": "".join(rng.choice(list("ACGT"), size=n)) for i, n in enumerate((700, 650, 0, 1200))}
    want, want_mask = extract_boundaries(model, seqs, return_mask=True)
    got, got_mask = extract_boundaries(model, seqs, store=tmp_path, return_mask=True)
    assert list(got) == list(seqs) and len(got["w2"]) == 0
    for name in seqs:
        np.testing.assert_array_equal(got[name], want[name])
        np.testing.assert_array_equal(got_mask[name], want_mask[name])
    key = store_key(model, seqs)
    assert "weights_sha256" in key and "sequences_sha256" in key

    def refuse(*args, **kwargs):
        raise AssertionError("the store should have been read, not the model run")

    real = model.extract_boundaries
    monkeypatch.setattr(model, "extract_boundaries", refuse)
    again = extract_boundaries(model, seqs, store=tmp_path)
    assert all((again[name] == want[name]).all() for name in seqs)
    # one changed base, or other weights, is another key: computed, never served from the old store
    changed = {**seqs, "w0": ("C" if seqs["w0"][0] != "C" else "G") + seqs["w0"][1:]}
    with pytest.raises(AssertionError, match="should have been read"):
        extract_boundaries(model, changed, store=tmp_path)
    monkeypatch.setattr(model, "extract_boundaries", real)
    with torch.no_grad():
        next(model.parameters()).add_(1e-3)
    assert store_key(model, seqs)["weights_sha256"] != key["weights_sha256"]
    extract_boundaries(model, seqs, store=tmp_path)
    assert len(list(tmp_path.glob("*.store.npz"))) == 2
