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
# # 05 · How long are the learned tokens, and does it depend on where they are?
#
# A fixed k-mer tokenizer gives every token the same length everywhere; BPE gives frequent strings
# long tokens. A learned tokenizer could do something else: short tokens where information is dense
# (coding sequence, splice sites), long tokens in repeats or intergenic DNA. This notebook paints
# every base of a real Arabidopsis sequence with one genomic context from the annotation (splice
# windows > CDS > 5′UTR > 3′UTR > intron > promoter (1 kb upstream of a TSS) > intergenic), cuts it
# with the model's boundaries, with 6-mers and with a BPE vocabulary trained (Hugging Face
# `tokenizers`) on the same sequence, and compares token-length distributions across contexts, as
# MergeDNA's Fig. 2 does. Tokens cut by a context's edges are dropped for every tokenizer alike.

# %% tags=["parameters"]
checkpoint = None  # model folder; None: the shipped checkpoints/ldarnet-proxy-multispecies; "untrained": random weights
fasta = "../data/athal_chr1_1000000_1200000.fa"
annotation = "../data/athal_chr1_1000000_1200000.gff3"
out_dir = "../reports/notebooks/05_token_lengths"
seed = 0
device = "cpu"
store = "../reports/boundary_store"  # folder of boundary track stores, keyed by model-weights and sequence hashes + tiling: filled on the first run, read on the next (None: always compute)
bpe_vocab_size = 4096

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import ldarviz
from ldarviz.provenance import make_provenance
from ldarviz.workbench import write_summary

ldarviz.set_reproducible(seed)  # one thread, deterministic kernels, seeded: the same numbers on every run
out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
loaded = ldarviz.load_model(checkpoint, seed=seed, device=device)  # a missing checkpoint stops the notebook here
model = loaded.model
print("model:", loaded.label)

# %%
from ldarnet.genome import read_annotation
from ldarviz import compare_contexts, context_regions, extract_boundaries, token_length_distributions

regions = context_regions(read_annotation(annotation), fasta)
boundaries = extract_boundaries(model, fasta, store=store)
table = token_length_distributions(boundaries, regions, fasta, kmers=(6,), bpe_vocab_size=bpe_vocab_size, seed=seed,
                                   model=loaded)
table.to_csv(out / "token_lengths.csv", index=False)
regions.assign(bp=regions.end - regions.start).groupby("context")["bp"].sum().rename("bases").to_frame()

# %% [markdown]
# ## Figure 1: token-length distributions per context
#
# **How to read it.** One panel per tokenizer; one line per context; x: token length in bases, y:
# fraction of that context's tokens. The 6-mer panel is a single spike by construction (the
# reference). If the learned panel's lines separate, the model tokenizes contexts differently.

# %%
from ldarviz.plots import plot_token_lengths
from ldarviz.provenance import save_figure

tokenizers = ["learned", f"bpe{bpe_vocab_size}", "kmer6"]
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
for ax, name in zip(axes, tokenizers):
    plot_token_lengths(table, name, ax=ax, max_length=20)
    ax.set_title(name)
fig.tight_layout()
save_figure(fig, out / "token_lengths.png", make_provenance(model=loaded,
            inputs=[fasta, annotation], seed=seed, bpe_vocab_size=bpe_vocab_size))
plt.close(fig)
fig

# %% [markdown]
# ## Do the distributions differ between contexts? (`summary.json`)
#
# A chi-square test on the context × length table with Cramér's V as effect size (with this many
# tokens any difference is significant, so read V: about 0.1 is small, 0.3 medium), and a
# Kruskal–Wallis test on the lengths. Median token length per context in the last columns.

# %%
tests = compare_contexts(table)
tests.to_csv(out / "context_tests.csv", index=False)
learned = tests.set_index("tokenizer").loc["learned"]
mean_len = (table[table.tokenizer == "learned"].eval("length * count").sum()
            / table[table.tokenizer == "learned"]["count"].sum())
_ = write_summary(out, {**loaded.provenance(),
                        "fasta": fasta, "annotation": annotation, "mean_learned_token_length": float(mean_len),
                        "tests": tests.set_index("tokenizer").round(6).to_dict(orient="index"),
                        "figures": ["token_lengths.png"]})
print(f"learned tokens: mean length {mean_len:.2f} bp; Cramér's V between contexts {learned.cramers_v:.3f} "
      f"(chi-square p = {learned.chi2_pvalue:.3g})")
tests.round(4)
