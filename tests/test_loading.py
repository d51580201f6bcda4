"""ldarviz.load_model: one way to load a model, no silent fallback to random weights."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

import ldarnet
from ldarviz import Loaded, load_model
from ldarviz.loading import DEFAULT_CHECKPOINT


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(3)
    model = ldarnet.LDARNet(ldarnet.LDARNetConfig.preset("ldarnet-tiny"))
    folder = tmp_path_factory.mktemp("ckpt") / "tiny"
    model.save_pretrained(folder)
    return model, folder


def test_a_checkpoint_folder_loads_with_its_record(saved):
    model, folder = saved
    loaded = load_model(folder)
    assert isinstance(loaded, Loaded) and loaded.trained and loaded.path == folder
    assert not loaded.model.training
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.model.state_dict().items()):
        assert torch.equal(a, b), name
    assert len(loaded.sha256) == 64 and loaded.sha256 == load_model(folder).sha256
    assert loaded.sha256[:12] in loaded.label and "UNTRAINED" not in loaded.label
    assert loaded.provenance() == {"checkpoint": str(loaded.provenance()["checkpoint"]),
                                   "checkpoint_sha256": loaded.sha256, "trained": True}
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.trained = False


def test_missing_or_broken_checkpoints_fail_instead_of_falling_back(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"checkpoint .*nonexistent: no such folder.*'untrained'"):
        load_model(tmp_path / "nonexistent")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="empty"):
        load_model(empty)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"d_model": "wide"}))
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="broken"):
        load_model(broken)


def test_random_weights_only_when_asked_and_labelled():
    a, b = load_model("untrained", seed=5), load_model("untrained", seed=5)
    assert not a.trained and a.path is None and a.sha256 is None and a.seed == 5
    assert "UNTRAINED" in a.label and "seed 5" in a.label
    assert a.provenance() == {"checkpoint": "untrained", "checkpoint_sha256": None, "trained": False}
    for (name, x), (_, y) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert torch.equal(x, y), name
    c = load_model("untrained", seed=6)
    assert any(not torch.equal(x, y) for x, y in zip(a.model.parameters(), c.model.parameters()))


@pytest.mark.skipif(not (DEFAULT_CHECKPOINT / "model.safetensors").is_file(), reason="no shipped checkpoint")
def test_none_means_the_shipped_checkpoint():
    loaded = load_model(None)
    assert loaded.trained and loaded.path == DEFAULT_CHECKPOINT
    assert loaded.model.config.target_ratio[0] > 1


def test_provenance_takes_the_hash_from_the_loaded_record(saved):
    from ldarviz.provenance import make_provenance

    loaded = load_model(saved[1])
    record = make_provenance(model=loaded, seed=1, flank=5)
    assert record["checkpoint_sha256"] == loaded.sha256
    assert record["parameters"] == {"checkpoint": loaded.provenance()["checkpoint"], "trained": True, "flank": 5}
    untrained = make_provenance(model=load_model("untrained"))
    assert untrained["checkpoint_sha256"] is None and untrained["parameters"]["trained"] is False
    with pytest.raises(ValueError, match="not both"):
        make_provenance(model=loaded, checkpoint=saved[1])


def test_the_recorded_hash_is_ldarnets_content_hash(saved, tmp_path):
    model, folder = saved
    again = tmp_path / "again"
    model.save_pretrained(again)  # the same weights saved twice: one identity
    assert load_model(folder).sha256 == load_model(again).sha256 == ldarnet.checkpoint_sha256(folder)
