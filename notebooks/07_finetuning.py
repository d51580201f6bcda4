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
# # 07 · Fine-tuning: does pretraining help?
#
# The E. coli σ70 promoter benchmark (81 bp, promoter vs non-promoter) is split with stratified
# k-fold cross-validation. The same classifier (mean-pooled LDARNet states → linear layer) is
# fine-tuned from the shipped pretrained weights and from random weights of the same
# architecture, with early stopping on a validation split; the test folds are never seen in
# training. This notebook runs a small version (a subset, two folds, two epochs):
# `bench/bench_finetune.py` and `ldarnet finetune` run the full protocol.

# %% tags=["parameters"]
checkpoint = None  # model folder; None: the shipped checkpoints/ldarnet-proxy-multispecies; "untrained": random weights only
csv = "../data/ecoli_sigma70_promoters.csv"
out_dir = "../reports/notebooks/07_finetuning"
seed = 0
device = "cpu"
max_sites = 600  # examples drawn (stratified) from the benchmark
folds = 5
max_folds = 2  # folds actually run
max_epochs = 2  # a fixed budget (not a time limit), so a re-run gives the same numbers

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

import ldarviz
from ldarnet.finetune import classifier_factory, cross_validate, load_csv
from ldarviz.plots import plot_ablation, summarize_results
from ldarviz.provenance import make_provenance, save_figure
from ldarviz.workbench import display_path, write_summary

ldarviz.set_reproducible(seed)  # one thread, deterministic kernels, seeded: the same numbers on every run
out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
loaded = ldarviz.load_model(checkpoint, seed=seed, device=device)  # a missing checkpoint stops the notebook here
print("pretrained weights:", loaded.label)
table = load_csv(csv, sequence_column="seqs", label_column="labels")
table = ldarviz.stratified_sample(table, "label", total=max_sites, seed=seed)
print(f"{len(table)} examples ({table.label.value_counts().to_dict()}) from {display_path(csv)}")

# %% tags=["nbval-atol=0.03"]
# the same architecture from random weights; with checkpoint="untrained" that is the only variant
variants = {"random-init": dict(checkpoint=loaded.path, config=None if loaded.trained else "ldarnet-proxy", random_init=True)}
if loaded.trained:
    variants = {"pretrained": dict(checkpoint=loaded.path)} | variants
tables = []
for name, spec in variants.items():
    make = classifier_factory(num_labels=2, device=device, **spec)
    tables.append(cross_validate(make, table, task="ecoli_promoters", variant=name, folds=folds, max_folds=max_folds,
                                 max_epochs=max_epochs, lr=1e-3, batch_size=32, patience=2, seed=seed))
results = pd.concat(tables, ignore_index=True)
results.to_csv(out / "results.csv", index=False)
summarize_results(results, "mcc").round(3)

# %% [markdown]
# ## Figure 1: test MCC per variant
#
# **How to read it.** Matthews correlation on the held-out folds (0 = chance, 1 = perfect), mean ±
# SD over the folds run. With so little training the absolute values are low; the comparison between
# the two bars, trained identically, is the point.

# %%
fig, ax = plt.subplots(figsize=(4.5, 3.4))
plot_ablation(results, "mcc", ax=ax)
fig.tight_layout()
save_figure(fig, out / "finetune_mcc.png", make_provenance(model=loaded, inputs=[csv],
            seed=seed, folds=folds, max_folds=max_folds, max_epochs=max_epochs))
plt.close(fig)
means = summarize_results(results, "mcc").set_index("variant")
_ = write_summary(out, {**loaded.provenance(), "csv": display_path(csv),
                        "n_examples": len(table), "folds": folds, "folds_run": max_folds,
                        "mcc_mean": means["mean"].round(4).to_dict(), "mcc_sd": means["sd"].round(4).to_dict(),
                        "figures": ["finetune_mcc.png"]})
fig
