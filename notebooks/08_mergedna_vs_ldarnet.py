# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · MergeDNA beside LDARNet: two learned tokenizers under the same analyses
#
# LDARNet's router and MergeDNA's local-window token merging both decide where DNA tokens start.
# Both models report those starts through the same `BoundaryOutput`, so every analysis below runs
# on either model unchanged: each model is loaded with `ldarviz.load_model` (which returns whichever
# kind a checkpoint folder holds) and goes through the same functions.
#
# 1. **Training budget**: what each checkpoint was trained on (read from its run records). A
#    comparison is only fair when both saw the same corpus and tokens: check this table first.
# 2. **Token lengths per genomic context** (MergeDNA's Fig. 2) with both models' boundaries, BPE
#    (Hugging Face `tokenizers`, trained on the same sequence) and fixed 6-mers.
# 3. **Splice junctions** against GC-matched GT/AG decoys, and **promoter motifs** against
#    GC-matched positions and column-shuffled PWMs (the controls of notebooks 04 and 03).
# 4. **Fine-tuning MCC** on the two bundled tasks: both models fully fine-tuned at the default recipe,
#    and a frozen-feature linear probe, each on the same folds for both models (read from cached runs;
#    protocols below).
# 5. **Throughput** in bp/s, both models measured in one benchmark run.
#
# Boundaries: both models' token-start *decisions* (`boundary_mask`) are used everywhere, so the
# profiles show the rate at which a token starts at each offset. (LDARNet's `boundary_prob` is a
# router probability; MergeDNA's is a merge score, not a probability, so the decisions are the
# common currency.)

# %% tags=["parameters"]
# LDARNet: the alpha = 1 proxy of MergeDNA's corpus and token budget (archived when its alpha = 0.03 successor,
# trained on far more tokens, was shipped; comparing with that one would not be fair)
checkpoints = {"ldarnet": "../checkpoints/ldarnet-proxy-multispecies/history/alpha1-400steps",
               "mergedna": "../checkpoints/mergedna-proxy"}
fasta = "../data/athal_chr1_1000000_1200000.fa"
annotation = "../data/athal_chr1_1000000_1200000.gff3"
out_dir = "../reports/notebooks/08_mergedna_vs_ldarnet"
seed = 0
device = "cpu"
store = "../results/mergedna-proxy/boundary_store"  # boundary track stores keyed by weights + sequence hashes (filled by results/mergedna-proxy/side_by_side.py)
cached = "../results/mergedna-proxy/side_by_side"  # linear-probe results per model, tied to the checkpoint hash
finetuned = "../results/finetune-defaults/acceptance10"  # full fine-tuning runs (results/finetune-defaults/acceptance.py), hash-checked
bench = "../bench/results/mergedna_side_by_side.json"  # bench/bench_mergedna.py, both models in one run
bpe_vocab_size = 4096
jaspar_release = "JASPAR2024"
motifs = ["MA0108", "MA0060"]  # TATA (TBP), CCAAT (NFYA)
pvalue = 1e-3
flank = 50  # splice profile: bases either side of the junction
radius = 100  # motif profile: neighbourhood of each hit
n_perm = 200

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import ldarviz
from ldarviz.provenance import make_provenance, save_figure
from ldarviz.side_by_side import budget_note, training_budget
from ldarviz.workbench import write_summary

ldarviz.set_reproducible(seed)  # one thread, deterministic kernels, seeded: the same numbers on every run
out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
models = {label: ldarviz.load_model(path, seed=seed, device=device) for label, path in checkpoints.items()}
for label, loaded in models.items():
    print(f"{label}: {type(loaded.model).__name__}, {loaded.label}")
budget = training_budget(models)
print(budget_note(budget))
budget

# %% [markdown]
# ## 1 · Token lengths per genomic context
#
# Every base of the annotated Arabidopsis slice gets one context (splice windows > CDS > 5′UTR >
# 3′UTR > intron > promoter > intergenic, as in notebook 05); tokens cut by a context's edges are
# dropped for every tokenizer alike. One panel per tokenizer, one line per context: x is the token
# length in bases, y the fraction of that context's tokens.

# %%
from ldarnet.genome import read_annotation
from ldarviz import compare_contexts, context_regions, extract_boundaries
from ldarviz.plots import plot_token_lengths
from ldarviz.side_by_side import length_summary, model_length_table

masks = {label: extract_boundaries(m.model, fasta, store=store, return_mask=True)[1] for label, m in models.items()}
regions = context_regions(read_annotation(annotation), fasta)
lengths = model_length_table(masks, regions, fasta, kmers=(6,), bpe_vocab_size=bpe_vocab_size, seed=seed)
lengths.to_csv(out / "token_lengths.csv", index=False)
tokenizers = list(pd.unique(lengths["tokenizer"]))
fig, axes = plt.subplots(1, len(tokenizers), figsize=(4.2 * len(tokenizers), 3.6), sharey=True)
for ax, name in zip(axes, tokenizers):
    plot_token_lengths(lengths, name, ax=ax, max_length=20)
    ax.set_title(name)
fig.tight_layout()
save_figure(fig, out / "token_lengths.png", make_provenance(inputs=[fasta, annotation], seed=seed,
            bpe_vocab_size=bpe_vocab_size, models={k: m.provenance() for k, m in models.items()}))
plt.close(fig)
fig

# %% [markdown]
# Mean token length (bases) per context and tokenizer, then the test of whether a tokenizer's
# lengths depend on the context (chi-square on the context × length table, Cramér's V as the
# effect size: with this many tokens any difference is significant, so read V; about 0.1 is small).

# %%
length_summary(lengths).round(2)

# %%
context_tests = compare_contexts(lengths)
context_tests.to_csv(out / "context_tests.csv", index=False)
context_tests[["tokenizer", "n_tokens", "cramers_v", "chi2_pvalue", "kruskal_pvalue"]].round(4)

# %% [markdown]
# ## 2 · Splice junctions against matched decoys
#
# Token-start rate around annotated donors and acceptors (true) and around GC-matched GT/AG decoys
# that are no annotated junction (control). A model "sees" junctions only if its true-site
# enrichment is significant and beyond the decoys' (Bonferroni over models × junction kinds).

# %%
from ldarviz import beats_controls, matched_controls, splice_profiles, splice_sites, verdict_text
from ldarviz.plots import plot_profiles
from ldarviz.side_by_side import stack_by_model

sites = splice_sites(annotation, fasta)
decoys = matched_controls(sites, fasta, seed=seed, exclude=sites)
splice = {label: splice_profiles({k: v.astype(np.float32) for k, v in masks[label].items()}, sites, decoys, flank=flank,
                                 seed=seed, model=models[label]) for label in models}
splice_prof = stack_by_model({k: v[0] for k, v in splice.items()})
splice_stats = stack_by_model({k: v[1] for k, v in splice.items()})
splice_stats.to_csv(out / "splice_stats.csv", index=False)
splice_verdicts = beats_controls(splice_stats, by=["model", "kind"], controls=["control"], alpha=0.05, method="bonferroni")
fig, axes = plt.subplots(len(models), 2, figsize=(9, 3.1 * len(models)), sharey=True, squeeze=False)
for row, label in zip(axes, models):
    for ax, kind in zip(row, ("donor", "acceptor")):
        plot_profiles(splice_prof, ax=ax, model=label, kind=kind, title=f"{label}: {kind}s")
fig.tight_layout()
save_figure(fig, out / "splice_profiles.png", make_provenance(inputs=[fasta, annotation], seed=seed, flank=flank))
plt.close(fig)
splice_verdict = verdict_text(splice_verdicts, by=["model", "kind"], what="model x junction kind")
print(splice_verdict)
fig

# %%
splice_stats[["model", "kind", "set", "n_sites", "enrichment", "pvalue", "mean_gc"]].round(4)

# %% [markdown]
# ## 3 · Promoter motifs against GC-matched positions and shuffled PWMs
#
# FIMO hits (memelite) of TATA and CCAAT motifs from 300 bp upstream to 50 bp downstream of annotated TSSs; statistics as
# in notebook 03 (`start`: a token starts at the motif's first base; `inside`: starts inside the
# motif; `flanks`: starts in the 10 bases either side). Controls that need no extra model calls:
# GC-matched random positions and hits of the column-shuffled PWM; notebook 03 adds the planted
# shuffle (a model call per site), left out here to keep the run short.

# %%
from ldarviz import load_motifs, motif_landmarks, promoter_windows, scan_motifs

record_lengths = {name: len(v) for name, v in masks[tokenizers[0]].items()}
promoters = promoter_windows(annotation, upstream=300, downstream=50, lengths=record_lengths)
hits = scan_motifs(fasta, motifs, pvalue=pvalue, release=jaspar_release)
pwms = load_motifs(motifs, release=jaspar_release)
motif = {label: motif_landmarks({k: v.astype(np.float32) for k, v in masks[label].items()}, hits, fasta, regions=promoters,
                                controls=("gc_matched", "shuffled_pwm"), motifs=pwms, radius=radius, n_perm=n_perm,
                                seed=seed, model=models[label]) for label in models}
motif_stats = stack_by_model({k: v[1] for k, v in motif.items()})
motif_stats.to_csv(out / "motif_stats.csv", index=False)
motif_verdicts = beats_controls(motif_stats, by=["model", "motif_id", "statistic"], controls=["gc_matched", "shuffled_pwm"],
                                alpha=0.05, method="bonferroni")
motif_verdict = verdict_text(motif_verdicts, by=["model", "motif_id", "statistic"], what="model x motif x statistic")
print(motif_verdict)
motif_verdicts[["model", "motif_id", "statistic", "n_sites", "enrichment", "pvalue_adjusted", "verdict"]].round(4)

# %% [markdown]
# ## 4 · Fine-tuning MCC on the bundled tasks
#
# **Full fine-tuning.** Both checkpoints fine-tuned end to end at the project's default recipe
# (`ldarnet finetune`'s defaults: lr 3e-4 with warm-up and cosine decay, head lr ×10, batch 16, at
# most 10 epochs with patience 3, mean pooling of the pretrained encoder output) on a stratified
# subsample of 100 sequences per task and 5 stratified folds, the SAME folds and subsample for both
# models and for the k-mer baselines beside them. `results/finetune-defaults/acceptance.py` ran them
# (LDARNet as its `pretrained` arm, MergeDNA through `--variant mergedna=checkpoints/mergedna-proxy`);
# each run records the checkpoint hash, which is checked against the loaded models here. A test fold
# holds 20 sequences, so differences under ~0.1-0.2 MCC are within the fold-to-fold spread.

# %%
from ldarviz.side_by_side import compare_mcc, finetune_runs, load_results, summarize_mcc

labels = list(models)
tuned = finetune_runs(finetuned, ["ecoli", "enhancers"],
                      {"ldarnet": ("pretrained", models["ldarnet"]), "mergedna": ("mergedna", models["mergedna"])})
tuned.to_csv(out / "finetune.csv", index=False)
summarize_mcc(tuned).round(3)

# %%
finetune_comparison = compare_mcc(tuned[tuned.variant == "fine-tuned"], labels[0], labels[1])
finetune_comparison.round(4)

# %% [markdown]
# **Frozen-feature linear probe.** A larger subsample (`results/mergedna-proxy/side_by_side.py`,
# cached beside the checkpoint hash): 5 stratified folds, the same for both models; the pooled
# hidden states the fine-tuning head sees → logistic regression, regularisation picked on each
# fold's validation split, with the k-mer logistic baselines on those folds. The paired comparison
# tests the per-fold MCC difference (two-sided paired t-test).

# %%
probe_records = {label: load_results(Path(cached) / label, m) for label, m in models.items()}
probe = stack_by_model({label: tables["probe"] for label, (tables, _) in probe_records.items()})
probe.to_csv(out / "probe.csv", index=False)
mcc = summarize_mcc(probe).round(3)  # the k-mer baselines do not depend on the model: shown once, model "(any)"
first_record = next(iter(probe_records.values()))[1]
print(f"{first_record['per_task']} examples per task, {first_record['folds']} folds; command: {first_record['command']}")
mcc

# %%
mcc_comparison = compare_mcc(probe[probe.variant == "linear-probe"], labels[0], labels[1])
mcc_comparison.round(4)

# %% [markdown]
# ## 5 · Throughput (bp/s), both models in one benchmark run
#
# `bench/bench_mergedna.py` (random weights: speed does not depend on them) times one fwd+bwd per
# call, interleaved model by model: LDARNet's MLM step, MergeDNA's single autoencoder pass and its
# three-pass pretraining objective. Wall bp/s depends on the machine's load (recorded below), CPU
# bp/s (process time) much less.

# %%
from ldarviz.side_by_side import throughput_table

bench_record = json.loads(Path(bench).read_text())
speed = throughput_table(bench_record)
print(f"command: {speed.attrs['command']}; load average before {np.round(speed.attrs['load_average_before'], 1).tolist()}, "
      f"after {np.round(speed.attrs['load_average_after'], 1).tolist()}")
speed.round(3)

# %% [markdown]
# ## Summary (`summary.json`)

# %%
_ = write_summary(out, {"models": {k: m.provenance() for k, m in models.items()},
                        "training_budget": budget.to_dict(orient="records"), "budget_note": budget_note(budget),
                        "mean_token_length": length_summary(lengths).loc["all"].round(4).to_dict(),
                        "cramers_v": context_tests.set_index("tokenizer")["cramers_v"].round(4).to_dict(),
                        "splice_verdict": splice_verdict, "motif_verdict": motif_verdict,
                        "mcc_finetuned": finetune_comparison.round(4).to_dict(orient="records"),
                        "mcc": mcc_comparison.round(4).to_dict(orient="records"),
                        "throughput": speed.round(3).to_dict(orient="records"),
                        "figures": ["token_lengths.png", "splice_profiles.png"]})
print(f"{budget_note(budget)}\nsplice: {splice_verdict}\nmotifs: {motif_verdict}")
