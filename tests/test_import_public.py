"""Importing checkpoints of the public LDARNet code: parity with its outputs, strict mapping, safe loading.

The fixture in tests/data/public_ldarnet/ was written by the public code itself (see its README).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ldarnet import LDARNet, LDARNetConfig, import_public
from ldarnet.checkpoint import file_sha256
from ldarnet.chunking import dechunk
from ldarnet.cli import main
from ldarnet.public_checkpoint import MAPPING_VERSION, translate_config

DATA = Path(__file__).parent / "data" / "public_ldarnet"
SRC = DATA / "ldarnet_tiny_public.pt"
LOGIT_TOL = 1e-4  # fp32, max |Δ logits|
P_TIE = 1e-5  # boundary decisions may differ only where the reference p is this close to 0.5


@pytest.fixture(scope="module")
def reference():
    return load_file(DATA / "reference_outputs.safetensors")


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = tmp_path_factory.mktemp("imported") / "tiny"
    import_public(SRC, out)
    return out


@pytest.fixture(scope="module")
def model(imported):
    return LDARNet.from_pretrained(imported).eval()


def _run(model, ids, mask):
    with torch.no_grad():
        return model(ids, mask.long())


def _check_row(out, ref_logits, ref_p, ref_b, ref_len, row, n):
    logits = out.logits[row, :n]
    assert (logits - ref_logits).abs().max().item() <= LOGIT_TOL
    b = out.boundaries[0].boundary_mask[row, :n]
    differ = b != ref_b.bool()
    assert not differ[(ref_p - 0.5).abs() >= P_TIE].any()
    assert int(out.boundaries[0].lengths[row]) == int(ref_len)
    assert (out.boundaries[0].boundary_prob[row, :n] - ref_p).abs().max().item() <= LOGIT_TOL


def test_imported_fixture_reproduces_reference_logits_and_boundaries(model, reference):
    ids = reference["single.input_ids"]
    out = _run(model, ids, torch.ones_like(ids, dtype=torch.bool))
    n = ids.shape[1]
    _check_row(out, reference["single.logits"][0], reference["single.boundary_prob"][0],
               reference["single.boundary_mask"][0], reference["single.lengths"][0], 0, n)
    # the reference is not degenerate: real chunking, logits far from uniform
    assert 1 < int(reference["single.lengths"][0]) < n
    assert reference["single.logits"].std() > 0.1


def test_padded_batch_matches_reference_on_unpadded_rows_and_unpadded_runs_elsewhere(model, reference):
    ids = reference["padded.input_ids"]
    mask = ids != 6
    out = _run(model, ids, mask)
    lengths = mask.sum(1)
    chunks = reference["padded.lengths"]
    # row 0 is unpadded at every stage (longest input, most chunks): theirs and ours must agree there
    assert int(lengths[0]) == ids.shape[1] and int(chunks[0]) == int(chunks.max())
    _check_row(out, reference["padded.logits"][0], reference["padded.boundary_prob"][0],
               reference["padded.boundary_mask"][0], chunks[0], 0, ids.shape[1])
    # the padded rows: ours equal their code run on the row alone (their batched run leaks pads, see README)
    for row in range(1, ids.shape[0]):
        n = int(lengths[row])
        _check_row(out, reference[f"alone{row}.logits"][0], reference[f"alone{row}.boundary_prob"][0],
                   reference[f"alone{row}.boundary_mask"][0], reference[f"alone{row}.lengths"][0], row, n)


def test_import_record_and_config(imported):
    record = json.loads((imported / "import.json").read_text())
    assert record["source"] == SRC.name
    assert record["source_sha256"] == file_sha256(SRC)
    assert record["source_step"] == 7
    assert record["mapping_version"] == MAPPING_VERSION
    config = json.loads((imported / "config.json").read_text())
    assert config["dechunk_reverse_gate"] == "own" and config["headdim"] == 64
    assert config["arch_layout"] == ["m1t1", ["M1T1"], "m1"]


def _resave(tmp_path, edit) -> Path:
    payload = torch.load(SRC, weights_only=True)
    edit(payload)
    path = tmp_path / "edited.pt"
    torch.save(payload, path)
    return path


@pytest.mark.parametrize("edit, needle", [
    (lambda p: p["config"].update(foo=1), "foo"),
    (lambda p: p["config"].update(vocab_size=8), "vocab_size"),
    (lambda p: p["config"].update(mode="causal"), "mode"),
    (lambda p: p["config"]["ssm_cfg"].update(headdim=32), "ssm_cfg.headdim"),
    (lambda p: p["config"]["attn_cfg"].update(window_size=[(3, 5), -1]), "window_size"),
    (lambda p: p["config"].update(d_model=[32, 32]), "backbone.main_network.pad_dimension"),
])
def test_bad_config_is_one_error_naming_the_field(tmp_path, edit, needle):
    src = _resave(tmp_path, edit)
    with pytest.raises(ValueError, match="edited.pt") as err:
        import_public(src, tmp_path / "out")
    assert needle in str(err.value) or needle.split(".")[-1] in str(err.value)
    assert not (tmp_path / "out").exists()


def test_leftover_tensors_on_either_side_are_listed(tmp_path):
    extra = _resave(tmp_path, lambda p: p["model"].update({"backbone.extra.weight": torch.zeros(2)}))
    with pytest.raises(ValueError, match=r"backbone\.extra\.weight"):
        import_public(extra, tmp_path / "a")
    missing = _resave(tmp_path, lambda p: p["model"].pop("backbone.residual_proj.bias"))
    with pytest.raises(ValueError, match=r"stage\.residual_proj\.bias"):
        import_public(missing, tmp_path / "b")
    key = "backbone.encoder.layers.0.mixer.bwd.in_proj.weight"  # stored tied to fwd: replace, do not edit in place
    untied = _resave(tmp_path, lambda p: p["model"].update({key: p["model"][key] + 1.0}))
    with pytest.raises(ValueError, match="tied"):
        import_public(untied, tmp_path / "c")


class _CreatesFile:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):  # a full unpickle would call open(path, "w") and create the file
        return (open, (str(self.path), "w"))


def test_payload_needing_arbitrary_objects_is_refused_and_never_executed(tmp_path):
    marker = tmp_path / "pwned.txt"
    src = tmp_path / "evil.pt"
    torch.save({"model": {}, "config": {}, "step": 0, "hook": _CreatesFile(marker)}, src)
    with pytest.raises(ValueError, match=r"evil\.pt.*weights_only"):
        import_public(src, tmp_path / "out")
    assert not marker.exists()
    assert main(["import-public", str(src), str(tmp_path / "out2")]) == 2
    assert not marker.exists() and not (tmp_path / "out2").exists()


def test_cli_imports_and_refuses_non_empty_folder(tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["import-public", str(SRC), str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"model.safetensors", "config.json", "import.json"}
    assert main(["import-public", str(SRC), str(out)]) == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert main(["import-public", str(SRC), str(out), "--overwrite"]) == 0
    assert main(["import-public", str(tmp_path / "missing.pt"), str(tmp_path / "n")]) == 2


def test_translate_config_of_the_released_110m_layout():
    cfg = {"arch_layout": ["m3t1", ["M10"], "m4"], "d_model": [512, 768], "d_intermediate": [0, 2560], "vocab_size": 7,
           "ssm_cfg": {"chunk_size": 256, "d_conv": 4, "d_state": 128, "expand": 2},
           "attn_cfg": {"num_heads": [16, 16], "rotary_emb_dim": [32, 48], "window_size": [1023, -1]},
           "tie_embeddings": False, "mode": "mlm", "pad_token_id": 6, "mask_token_id": 5}
    ours = translate_config(cfg)
    expected = LDARNetConfig.preset("ldarnet-120m", dechunk_reverse_gate="own")
    assert ours.to_dict() == expected.to_dict()


def test_own_reverse_gate_is_the_public_recurrence():
    torch.manual_seed(0)
    z = torch.randn(1, 5, 3)
    p = torch.rand(1, 5) * 0.8 + 0.1
    mask = torch.ones(1, 5, dtype=torch.bool)
    out = dechunk(z, p, mask, torch.ones(1, 5, dtype=torch.bool), reverse_gate="own")[0]
    fwd, bwd, s = [], [None] * 5, torch.zeros(3)
    for j in range(5):
        s = p[0, j] * z[0, j] + (1 - p[0, j]) * s
        fwd.append(s)
    s = torch.zeros(3)
    for j in reversed(range(5)):  # their reverse scan: gate p_j, zero state after the last chunk
        s = p[0, j] * z[0, j] + (1 - p[0, j]) * s
        bwd[j] = s
    assert torch.allclose(out, 0.5 * (torch.stack(fwd) + torch.stack(bwd)), atol=1e-6)


def test_downstream_tools_accept_the_imported_model(imported, tmp_path):
    from ldarviz.extract import extract_boundaries

    seq = "".join(line.strip() for line in open(Path(__file__).parents[1] / "data" / "athal_chr1_1000000_1200000.fa")
                  if not line.startswith(">"))[20_000:21_500]
    fasta = tmp_path / "x.fa"
    fasta.write_text(f">x\n{seq}\n")
    model = LDARNet.from_pretrained(imported).eval()
    probs = extract_boundaries(model, {"x": seq})
    assert probs["x"].shape == (len(seq),) and probs["x"][0] == pytest.approx(1.0)
    assert main(["boundaries", "--checkpoint", str(imported), "--fasta", str(fasta), "--out", str(tmp_path / "b" / "x"),
                 "--no-progress", "--threads", "1"]) == 0
    assert (tmp_path / "b" / "x.bedgraph").stat().st_size > 0
    record = json.loads((tmp_path / "b" / "x.json").read_text())
    assert record["bases"] == len(seq)
