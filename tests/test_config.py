import json

import pytest

from ldarnet import LDARNet, LDARNetConfig
from ldarnet.config import layout_levels, parse_layers


def test_presets_have_the_promised_sizes():
    assert abs(LDARNet(LDARNetConfig.preset("ldarnet-120m")).num_parameters() - 110.7e6) / 110.7e6 < 0.10
    assert 2.0e6 < LDARNet(LDARNetConfig.preset("ldarnet-proxy")).num_parameters() < 3.0e6
    assert LDARNet(LDARNetConfig.preset("ldarnet-tiny")).num_parameters() < 200_000


def test_layout_parsing_one_and_two_stages():
    assert parse_layers("m3t1") == ["m", "m", "m", "t"]
    assert layout_levels(["m3t1", ["M10"], "m4"]) == [
        {"encoder": ["m", "m", "m", "t"], "decoder": ["m"] * 4}, {"backbone": ["M"] * 10}]
    cfg = LDARNetConfig.preset("ldarnet-tiny", arch_layout=["m2t1", ["m2", ["M4"], "m2"], "m2"],
                               d_model=[32, 48, 64], d_intermediate=[0, 0, 128],
                               num_heads=2, rotary_emb_dim=8, window_size=[7, 7, -1])
    assert cfg.n_stages == 2 and cfg.router == ["learned", "learned"] and cfg.target_ratio == [4.0, 4.0]
    assert cfg.num_heads == [2, 2, 2]
    with pytest.raises(ValueError, match="num_heads has 2 entries but arch_layout has 3 level"):
        LDARNetConfig.preset("ldarnet-tiny", arch_layout=["m1", ["m1", ["M1"], "m1"], "m1"], d_model=[32, 48, 64],
                             d_intermediate=[0, 0, 128], window_size=[7, 7, -1], rotary_emb_dim=8)


def test_overrides_broadcast_and_round_trip(tmp_path):
    cfg = LDARNetConfig.preset("ldarnet-proxy", router="fixed", target_ratio=6, fusion="sum")
    assert cfg.router == ["fixed"] and cfg.target_ratio == [6.0] and cfg.fusion == "sum"
    path = tmp_path / "c.json"
    cfg.to_json(path)
    assert LDARNetConfig.from_json(path) == cfg
    assert LDARNetConfig.from_json(cfg.to_json()) == cfg


@pytest.mark.parametrize("overrides,field", [
    (dict(arch_layout=["m3x1", ["M2"], "m1"]), "arch_layout"),
    (dict(arch_layout=["m1", ["M2"]]), "arch_layout"),
    (dict(arch_layout=["m1", "M2", "m1"]), "arch_layout"),
    (dict(d_model=[32]), "d_model"),
    (dict(d_model=[64, 32]), "d_model"),
    (dict(d_intermediate=[0, 0]), "d_intermediate"),
    (dict(router="random"), "router"),
    (dict(target_ratio=1), "target_ratio"),
    (dict(router="fixed", target_ratio=2.5), "target_ratio"),
    (dict(fusion="max"), "fusion"),
    (dict(num_heads=[3, 2]), "num_heads"),
    (dict(rotary_emb_dim=[7, 8]), "rotary_emb_dim"),
    (dict(headdim=24), "headdim"),
    (dict(window_size=[0, -1]), "window_size"),
    (dict(d_state=0), "d_state"),
])
def test_bad_configs_name_the_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        LDARNetConfig.preset("ldarnet-tiny", **overrides)


def test_unknown_preset_field_and_json_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown preset"):
        LDARNetConfig.preset("ldarnet-9b")
    with pytest.raises(ValueError, match="d_modle"):
        LDARNetConfig.preset("ldarnet-tiny", d_modle=[1, 2])
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        LDARNetConfig.from_json(bad)
    bad.write_text(json.dumps({"arch_layout": ["m1", ["M1"], "m1"], "colour": 3}))
    with pytest.raises(ValueError, match="colour"):
        LDARNetConfig.from_json(bad)


@pytest.mark.parametrize("field,value,kind", [
    ("norm_eps", "1e-5", "a number"), ("d_state", 16.0, "an integer"), ("d_model", [64, "96"], "an integer"),
    ("mask_protection", "false", "true or false"), ("fusion", 1, "a string"), ("target_ratio", [True], "a number"),
    ("arch_layout", "m1", "a list"),
])
def test_every_field_is_type_checked_with_one_error_naming_it(field, value, kind):
    with pytest.raises(ValueError, match=rf"config field '{field}' must be {kind}"):
        LDARNetConfig.preset("ldarnet-tiny", **{field: value})


def test_a_string_norm_eps_in_config_json_is_one_cli_error_line(tmp_path, capsys):
    import torch

    from ldarnet import LDARNet
    from ldarnet.cli import main

    torch.manual_seed(0)
    LDARNet(LDARNetConfig.preset("ldarnet-tiny")).save_pretrained(tmp_path / "ckpt")
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps({**config, "norm_eps": "1e-5"}))
    fasta = tmp_path / "g.fa"
    fasta.write_text(">r\n" + "ACGT" * 50 + "\n")
    code = main(["boundaries", "--checkpoint", str(tmp_path / "ckpt"), "--fasta", str(fasta),
                 "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    assert "config.json" in err and "'norm_eps' must be a number, got '1e-5' (str)" in err
