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
# # 01 · Quickstart: where does LDARNet put its token boundaries?
#
# LDARNet reads DNA one base at a time and **learns where to cut it into chunks** (its tokens): a
# router gives every base a probability *p* that a new chunk starts there, and the model cuts where
# *p* > 0.5. This notebook loads the shipped pretrained checkpoint, reads a real Arabidopsis
# promoter from `data/`, draws the boundary probabilities along it with the promoter motifs found
# there, and opens the interactive boundary inspector on the same region.
#
# All coordinates are 0-based and half-open, on the forward strand of the FASTA record.

# %% tags=["parameters"]
checkpoint = None  # model folder; None: the shipped checkpoints/ldarnet-proxy-multispecies; "untrained": random weights
fasta = "../data/athal_chr1_1000000_1200000.fa"
annotation = "../data/athal_chr1_1000000_1200000.gff3"
out_dir = "../reports/notebooks/01_quickstart"  # figures and summary.json go here
seed = 0  # seeds the random weights of checkpoint="untrained"
device = "cpu"
jaspar_release = "JASPAR2024"
motifs = ["MA0108", "MA0060", "MA0502", "MA0079", "Kozak"]  # TATA, CCAAT (NFYA, NFYB), GC box, Kozak
motif_pvalue = 1e-3  # FIMO p-value cut-off for the motif overlay

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

import ldarviz
from ldarnet.genome import first_promoter, open_fasta
from ldarviz.inspector import chunk_intervals, motif_cuts, plot_boundary_track
from ldarviz.inspector_widget import boundary_inspector, boundary_probabilities
from ldarviz.motifs import scan_motifs
from ldarviz.provenance import make_provenance
from ldarviz.workbench import write_summary

ldarviz.set_reproducible(seed)  # one thread, deterministic kernels, seeded: the same numbers on every run
out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
loaded = ldarviz.load_model(checkpoint, seed=seed, device=device)  # a missing checkpoint stops the notebook here
model = loaded.model
print("model:", loaded.label)
print(f"{model.num_parameters():,} parameters; target compression ratio {model.config.target_ratio[0]:g}")

# %% [markdown]
# ## A real promoter
#
# The promoter of the first plus-strand transcript in the annotation: 250 bp upstream of its
# transcription start site (TSS) to 50 bp downstream. Boundary probabilities come from the
# model's embedding, encoder and router only (`ldarviz.extract_boundaries`); motif hits come from
# FIMO (memelite) with promoter motifs (TATA box, CCAAT box, GC box, Kozak) from the pinned JASPAR
# release, on both strands. (The initiator's consensus `YYANWYY` is too degenerate to reach
# p < 10⁻³ in 7 bp, so it is left out here.)

# %%
record, start, end, transcript = first_promoter(annotation)
tss = start + 250
sequence = open_fasta(fasta)[record][start:end].seq
probs = boundary_probabilities(model, sequence)
chunks = chunk_intervals(probs, 0.5)
hits = scan_motifs({record: sequence}, motifs, pvalue=motif_pvalue, release=jaspar_release)
hits = hits.assign(start=hits["start"] + start, end=hits["end"] + start)

print(f"{record}:{start}-{end}, promoter of {transcript} (TSS at {tss}, + strand), {len(sequence)} bp")
print(f"{len(chunks)} chunks, mean length {len(sequence) / len(chunks):.2f} bp")
print("chunk starts:", (chunks[:, 0] + start).tolist())
hits[["motif_id", "start", "end", "strand", "score", "pvalue"]].round({"score": 2}).assign(
    pvalue=hits["pvalue"].map("{:.1e}".format))

# %% [markdown]
# ## Figure 1: boundary probability along the promoter
#
# **How to read it.** The blue area is the router's probability *p* that a chunk starts at each
# base (x axis: position on the record). Red ticks mark the bases where a chunk actually starts
# (*p* above the dashed 0.5 line, plus the first base, which always starts one); the distance
# between two ticks is one token. Coloured bars under the track are motif hits, and the black line
# is the TSS. A model that has learned promoter grammar tends to cut at the edges of motifs rather
# than inside them; an untrained model cuts about as often everywhere.

# %%
provenance = make_provenance(model=loaded, inputs=[fasta, annotation], seed=seed,
                             jaspar_release=jaspar_release, region=f"{record}:{start}-{end}", threshold=0.5)
fig = plot_boundary_track(probs, threshold=0.5, hits=hits, offset=start, marks={"TSS": tss},
                          title=f"{transcript} promoter", save_path=out / "boundary_track.png", provenance=provenance)
plt.close(fig)
fig

# %% [markdown]
# ## Key numbers (`summary.json`)
#
# `n_chunks` and `mean_chunk_length` give the compression on this promoter (the model was trained
# towards one chunk per `target_ratio` bases). `starts_inside_motifs` counts chunk starts that fall
# strictly inside a motif hit (a cut through a motif), against `expected_inside_motifs`, the count
# if the same number of starts were spread uniformly. `nearest_start_to_tss` is the signed distance
# (bp) from the TSS to the closest chunk start.

# %%
summary = {
    **loaded.provenance(),
    "region": f"{record}:{start}-{end}",
    "transcript": transcript,
    **motif_cuts(probs, hits, offset=start, threshold=0.5, tss=tss).rounded(4),
    "jaspar_release": jaspar_release,
    "figures": ["boundary_track.png"],
}
write_summary(out, summary)
summary

# %% [markdown]
# ## The boundary inspector
#
# The same region, interactive. Move the **threshold** slider to see how the chunks change (a chunk
# starts wherever *p* exceeds it); pick a **chunk** to see its bases and coordinates; tick
# **reverse complement** to run the model on the other strand (the text then reads 5'→3' on the
# minus strand while coordinates stay on the forward strand); change **record / start / length**
# or paste any sequence to inspect something else. Underlined bases are motif hits; the coloured
# bars under the track show the same hits. It needs a live kernel: in a static rendering of this
# notebook the widget shows its last state at most.

# %%
inspector = boundary_inspector(model, fasta, record=record, start=start, length=end - start,
                               motifs=motifs, pvalue=motif_pvalue, release=jaspar_release)
inspector
