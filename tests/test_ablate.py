"""``ldarnet ablate``: one-factor variants, and a tiny end-to-end run on real data from data/."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from ldarnet import ablate
from ldarnet.commands import ablate as ablate_command
from ldarnet.config import LDARNetConfig
from ldarnet.finetune import load_csv, save_csv

DATA = Path(__file__).resolve().parents[1] / "data"


def _differences(a: LDARNetConfig, b: LDARNetConfig) -> set[str]:
    da, db = a.to_dict(), b.to_dict()
    return {k for k in da if da[k] != db[k]}


def test_each_variant_differs_from_the_base_in_exactly_one_field():
    base = LDARNetConfig.preset("ldarnet-proxy")
    variants = ablate.make_variants(base, ["router", "ratio", "fusion", "attention"])
    names = [v["name"] for v in variants]
    assert names == ["base", "router=fixed", "router=none", "ratio=2", "ratio=6", "ratio=8", "ratio=12",
                     "fusion=sum", "attention=m3"]
    expected_field = {"router": "router", "ratio": "target_ratio", "fusion": "fusion", "attention": "arch_layout"}
    for variant in variants[1:]:
        assert _differences(base, variant["config"]) == {expected_field[variant["factor"]]}
    no_attention = variants[-1]["config"]
    assert no_attention.arch_layout == ["m3", ["M6"], "m3"]


def test_variant_values_and_bad_factors():
    base = LDARNetConfig.preset("ldarnet-tiny")
    ratios = ablate.make_variants(base, ["ratio"], {"ratio": (3.0, 4.0)})
    assert [v["name"] for v in ratios] == ["base", "ratio=3"]  # 4 is the base itself
    plain = LDARNetConfig.preset("ldarnet-tiny", arch_layout=["m2", ["M2"], "m1"])
    assert ablate.make_variants(plain, ["attention"])[1]["config"].arch_layout[0] == "m2t1"
    with pytest.raises(ValueError, match="unknown factor"):
        ablate.make_variants(base, ["depth"])
    with pytest.raises(ValueError, match="router=fixed.*whole number|target_ratio"):
        ablate.make_variants(LDARNetConfig.preset("ldarnet-tiny", target_ratio=[2.5]), ["router"])


def test_tiny_ablation_run_writes_tables_configs_and_logs(tmp_path):
    ecoli = load_csv(DATA / "ecoli_sigma70_promoters.csv")
    task = ecoli.groupby("label").head(8).assign(sequence=lambda t: t["sequence"].str[28:60])
    csv = save_csv(task.drop(columns="source"), tmp_path / "promoter.csv")
    parser = argparse.ArgumentParser()
    ablate_command.register(parser.add_subparsers())
    out = tmp_path / "abl"
    argv = ["ablate", "--base", "ldarnet-tiny", "--factor", "router", "--fasta", str(DATA / "scer_chrI.fa"),
            "--steps", "2", "--batch-size", "2", "--seq-len", "64", "--task", f"{csv}:sequence:label",
            "--folds", "2", "--max-folds", "1", "--ft-epochs", "1", "--ft-batch-size", "8", "--out", str(out),
            "--timing-repeats", "1", "--threads", "1", "--quiet"]
    threads = torch.get_num_threads()
    try:
        args = parser.parse_args(argv)
        assert args.func(args) == 0
    finally:
        torch.set_num_threads(threads)
    results = pd.read_csv(out / "results.csv")
    assert list(results.columns) == ["task", "variant", "fold", "metric", "value"]
    models = sorted(v for v in results["variant"].unique() if not v.startswith("kmer-"))
    assert models == ["base", "router=fixed", "router=none"]
    kmer = results[results["variant"].str.startswith("kmer-")]
    assert sorted(kmer["variant"].unique()) == ["kmer-3", "kmer-4", "kmer-5", "kmer-6"]
    n_test = results[results["metric"] == "n_test"].groupby(["variant", "fold"])["value"].first().unstack()
    assert (n_test.nunique() == 1).all()  # the baselines are scored on the same folds as the variants
    assert set(results["task"]) == {"promoter"}
    compute = pd.read_csv(out / "compute.csv").set_index("variant")
    assert (compute["steps_done"] == 2).all() and (compute["tokens"] == 2 * 2 * 64).all()
    assert (compute["bp_per_s_median"] > 0).all() and (compute["bp_per_s_side_by_side"] > 0).all()
    # the fixed router compresses exactly at its target; none does not compress
    assert compute.loc["router=fixed", "compression_realised"] == pytest.approx(4.0, rel=0.05)
    assert compute.loc["router=none", "compression_realised"] == pytest.approx(1.0)
    # parameters are counted, not assumed: fixed/none drop the router's projections
    assert compute.loc["base", "parameters"] > compute.loc["router=fixed", "parameters"]
    for name in ("base", "router=fixed", "router=none"):
        folder = out / "variants" / name
        config = LDARNetConfig.from_json(folder / "config.json")
        assert config.router == [name.split("=")[1] if "=" in name else "learned"]
        assert (folder / "pretrain" / "metrics.jsonl").is_file()
        assert (folder / "finetune-promoter.log").read_text().strip()
        assert not (folder / "pretrain" / "checkpoints").exists()
    record = json.loads((out / "ablate.json").read_text())
    assert record["matched_steps"] and record["scale"].startswith("ldarnet-tiny, 2 steps")
    assert "router=none" in (out / "ablate.log").read_text()
    summary = (out / "summary.md").read_text()
    assert "## Compute" in summary and "| router=fixed |" in summary and "Held-out-fold MCC" in summary
