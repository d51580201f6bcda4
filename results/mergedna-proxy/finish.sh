#!/bin/bash
# Everything that depends on the mergedna-proxy run, regenerated in order once it has finished (or stopped):
# the checkpoint folder + card, the cached side-by-side results, the benchmark (only when missing) and notebook 08.
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1
.venv/bin/python checkpoints/mergedna-proxy/make_card.py runs/mergedna-proxy
.venv/bin/python results/mergedna-proxy/side_by_side.py \
  --model ldarnet=checkpoints/ldarnet-proxy-multispecies/history/alpha1-400steps --model mergedna=checkpoints/mergedna-proxy
[ -f bench/results/mergedna_side_by_side.json ] || .venv/bin/python bench/bench_mergedna.py --threads 1 --repeats 2 \
  --lengths 1024 --no-memory --out bench/results/mergedna_side_by_side.json
.venv/bin/jupytext --to ipynb --update notebooks/08_mergedna_vs_ldarnet.py 2>/dev/null \
  || .venv/bin/jupytext --to ipynb notebooks/08_mergedna_vs_ldarnet.py
.venv/bin/jupyter nbconvert --execute --inplace --ExecutePreprocessor.record_timing=False \
  --ExecutePreprocessor.timeout=1800 notebooks/08_mergedna_vs_ldarnet.ipynb
