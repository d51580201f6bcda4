#!/bin/bash
# Pretrain mergedna-proxy on the corpus and token budget of the alpha = 1 LDARNet proxy
# (checkpoints/ldarnet-proxy-multispecies/history/alpha1-400steps; it was shipped as checkpoints/ldarnet-proxy-multispecies
# when this run was made, and its run.json records that path)
# (its run.json: 3 FASTA files, weights 1 1 1, 400 steps x 8 x 1024 bp = 3,276,800 tokens, grad-accum 2,
# lr 1e-3, seed 0, same held-out record and regions, 96 held-out windows). Re-run this script to resume.
cd "$(dirname "$0")/../.."
RESUME=""
[ -f runs/mergedna-proxy/run.json ] && RESUME="--resume"
OMP_NUM_THREADS=2 exec .venv/bin/ldarnet pretrain --config mergedna-proxy \
  --fasta ../shared/data/genomes/athal_tair10_chr1/genomic.fna.gz ../shared/data/genomes/scer_r64/genome.fa.gz ../shared/data/pretrain/ce2_chrX.fa.gz \
  --weights 1 1 1 --val-records BK006949.2 --val-regions checkpoints/ldarnet-proxy-multispecies/history/alpha1-400steps/heldout.bed --val-windows 96 \
  --out runs/mergedna-proxy --steps 400 --batch-size 8 --seq-len 1024 --grad-accum 2 --checkpoint-every 10 --seed 0 \
  --lr 0.001 --weight-decay 0.01 --threads 2 --keep-checkpoints 2 --no-progress --max-minutes "${MAX_MINUTES:-65}" $RESUME
