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
# # 06 · Ablations: learned vs fixed vs no boundaries
#
# `ldarnet ablate` pretrains variants that differ from one base configuration in exactly one
# factor (here the router: learned boundaries, a boundary every N bases, or no compression at
# all), fine-tunes each on the same tasks with the same cross-validation, and records the
# parameter count and measured throughput of each so that "matched compute" is shown rather than
# assumed. This notebook reads the committed run in `results/` (its scale is in its folder name:
# a CPU-sized run, far smaller than the paper's 20,000 steps) and plots it.

# %% tags=["parameters"]
results_dir = "../results/ablation-proxy-60steps"  # an `ldarnet ablate --out` folder
out_dir = "../reports/notebooks/06_ablations"
seed = 0
metric = "mcc"

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from ldarviz.plots import plot_ablation, plot_compression_over_training, read_results, summarize_results
from ldarviz.provenance import make_provenance, save_figure
from ldarviz.workbench import display_path, write_summary

out = Path(out_dir)
out.mkdir(parents=True, exist_ok=True)
results_dir = Path(results_dir)
results = read_results(results_dir / "results.csv")
compute = pd.read_csv(results_dir / "compute.csv")
compute[["variant", "parameters", "tokens", "bp_per_s_median", "compression_realised", "heldout_mlm_loss"]]

# %% [markdown]
# ## Figure 1: downstream metric per task and variant
#
# **How to read it.** Bars are the mean over cross-validation folds, error bars one standard
# deviation. Differences smaller than the error bars are not differences. The table above gives
# the compute side: parameters, pretraining throughput (bases per second) and realised compression.

# %%
fig, ax = plt.subplots(figsize=(7, 3.6))
plot_ablation(results, metric, ax=ax)
fig.tight_layout()
save_figure(fig, out / "ablation.png", make_provenance(inputs=[results_dir / "results.csv"], seed=seed, metric=metric))
plt.close(fig)
fig

# %% [markdown]
# ## Figure 2: realised compression during pretraining
#
# **How to read it.** The learned router's compression (input length / chunks) per step, next to
# the fixed router's, which is the target by construction, and no-compression (1).

# %%
logs = {p.parent.parent.name: p for p in sorted(results_dir.glob("variants/*/pretrain/metrics.jsonl"))}
fig, ax = plt.subplots(figsize=(5.5, 3.4))
plot_compression_over_training(logs, ax=ax)
fig.tight_layout()
save_figure(fig, out / "compression.png", make_provenance(inputs=list(logs.values()), seed=seed))
plt.close(fig)
fig

# %%
table = summarize_results(results, metric)
speed = compute.set_index("variant")["bp_per_s_median"]
_ = write_summary(out, {
    "results_dir": display_path(results_dir), "metric": metric,
    "mean": {f"{r.task}/{r.variant}": round(float(r.mean), 4) for r in table.itertuples()},
    "sd": {f"{r.task}/{r.variant}": round(float(r.sd), 4) for r in table.itertuples()},
    "throughput_bp_per_s": speed.round(1).to_dict(),
    "compression_realised": compute.set_index("variant")["compression_realised"].round(3).to_dict(),
    "figures": ["ablation.png", "compression.png"]})
table.round(3)
