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
# # 02 · Pretraining: loss and compression curves
#
# LDARNet is pretrained with masked-language modelling (predict 15% of bases from the rest) plus a
# **ratio loss** that pulls the router towards one boundary every `target_ratio` bases. This
# notebook first reads the training log of the shipped checkpoint (`metrics.jsonl`, one line per
# optimiser step), then runs a short pretraining of the tiny test model on the bundled real
# sequences so you can watch the same quantities live.

# %% tags=["parameters"]
checkpoint = None  # model folder (its metrics.jsonl, if any, is drawn); None: the shipped checkpoint
fasta = ["../data/athal_chr1_1000000_1200000.fa", "../data/scer_chrI.fa", "../data/celegans_chrX_5000000_5200000.fa"]
out_dir = "../reports/notebooks/02_pretraining"
seed = 0
device = "cpu"
steps = 20  # optimiser steps of the live run
seq_len = 256
batch_size = 4

# %%
from pathlib import Path

import matplotlib.pyplot as plt

import ldarviz
from ldarviz.plots import last_step, plot_loss, plot_training_run, read_metrics
from ldarviz.provenance import make_provenance, save_figure
from ldarviz.workbench import display_path, write_summary

ldarviz.set_reproducible(seed)  # one thread, deterministic kernels, seeded: the same numbers on every run
out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
loaded = ldarviz.load_model(checkpoint, seed=seed, device=device)  # a missing checkpoint stops the notebook here
print("model:", loaded.label)
log = loaded.path / "metrics.jsonl" if loaded.trained else None
has_log = log is not None and log.is_file()
print(f"training log: {display_path(log)}" if has_log else "training log: none beside the weights (no curves to show)")

# %% [markdown]
# ## Figure 1: the shipped run
#
# **How to read it.** Left: total loss and its MLM part per optimiser step (natural-log units; 1.386 =
# log 4 is a model that guesses bases uniformly, slightly less is what base composition alone gives).
# Right: realised compression (input length / number of chunks) against the target (dashed). The
# run log of an earlier attempt with the paper's ratio-loss weight, where the router collapsed to
# one chunk per window, is drawn too when present: the ratio loss must be strong enough to hold
# compression at the target in a short, small-batch run.

# %%
summary = loaded.provenance()
if has_log:
    fig = plot_training_run(loaded.path, save_path=out / "shipped_run.png",
                            provenance=make_provenance(model=loaded, inputs=[log], seed=seed))
    plt.close(fig)
    summary["shipped"] = last_step(log)
    display(fig)
summary

# %% [markdown]
# ## A short live run
#
# `ldarnet.training.pretrain` is the function behind `ldarnet pretrain`: random windows from the
# FASTA files (windows with too many N skipped, reverse-complemented half the time), MLM masking,
# AdamW with a warmup-stable-decay schedule, atomic checkpoints and a `metrics.jsonl` log. Here it
# trains `ldarnet-tiny` for a few steps; the numbers are a smoke test, not a trained model.

# %%
import shutil

from ldarnet.training import pretrain

shutil.rmtree(out / "live_run", ignore_errors=True)  # a fresh live run each time (pretrain refuses to overwrite one)
result = pretrain(config="ldarnet-tiny", fasta=fasta, out=out / "live_run", steps=steps, batch_size=batch_size,
                  seq_len=seq_len, checkpoint_every=steps, seed=seed, device=device, progress=False)
live = read_metrics(out / "live_run" / "metrics.jsonl")
fig = plot_loss(live, columns=("mlm_loss",), title="ldarnet-tiny, live run")
save_figure(fig, out / "live_run.png", make_provenance(inputs=fasta, seed=seed, steps=steps))
plt.close(fig)
summary["live_run"] = {"steps": int(live["step"].iloc[-1]), "first_mlm_loss": float(live["mlm_loss"].iloc[0]),
                       "last_mlm_loss": float(live["mlm_loss"].iloc[-1])}
summary["figures"] = ["shipped_run.png", "live_run.png"] if has_log else ["live_run.png"]
_ = write_summary(out, summary)
fig
