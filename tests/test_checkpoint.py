import os
import pickle

import pytest
import torch

from ldarnet import LDARNet, LDARNetConfig, batch_encode


def _model():
    torch.manual_seed(0)
    return LDARNet(LDARNetConfig.preset("ldarnet-tiny")).eval()


def test_round_trip_gives_identical_outputs(tmp_path):
    model = _model()
    model.save_pretrained(tmp_path / "ckpt")
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["config.json", "model.safetensors"]
    loaded = LDARNet.from_pretrained(tmp_path / "ckpt").eval()
    ids, mask = batch_encode(["ACGTTGCAAGGCTTAA" * 4, "GATTACA"])
    with torch.no_grad():
        a, b = model(ids, mask), loaded(ids, mask)
    assert torch.equal(a.logits, b.logits)
    assert torch.equal(a.boundaries[0].boundary_prob, b.boundaries[0].boundary_prob)
    assert loaded.config == model.config


class _Payload:
    def __reduce__(self):
        return (open, ("pwned.txt", "w"))


def test_pickle_in_place_of_weights_is_refused_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ckpt = tmp_path / "ckpt"
    _model().save_pretrained(ckpt)
    (ckpt / "model.safetensors").write_bytes(pickle.dumps({"weights": _Payload()}))
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        LDARNet.from_pretrained(ckpt)
    torch.save(_model().state_dict(), ckpt / "model.safetensors")  # a torch pickle zip
    with pytest.raises(ValueError, match="never unpickles"):
        LDARNet.from_pretrained(ckpt)
    assert not (tmp_path / "pwned.txt").exists()


def test_truncated_weights_and_wrong_config_are_refused(tmp_path):
    ckpt = tmp_path / "ckpt"
    _model().save_pretrained(ckpt)
    data = (ckpt / "model.safetensors").read_bytes()
    (ckpt / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="safetensors"):
        LDARNet.from_pretrained(ckpt)
    _model().save_pretrained(ckpt)
    LDARNetConfig.preset("ldarnet-tiny", d_model=[48, 64]).to_json(ckpt / "config.json")
    with pytest.raises(ValueError, match="shape"):
        LDARNet.from_pretrained(ckpt)
    (ckpt / "config.json").unlink()
    with pytest.raises(ValueError, match="no config.json"):
        LDARNet.from_pretrained(ckpt)
    with pytest.raises(ValueError, match="does not exist"):
        LDARNet.from_pretrained(tmp_path / "missing")


def test_classification_head_pools_and_conjoins():
    from ldarnet.heads import LDARNetForSequenceClassification
    from ldarnet.vocab import reverse_complement

    ids, mask = batch_encode(["ACGTTGCAAGGCTTAA" * 3, "GATTACAGG"])
    for pooling in ("mean", "max", "first"):
        clf = LDARNetForSequenceClassification(_model(), num_labels=3, pooling=pooling).eval()
        assert clf(ids, mask).shape == (2, 3)
    clf = LDARNetForSequenceClassification(_model(), num_labels=2, conjoin_rc=True).eval()
    with torch.no_grad():
        torch.testing.assert_close(clf(ids, mask), clf(reverse_complement(ids, mask), mask), atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="pooling"):
        LDARNetForSequenceClassification(_model(), num_labels=2, pooling="attention")
