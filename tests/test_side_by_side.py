"""ldarviz.side_by_side: stacking per-model results, Fig. 2 with several models, paired MCC, cached results."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ldarviz.side_by_side import (compare_mcc, length_summary, load_results, model_length_table, save_results,
                                  stack_by_model, throughput_table)


def _mask(length: int, every: int) -> np.ndarray:
    mask = np.zeros(length, dtype=bool)
    mask[::every] = True
    return mask


def test_stack_by_model_adds_the_label_and_keeps_each_provenance():
    a = pd.DataFrame({"kind": ["donor"], "enrichment": [2.0]})
    a.attrs["provenance"] = {"checkpoint": "a"}
    b = pd.DataFrame({"kind": ["donor"], "enrichment": [1.0]})
    stacked = stack_by_model({"ldarnet": a, "mergedna": b})
    assert list(stacked.columns) == ["model", "kind", "enrichment"]
    assert stacked["model"].tolist() == ["ldarnet", "mergedna"]
    assert stacked.attrs["provenance"]["ldarnet"] == {"checkpoint": "a"}
    with pytest.raises(ValueError, match="already has"):
        stack_by_model({"x": stacked})
    with pytest.raises(ValueError, match="no tables"):
        stack_by_model({})


def test_model_length_table_counts_each_models_tokens_and_the_baselines_once():
    regions = pd.DataFrame({"seq_id": ["s", "s"], "start": [0, 60], "end": [60, 120], "context": ["CDS", "intron"]})
    boundaries = {"every3": {"s": _mask(120, 3)}, "every5": {"s": _mask(120, 5).astype(np.float32)}}
    table = model_length_table(boundaries, regions, {"s": "ACGT" * 30}, kmers=(4,), bpe_vocab_size=None)
    assert list(pd.unique(table["tokenizer"])) == ["every3", "every5", "kmer4"]
    every3 = table[table.tokenizer == "every3"]
    assert set(every3["length"]) == {3} and every3.groupby("context")["count"].sum().to_dict() == {"CDS": 18, "intron": 18}
    every5 = table[table.tokenizer == "every5"]
    assert set(every5["length"]) == {5} and int(every5["count"].sum()) == 2 * 10  # 12 chunks per region, edges dropped
    assert np.allclose(table.groupby(["tokenizer", "context"])["fraction"].sum(), 1.0)
    summary = length_summary(table)
    assert list(summary.columns) == ["every3", "every5", "kmer4"]
    assert summary.loc["all", "every3"] == 3 and summary.loc["CDS", "every5"] == 5
    with pytest.raises(ValueError, match="clash"):
        model_length_table({"kmer4": boundaries["every3"]}, regions, {"s": "ACGT" * 30}, kmers=(4,), bpe_vocab_size=None)


def test_length_summary_median_and_mean_differ_on_a_skewed_table():
    table = pd.DataFrame({"tokenizer": "m", "context": "CDS", "length": [1, 10], "count": [3, 1]})
    assert length_summary(table).loc["CDS", "m"] == pytest.approx(13 / 4)
    assert length_summary(table, statistic="median").loc["CDS", "m"] == 1


def _mcc_rows(model: str, values) -> pd.DataFrame:
    return pd.DataFrame({"model": model, "task": "t", "variant": "linear-probe", "fold": range(len(values)),
                         "metric": "mcc", "value": values})


def test_compare_mcc_pairs_folds_and_only_calls_a_consistent_difference():
    clear = pd.concat([_mcc_rows("a", [0.1, 0.2, 0.15, 0.12, 0.18]), _mcc_rows("b", [0.5, 0.61, 0.55, 0.5, 0.6])])
    row = compare_mcc(clear, "a", "b").iloc[0]
    assert row["second_better"] == 5 and row["difference"] == pytest.approx(0.402) and row["verdict"] == "b higher"
    noisy = pd.concat([_mcc_rows("a", [0.1, 0.5, 0.2, 0.4, 0.3]), _mcc_rows("b", [0.3, 0.2, 0.4, 0.1, 0.35])])
    assert compare_mcc(noisy, "a", "b").iloc[0]["verdict"] == "no difference shown"
    with pytest.raises(ValueError, match="same folds"):
        compare_mcc(pd.concat([_mcc_rows("a", [0.1, 0.2]), _mcc_rows("b", [0.3])]), "a", "b")
    with pytest.raises(ValueError, match="no mcc rows"):
        compare_mcc(clear, "a", "c")


def test_throughput_table_reads_a_bench_record():
    record = {"command": "x", "load_average_before": [1, 2, 3], "throughput": [
        {"length": 1024, "batch": 4, "bp_per_s": {"ldarnet": 100.0, "mergedna": 50.0},
         "ratio_to_ldarnet": {"ldarnet": 1.0, "mergedna": 0.5}, "bp_per_cpu_s": {"ldarnet": 110.0, "mergedna": 55.0}}]}
    table = throughput_table(record)
    assert table["bp_per_s"].tolist() == [100.0, 50.0] and table["bp_per_cpu_s"].tolist() == [110.0, 55.0]
    assert table.attrs["command"] == "x"
    with pytest.raises(ValueError, match="throughput"):
        throughput_table({})


class _Loaded:
    def __init__(self, sha):
        self.sha256, self.path, self.trained, self.label = sha, None, True, f"model {sha}"

    def provenance(self):
        return {"checkpoint": "ckpt", "checkpoint_sha256": self.sha256, "trained": True}


def test_cached_results_round_trip_and_refuse_other_weights(tmp_path):
    table = pd.DataFrame({"kind": ["donor", "acceptor"], "enrichment": [1.5, 0.9]})
    save_results(tmp_path / "m", _Loaded("abc"), {"splice_stats": table}, command="python script.py")
    tables, record = load_results(tmp_path / "m", _Loaded("abc"))
    pd.testing.assert_frame_equal(tables["splice_stats"], table)
    assert record["command"] == "python script.py"
    with pytest.raises(ValueError, match="stale"):
        load_results(tmp_path / "m", _Loaded("def"))
    with pytest.raises(ValueError, match="no record.json"):
        load_results(tmp_path / "empty", _Loaded("abc"))
    (tmp_path / "m" / "splice_stats.csv").unlink()
    with pytest.raises(ValueError, match="missing"):
        load_results(tmp_path / "m", _Loaded("abc"))
    assert json.loads((tmp_path / "m" / "record.json").read_text())["tables"] == ["splice_stats"]


def test_training_budget_reads_the_run_records_and_names_a_folder_without_them(tmp_path):
    from ldarviz.side_by_side import training_budget

    (tmp_path / "run.json").write_text(json.dumps({"steps": 400, "batch_size": 8, "seq_len": 1024,
                                                   "config": {"model_kind": "mergedna"}}))
    (tmp_path / "run_summary.json").write_text(json.dumps({"parameters": 10, "steps_done": 50, "steps_planned": 400,
                                                           "tokens": 409600, "stopped_early": True,
                                                           "train_seconds": 3.0, "eval": {"mlm_loss": 1.3}}))
    loaded = _Loaded("abc")
    loaded.path = tmp_path
    row = training_budget({"m": loaded}).iloc[0]
    assert row["kind"] == "mergedna" and row["tokens_planned"] == 3_276_800 and row["tokens"] == 409_600
    assert bool(row["stopped_early"]) and row["heldout_loss"] == 1.3
    loaded.path = tmp_path / "nowhere"
    with pytest.raises(ValueError, match="nowhere"):
        training_budget({"m": loaded})


def test_summarize_mcc_shows_model_independent_baselines_once():
    from ldarviz.side_by_side import summarize_mcc

    rows = pd.concat([_mcc_rows("a", [0.1, 0.3]), _mcc_rows("b", [0.2, 0.4]),
                      _mcc_rows("a", [0.5, 0.5]).assign(variant="kmer-4"), _mcc_rows("b", [0.5, 0.5]).assign(variant="kmer-4")])
    table = summarize_mcc(rows)
    assert table[table.variant == "kmer-4"]["model"].tolist() == ["(any)"]
    probe = table[table.variant == "linear-probe"].set_index("model")
    assert probe.loc["a", "mean"] == pytest.approx(0.2) and probe.loc["b", "count"] == 2
    rows.loc[(rows.model == "b") & (rows.variant == "kmer-4"), "value"] = 0.9  # other folds: kept per model
    assert summarize_mcc(rows).query("variant == 'kmer-4'")["model"].tolist() == ["a", "b"]


def test_budget_note_calls_out_an_unfinished_run():
    from ldarviz.side_by_side import budget_note

    full = pd.DataFrame({"model": ["a", "b"], "tokens": [100, 100], "tokens_planned": [100, 100],
                         "stopped_early": [False, False], "steps_done": [4, 4], "steps_planned": [4, 4]})
    assert budget_note(full).startswith("Both models finished the same budget: 100 tokens")
    partial = full.assign(tokens=[100, 50], stopped_early=[False, True], steps_done=[4, 2])
    note = budget_note(partial)
    assert note.startswith("UNEQUAL TRAINING") and "b 50 of 100 planned tokens (2 of 4 steps)" in note


def _acceptance_folder(root, task, sha_run, sha_variant):
    folder = root / task
    folder.mkdir(parents=True)
    rows = [(task, v, f, "mcc", val) for f in range(3)
            for v, val in (("pretrained", 0.5 + f / 10), ("kmer-6", 0.4), ("random-init", 0.1))]
    pd.DataFrame(rows, columns=["task", "variant", "fold", "metric", "value"]).to_csv(folder / "results.csv", index=False)
    variants = [(task, "mergedna", f, "mcc", 0.3 + f / 10) for f in range(3)]
    pd.DataFrame(variants, columns=["task", "variant", "fold", "metric", "value"]).to_csv(folder / "variants.csv", index=False)
    (folder / "run.json").write_text(json.dumps({"checkpoint_sha256": sha_run}))
    (folder / "variants.json").write_text(json.dumps({"variant_checkpoint_sha256": sha_variant}))
    return folder


def test_finetune_runs_pairs_two_checkpoints_on_the_same_folds_and_refuses_other_weights(tmp_path):
    from ldarviz.side_by_side import finetune_runs

    _acceptance_folder(tmp_path, "ecoli", "aaa", "bbb")
    arms = {"ldarnet": ("pretrained", _Loaded("aaa")), "mergedna": ("mergedna", _Loaded("bbb"))}
    table = finetune_runs(tmp_path, ["ecoli"], arms)
    tuned = table[table["variant"] == "fine-tuned"]
    assert sorted(tuned["model"].unique()) == ["ldarnet", "mergedna"]
    assert set(table.loc[table["model"] == "(any)", "variant"]) == {"kmer-6"}  # random-init is not a shared baseline
    paired = compare_mcc(tuned, "ldarnet", "mergedna")
    assert paired.loc[0, "difference"] == pytest.approx(-0.2)
    with pytest.raises(ValueError, match="other weights"):
        finetune_runs(tmp_path, ["ecoli"], {"mergedna": ("mergedna", _Loaded("zzz"))})
    with pytest.raises(ValueError, match="run.json: missing"):
        finetune_runs(tmp_path, ["enhancers"], arms)
