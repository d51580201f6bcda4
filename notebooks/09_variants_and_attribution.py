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
# # 09 · Why is a boundary there, and what moves it?
#
# Profiles (notebooks 03–05) say where boundaries fall *on average*. Here we look at one real
# Arabidopsis locus and ask, base by base:
#
# 1. **Attribution** — which bases make the router cut at its strongest boundaries? Every single-base
#    substitution around a boundary is run through the model's embedding, encoder and router
#    (tangermeme's saturation mutagenesis, no-op edits skipped, edits batched), and the change in the
#    boundary probability *p* is recorded.
# 2. **Variant effects** — does a variant change how the model tokenizes the region? The variants
#    here are **PLANTED** (`data/planted_variants_athal.vcf`, made by `data/make_planted_vcf.py`):
#    there is no second Arabidopsis assembly to take real differences from. They sit on annotated
#    splice-site Gs and TATA-box hits, plus one 1-bp deletion and one 3-bp insertion.
# 3. **Robustness** — how much of a tokenization survives random SNVs at 0.1 %, 1 % and 5 %, for the
#    learned router, fixed stride, k-mers and BPE, on windows the model never trained on.
# 4. **A genome-browser view** of the locus (igv.js in JupyterLab, every track inline, no internet).
#
# All coordinates are 0-based and half-open, on the forward strand of the FASTA record.

# %% tags=["parameters"]
checkpoint = None  # model folder; None: the shipped checkpoints/ldarnet-proxy-multispecies; "untrained": random weights
fasta = "../data/athal_chr1_1000000_1200000.fa"
annotation = "../data/athal_chr1_1000000_1200000.gff3"
vcf = "../data/planted_variants_athal.vcf"  # PLANTED variants (see data/README.md)
heldout_fasta = "../data/scer_chrXVI_100000_140000_heldout.fa"  # yeast chr XVI: held out from every shipped model
out_dir = "../reports/notebooks/09_variants_and_attribution"  # figures, tables, tracks and summary.json
seed = 0
device = "cpu"
jaspar_release = "JASPAR2024"
motifs = ["MA0108", "MA0060", "MA0502"]  # TATA box, CCAAT box (NFYA), GC box
motif_pvalue = 1e-3
n_targets = 3  # strongest boundaries explained
attribution_flank = 12  # substitutions within ±flank of each boundary
attribution_context = 128  # bases the model reads on each side of the edited span
variant_flank = 50  # boundaries compared within ±flank of each variant
variant_context = 128
robustness_windows = 24  # held-out windows
robustness_window = 1024  # bases each
snv_rates = [0.001, 0.01, 0.05]
bpe_vocab_size = 4096
bpe_max_bases = 200_000

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import ldarviz
from ldarnet.genome import open_fasta, sequence_source
from ldarviz.attribution import boundary_attribution, plot_attribution
from ldarviz.motifs import scan_motifs
from ldarviz.provenance import make_provenance, save_figure
from ldarviz.robustness import bpe_starts, learned_starts, plot_robustness, robustness_table, stride_starts
from ldarviz.variants import plot_variant_tracks, spliced_locus, variant_boundary_effects, write_variant_track
from ldarviz.workbench import write_summary

ldarviz.set_reproducible(seed)  # one thread, deterministic kernels, seeded: the same numbers on every run
out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
loaded = ldarviz.load_model(checkpoint, seed=seed, device=device)  # a missing checkpoint stops the notebook here
model = loaded.model
print("model:", loaded.label)

# %% [markdown]
# ## The locus
#
# The first plus-strand transcript of the annotation with two introns, from 100 bp before its first
# intron to 100 bp after its second (`ldarviz.variants.spliced_locus`). Boundary probabilities come
# from `ldarviz.extract_boundaries` (embedding, encoder and router only); motif hits from FIMO.

# %%
record, start, end, transcript = spliced_locus(annotation)
sequence = open_fasta(fasta)[record][start:end].seq.upper()
probs, masks = ldarviz.extract_boundaries(model, {"locus": sequence}, return_mask=True)
probs, starts = probs["locus"].astype(np.float32), np.flatnonzero(masks["locus"])
hits = scan_motifs({record: sequence}, motifs, pvalue=motif_pvalue, release=jaspar_release)
hits = hits.assign(start=hits["start"] + start, end=hits["end"] + start)
print(f"{record}:[{start}, {end}) around the first two introns of {transcript}: {len(sequence)} bp, "
      f"{len(starts)} chunks, {len(hits)} motif hits")

# %% [markdown]
# ## Attribution at the strongest boundaries
#
# The `n_targets` bases with the highest *p* (at least `attribution_flank` bases from the locus
# edges). **How to read the figure:** each panel pair shows the boundary probability (top, the
# explained boundary in red) and, below it, the observed bases scaled by how much they *support* the
# cut: the mean drop in *p* at the boundary when that base is substituted (−mean Δp over the three
# other bases). Letters above the axis help the router cut there; letters below hinder it. Flat
# logos mean no single base matters.

# %%
inner = np.arange(attribution_flank, len(sequence) - attribution_flank)
targets = np.sort(inner[np.argsort(-probs[inner], kind="stable")[:n_targets]])
attributions = [boundary_attribution(model, sequence, [t], flank=attribution_flank, context=attribution_context)
                for t in targets]
fig, axes = plt.subplots(2 * len(targets), 1, figsize=(9, 3.2 * len(targets)), height_ratios=[1, 1.4] * len(targets))
for k, attr in enumerate(attributions):
    plot_attribution(attr, 0, probs=probs, offset=start, ax=(axes[2 * k], axes[2 * k + 1]),
                     title=f"boundary at {start + int(targets[k])} (p = {probs[targets[k]]:.3f})")
fig.tight_layout()
provenance = make_provenance(model=loaded, inputs=[fasta, annotation], seed=seed, region=f"{record}:{start}-{end}",
                             flank=attribution_flank, context=attribution_context)
save_figure(fig, out / "attribution_logos.png", provenance)
plt.close(fig)
fig

# %% [markdown]
# Per boundary: the model calls used, the edits run, and the three bases whose substitution moves
# *p* most (mean and max |Δp| over the substitutions).

# %%
import pandas as pd  # noqa: E402

rows = []
for attr in attributions:
    mean, top = attr.importance("mean")[0], attr.importance("max")[0]
    order = np.argsort(-np.nan_to_num(mean))[:3]
    rows.append({"boundary": start + int(attr.targets[0]), "p": round(float(attr.reference[0]), 4),
                 "edits": attr.n_edits, "model_calls": attr.model_calls,
                 "top_bases (offset:base)": ", ".join(f"{int(attr.offsets[j]):+d}:{sequence[attr.targets[0] + attr.offsets[j]]}"
                                                      for j in order),
                 "max mean|Δp|": round(float(np.nanmax(mean)), 4), "max |Δp|": round(float(np.nanmax(top)), 4)})
attribution_table = pd.DataFrame(rows)
attribution_table.to_csv(out / "attribution.csv", index=False)
attribution_table

# %% [markdown]
# ## Variant effects on tokenization (PLANTED variants)
#
# For each variant: the reference and alternative windows (±`variant_flank` plus
# `variant_context` bases), the alternative *p* aligned back on the reference (indels shift
# coordinates), the boundaries gained and lost within ±`variant_flank`, and the Jaccard index of
# the chunk sets (1 = the same chunks). Ranked by the largest |Δp|. The track of max |Δp| per
# variant is written as bedGraph and bigWig.

# %%
effects = variant_boundary_effects(model, fasta, vcf, flank=variant_flank, context=variant_context)
table = effects.table
table.drop(columns=["key", "line"]).to_csv(out / "variant_effects.csv", index=False)
write_variant_track(effects, out / "variant_max_abs_delta.bedgraph")
write_variant_track(effects, out / "variant_max_abs_delta.bw", fasta=fasta)
print(f"{len(table)} variants in {effects.model_calls} model calls; "
      f"{int(((table.n_gained + table.n_lost) > 0).sum())} change at least one boundary")
table[["id", "pos", "ref", "alt", "kind", "max_abs_delta", "max_delta_pos", "gained", "lost", "chunk_jaccard"]].round(4)

# %%
fig = plot_variant_tracks(effects, top=4, title="aligned Δp around the four strongest PLANTED variants",
                          save_path=out / "variant_tracks.png", provenance=make_provenance(model=loaded, inputs=[fasta, vcf]))
plt.close(fig)
fig

# %% [markdown]
# ## Robustness to random SNVs, on held-out windows
#
# `robustness_windows` windows of `robustness_window` bp tiled along a slice of yeast chromosome XVI
# (`data/scer_chrXVI_100000_140000_heldout.fa`), the record held out from the training of every
# shipped model (`data/README.md`), so no tokenizer here has seen these windows. Each window gets
# a copy with exactly rate × length random SNVs (seeded; the same copies for every tokenizer).
# **Boundary Jaccard**: shared chunk starts over all chunk starts. **Token Jaccard**: the same over
# chunks whose span *and* bases are unchanged. Fixed stride and k-mers keep every boundary by
# construction, so their boundary Jaccard is 1; their token Jaccard shows what a mutation costs
# them. BPE is trained (HF `tokenizers`) on the Arabidopsis slice above; it has seen no yeast, while
# the learned router trained on the other yeast chromosomes. Error bars: 95 %
# bootstrap intervals of the mean over windows.

# %%
lengths, fetch = sequence_source(heldout_fasta)
held_record = next(iter(lengths))
step = max((lengths[held_record] - robustness_window) // max(robustness_windows - 1, 1), 1)
windows = [fetch(held_record, s, s + robustness_window) for s in range(0, step * robustness_windows, step)]
windows = [w for w in windows if len(w) == robustness_window and "N" not in w]
bpe = ldarviz.train_bpe(fasta, vocab_size=bpe_vocab_size, max_bases=bpe_max_bases, seed=seed)
stride = int(model.config.target_ratio[0])
tokenizers = {"learned router": learned_starts(model), f"fixed stride {stride}": stride_starts(stride),
              "6-mers": stride_starts(6), f"BPE {bpe_vocab_size}": bpe_starts(bpe)}
robust = robustness_table(windows, tokenizers, rates=snv_rates, n_boot=1000, seed=seed)
robust.to_csv(out / "robustness.csv", index=False)
robust.round(4)

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
plot_robustness(robust, measure="boundary", ax=axes[0], title="chunk starts kept")
plot_robustness(robust, measure="token", ax=axes[1], title="tokens kept (span and bases)")
fig.tight_layout()
save_figure(fig, out / "robustness.png", make_provenance(model=loaded, inputs=[heldout_fasta, fasta], seed=seed))
plt.close(fig)
fig

# %% [markdown]
# ## Key numbers (`summary.json`)

# %%
learned = robust[robust.tokenizer == "learned router"].set_index("rate")
bpe_rows = robust[robust.tokenizer == f"BPE {bpe_vocab_size}"].set_index("rate")
summary = {**loaded.provenance(), "fasta": fasta, "annotation": annotation, "vcf": vcf, "heldout_fasta": heldout_fasta,
           "locus": f"{record}:{start}-{end}", "transcript": transcript,
           "attribution": attribution_table.to_dict(orient="records"),
           "variants": len(table), "variants_changing_boundaries": int(((table.n_gained + table.n_lost) > 0).sum()),
           "variant_model_calls": effects.model_calls,
           "top_variant": table.iloc[0][["id", "max_abs_delta", "chunk_jaccard"]].to_dict(),
           "robustness_windows": len(windows),
           "learned_boundary_jaccard": {str(r): round(float(v), 4) for r, v in learned["boundary_jaccard"].items()},
           "bpe_boundary_jaccard": {str(r): round(float(v), 4) for r, v in bpe_rows["boundary_jaccard"].items()},
           "figures": ["attribution_logos.png", "variant_tracks.png", "robustness.png"]}
write_summary(out, summary)
print(f"learned router keeps {learned.loc[snv_rates[1], 'boundary_jaccard']:.3f} of its chunk starts (Jaccard) at "
      f"{snv_rates[1]:.0%} SNVs; BPE {bpe_rows.loc[snv_rates[1], 'boundary_jaccard']:.3f}")

# %% [markdown]
# ## The locus in a genome browser
#
# igv.js inside JupyterLab (igv-notebook, with the igv.js copy bundled in its wheel), every track
# passed inline: the boundary probability, the chunks (p > 0.5), the annotation, the motif hits
# and the PLANTED variants with their max |Δp|. Drag to pan, scroll to zoom; nothing is fetched from
# the internet. (Its outputs carry igv-notebook's random element ids, so nbval does not compare them.)

# %% tags=["nbval-ignore-output"]
in_locus = table[(table.pos >= start) & (table.pos < end)]
browser = ldarviz.browse(fasta, (record, start, end), probs=probs, chunk_starts=starts, annotation=annotation, hits=hits,
                         variants=in_locus)
