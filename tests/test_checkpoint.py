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


# -- content hash and where weights came from -----------------------------------------------------

def _save(folder, state: dict, metadata: dict, config_text: str) -> None:
    from safetensors.torch import save_file

    folder.mkdir()
    save_file(state, str(folder / "model.safetensors"), metadata=metadata)
    (folder / "config.json").write_text(config_text)


def test_checkpoint_sha256_is_the_content_not_the_file(tmp_path):
    import json

    from ldarnet import checkpoint_sha256, file_sha256

    model = _model()
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    config = json.loads(model.config.to_json())
    _save(tmp_path / "a", state, {"format": "pt", "model": "ldarnet"}, json.dumps(config))
    # the same weights saved by another run: tensors inserted in reverse order, metadata keys in another
    # order and one more metadata entry, config keys reordered and indented
    _save(tmp_path / "b", dict(reversed(list(state.items()))), {"run": "2", "model": "ldarnet", "format": "pt"},
          json.dumps(dict(reversed(list(config.items()))), indent=4) + "\n")
    a, b = checkpoint_sha256(tmp_path / "a"), checkpoint_sha256(tmp_path / "b")
    assert len(a) == 64 and a == b
    assert file_sha256(tmp_path / "a" / "model.safetensors") != file_sha256(tmp_path / "b" / "model.safetensors")
    assert checkpoint_sha256(tmp_path / "a" / "model.safetensors") == a  # the file in its folder: same identity

    changed = dict(state)
    name = sorted(changed)[0]
    changed[name] = changed[name].clone()
    changed[name].view(-1)[0] += 1e-3
    _save(tmp_path / "c", changed, {"format": "pt"}, json.dumps(config))
    assert checkpoint_sha256(tmp_path / "c") != a
    _save(tmp_path / "d", state, {"format": "pt"}, json.dumps({**config, "norm_eps": 1e-6}))
    assert checkpoint_sha256(tmp_path / "d") != a
    recast = {k: v.to(torch.float64) if v.is_floating_point() else v for k, v in state.items()}
    _save(tmp_path / "e", recast, {"format": "pt"}, json.dumps(config))
    assert checkpoint_sha256(tmp_path / "e") != a  # same values, other dtype: other weights


def test_from_pretrained_and_load_pretrained_record_their_source(tmp_path):
    from ldarnet import checkpoint_sha256, load_pretrained

    _model().save_pretrained(tmp_path / "ckpt")
    expected = {"path": str(tmp_path / "ckpt"), "sha256": checkpoint_sha256(tmp_path / "ckpt")}
    assert LDARNet.from_pretrained(tmp_path / "ckpt").source == expected
    loaded = load_pretrained(tmp_path / "ckpt")
    assert isinstance(loaded, LDARNet) and loaded.source == expected
    assert _model().source is None  # random weights say so


def test_load_pretrained_fails_clearly_never_random_weights(tmp_path):
    from ldarnet import load_pretrained

    with pytest.raises(ValueError, match="nope.*does not exist"):
        load_pretrained(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty has no config.json"):
        load_pretrained(tmp_path / "empty")
    _model().save_pretrained(tmp_path / "bad")
    (tmp_path / "bad" / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match="not a valid safetensors"):
        load_pretrained(tmp_path / "bad")
