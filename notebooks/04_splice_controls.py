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
# # 04 · Do boundaries mark splice junctions?
#
# Donors (exon → intron, intron starts with GT) and acceptors (intron → exon, intron ends with AG)
# are read from the annotation: one row per unique junction. Around each we average the model's
# boundary probability (offset 0 = the first base after the exon–intron boundary, read on the
# transcript's strand).
#
# The control is what a sceptic would ask for: **decoy junctions** carrying the same GT or AG on
# the same strand at no annotated junction, matched one to one on the GC content and length of the
# surrounding window. A router that simply likes GT/AG, or GC-poor introns, cuts at decoys too; a
# router that learned splicing cuts at real junctions more than at decoys. (The public LDARNet
# notebook compared junctions with benchmark negatives unmatched on GC, which cannot tell these apart.)

# %% tags=["parameters"]
checkpoint = None  # model folder; None: the shipped checkpoints/ldarnet-proxy-multispecies; "untrained": random weights
fasta = "../data/athal_chr1_1000000_1200000.fa"
annotation = "../data/athal_chr1_1000000_1200000.gff3"
out_dir = "../reports/notebooks/04_splice_controls"
seed = 0
device = "cpu"
store = "../reports/boundary_store"  # folder of boundary track stores, keyed by model-weights and sequence hashes + tiling: filled on the first run, read on the next (None: always compute)
max_sites = None  # keep at most this many junctions of each kind (None: all)
flank = 50

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

# %% [markdown]
# ## Junctions, decoys and boundaries
#
# The GT/AG fractions are a sanity check that annotation and sequence agree (canonical introns are
# about 98–99% of plant introns). `mean_gc` per set shows the matching worked.
# Boundaries are read from the track store in `store` when it holds them for this model and FASTA
# (matched by content hashes), computed and stored there otherwise.

# %%
from ldarviz import (canonical_fractions, extract_boundaries, matched_controls, splice_profiles, splice_sites,
                     stratified_sample)

all_sites = splice_sites(annotation, fasta)
sites = all_sites if max_sites is None else stratified_sample(all_sites, "kind", per_group=max_sites, seed=seed)
controls = matched_controls(sites, fasta, seed=seed, exclude=all_sites)
fractions = canonical_fractions(sites)
print(f"{(sites.kind == 'donor').sum()} donors ({fractions['donor']:.1%} GT), "
      f"{(sites.kind == 'acceptor').sum()} acceptors ({fractions['acceptor']:.1%} AG); {len(controls)} decoys")
boundaries = extract_boundaries(model, fasta, store=store)
profiles, stats = splice_profiles(boundaries, sites, controls, flank=flank, seed=seed,
                                  model=loaded)
profiles.to_csv(out / "profiles.csv", index=False)
stats.to_csv(out / "stats.csv", index=False)
stats[["kind", "set", "n_sites", "peak_mean", "flank_mean", "enrichment", "pvalue", "mean_gc"]].round(4)

# %% [markdown]
# ## Figure 1: junction-aligned boundary profiles, true vs matched decoys
#
# **How to read it.** Left donors, right acceptors. x: offset from the junction (positive offsets
# run into the intron for donors and into the exon for acceptors); y: mean boundary probability,
# with 95% bootstrap bands. If the blue (true) curve rises at 0 and the decoy curve does not, the
# model cuts at real junctions beyond what their sequence composition explains.

# %%
from ldarviz.plots import plot_profiles
from ldarviz.provenance import save_figure

fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
for ax, kind in zip(axes, ("donor", "acceptor")):
    plot_profiles(profiles, ax=ax, kind=kind, title=f"{kind}s")
fig.tight_layout()
save_figure(fig, out / "splice_profiles.png", make_provenance(model=loaded,
            inputs=[fasta, annotation], seed=seed, flank=flank))
plt.close(fig)
fig

# %% [markdown]
# ## Verdict and key numbers (`summary.json`)
#
# Computed from the table above by `ldarviz.beats_controls` (unit-tested on hand-made tables): true
# junctions of a kind beat their decoys when their permutation p-value, Bonferroni-adjusted over the
# two kinds, is below 0.05, their enrichment (peak over flank) lies strictly above the decoys', and
# the decoys do not show an enrichment of their own (unadjusted p < 0.05). The verdict line is
# printed from that table.

# %%
from ldarviz import beats_controls, verdict_text

verdicts = beats_controls(stats, by="kind", controls=["control"], alpha=0.05, method="bonferroni")
rows = {}
for v in verdicts.itertuples():
    st = stats[stats.kind == v.kind].set_index("set")
    true = profiles[(profiles.kind == v.kind) & (profiles.set == "true")]
    rows[v.kind] = {"n_sites": v.n_sites, "canonical_fraction": float(fractions[v.kind]),
                    "peak_offset": int(true.loc[true["mean"].idxmax(), "offset"]),
                    "enrichment": v.enrichment, "pvalue": v.pvalue, "pvalue_adjusted": v.pvalue_adjusted,
                    "control_enrichment": float(st.loc["control", "enrichment"]),
                    "control_pvalue": float(st.loc["control", "pvalue"]),
                    "gc_true": float(st.loc["true", "mean_gc"]), "gc_control": float(st.loc["control", "mean_gc"]),
                    "beats_controls": v.beats_controls}
    print(f"{v.kind}s: enrichment {v.enrichment:.2f} (p = {v.pvalue:.3g}, adjusted {v.pvalue_adjusted:.3g}) vs decoys "
          f"{rows[v.kind]['control_enrichment']:.2f} (p = {rows[v.kind]['control_pvalue']:.3g}) -> {v.verdict}")
verdict = verdict_text(verdicts, by="kind", what="junction kind")
print(verdict)
_ = write_summary(out, {**loaded.provenance(),
                        "fasta": fasta, "annotation": annotation, "flank": flank, "sites": rows, "verdict": verdict,
                        "figures": ["splice_profiles.png"]})
