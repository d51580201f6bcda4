"""Copy a finished pretraining run into this folder and write MODEL_CARD.md from the run's own files.

    python checkpoints/ldarnet-proxy-multispecies/make_card.py runs/proxy-multispecies

Every number in the card is read from the run folder (run.json, run_summary.json, eval.json,
metrics.jsonl) or from the collapsed α = 0.03 attempt's metrics kept beside it; nothing is typed in.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
COPIED = ("model.safetensors", "config.json", "metrics.jsonl", "eval.json", "run.json", "run_summary.json")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def reliance_section() -> str:
    """What the model does not do: how little of its prediction goes through its chunks (reliance.json)."""
    path = HERE / "reliance.json"
    if not path.exists():
        return ""
    r = json.loads(path.read_text())
    s = r["stages"][0]
    return f"""
## What this model does not do: it barely uses its chunks (from `reliance.json`)

Path reliance on the same {r['windows']} held-out windows and masks (`{r['command']}`):

| held-out MLM loss | nats per masked base |
|---|---|
| intact model | {r['intact']:.4f} |
| dechunked chunk/backbone path zeroed (decoder sees only the residual skip) | {s['chunk_path_zeroed']:.4f} ({s['chunk_path_cost']:+.4f}) |
| residual skip zeroed | {s['skip_zeroed']:.4f} ({s['skip_cost']:+.4f}) |
| base-frequency baseline | {r['frequency_baseline']:.4f} |
| ±3-base context-count baseline (counted on training windows) | {r['context_baseline']:.4f} |

The model predicts masked bases almost entirely from the encoder's local context through the residual
skip: zeroing everything its router's chunks carry costs {s['chunk_path_cost']:.4f} nats, {s['chunk_path_cost'] / s['skip_cost']:.0%} of
what zeroing the skip costs. Its boundaries sit at the target rate because the ratio loss (α = 1) holds
them there, not because the masked-LM loss needs them; read the workbench's boundary analyses of this
model as analyses of that router, not of a tokenization the model relies on. (The router's own rate on
unmasked inputs is {r['compression_unmasked'][0]:.2f}; {r['compression'][0]:.2f} on the masked inputs.)
"""


def main(run_dir: str) -> int:
    run = Path(run_dir)
    for name in COPIED:
        shutil.copyfile(run / name, HERE / name)
    args = json.loads((HERE / "run.json").read_text())
    summary = json.loads((HERE / "run_summary.json").read_text())
    ev = json.loads((HERE / "eval.json").read_text())
    rows = [json.loads(line) for line in (HERE / "metrics.jsonl").read_text().splitlines()]
    cfg = args["config"]
    from ldarnet import LDARNetConfig
    from ldarnet.training import stage_lr_multipliers

    mults = stage_lr_multipliers(LDARNetConfig.from_dict(cfg))
    collapsed = [json.loads(line) for line in (HERE / "collapsed_alpha0.03_metrics.jsonl").read_text().splitlines()]
    # --steps and --batch-size of that attempt (its run folder was not kept; its log is)
    collapsed_planned, collapsed_batch = 240, 4
    first_collapse = next(r["step"] for r in collapsed if r["compression"][0] > 100)
    last10 = rows[-10:]
    bed = [line.split("\t") for line in (HERE / "heldout.bed").read_text().splitlines() if line.strip()]
    regions = "; ".join(f"`{r}` [{int(a):,}, {int(b):,}) = {int(b) - int(a):,} bp" for r, a, b in bed)
    target = cfg["target_ratio"][0]
    comp = ev["compression"][0]
    files = "\n".join(f"| `{f}` | {w:g} |" for f, w in zip(args["fasta"], args["weights"]))
    per_file = "\n".join(
        f"| `{Path(f).parent.name}/{Path(f).name}` | {v['masked_tokens']:,} | {v['mlm_loss']:.4f} | {v['baseline_loss']:.4f} |"
        for f, v in ev["per_file"].items())
    text = f"""# ldarnet-proxy-multispecies

An `ldarnet-proxy` LDARNet ({summary['parameters']:,} parameters, layout `{cfg['arch_layout']}`, d_model
{cfg['d_model']}, router `{cfg['router'][0]}`, target ratio N = {target:g}) pretrained with masked-language
modelling on {len(args['fasta'])} genome files, on a shared 2-core CPU. Load it with `LDARNet.from_pretrained("checkpoints/{HERE.name}")`.

**Scale: this is a small CPU run** ({summary['tokens']:,} tokens, {summary['steps_done']} optimiser steps). The paper's
proxy ablations used 2.56B tokens; treat this checkpoint as a working example of the pipeline and a
starting point for fine-tuning, not as a converged model.

## Data

Windows of {args['seq_len']} bp drawn at random (file by weight, then uniformly over positions), windows with more
than {args['max_n_fraction']:.0%} N redrawn, soft-masked bases upper-cased, reverse-complemented with p = {args['rc_prob']},
{args['mask_prob']:.0%} of A/C/G/T positions masked (80% [MASK], 10% random base, 10% kept).

| FASTA (workspace `shared/data`, see its README for sources) | sampling weight |
|---|---|
{files}

Held out from training (validation only): whole record(s) {', '.join(f'`{r}`' for r in args['val_records'])}
and the regions of `heldout.bed` (0-based, half-open): {regions}.

## Training

| | |
|---|---|
| optimiser steps | {summary['steps_done']} of {summary['steps_planned']} planned{' (stopped by the wall-clock bound)' if summary['stopped_early'] else ''} |
| tokens seen | {summary['tokens']:,} |
| batch | {args['batch_size']} windows x {args['seq_len']} bp per step ({summary['micro_batch']} per micro-batch, {summary['grad_accum']} micro-batch(es)) |
| peak learning rate | {args['lr']:g} (backbone); per-level multipliers {mults} (Eq. 19: sqrt(N) * d_inner / d_outer) |
| schedule | WSD: 10% linear warmup, 70% plateau, inverse-sqrt decay over the last 20% to 5% of the peak |
| optimiser | AdamW (0.9, 0.95), weight decay {args['weight_decay']:g} (none on biases, norms, A_log, D, dt_bias), clipping 1.0 |
| precision | {'bf16 autocast' if args['bf16'] else 'fp32'} |
| ratio-loss weight α | {cfg['ratio_loss_weight']:g} (the paper uses 0.03; see below) |
| seed | {args['seed']} |
| training wall time | {summary['train_seconds']:.0f} s ({summary['train_seconds'] / 3600:.2f} h) of optimiser steps |
| hardware | {cpu_model()}, {summary['device']}; 2 cores shared with other jobs during the whole run |
| mean throughput | {summary['tokens'] / summary['train_seconds']:.0f} bp/s |

**Why α = {cfg['ratio_loss_weight']:g}.** With the paper's α = 0.03, the first attempt of this run (same seed, data and
peak learning rate; batch {collapsed_batch} x 1024 bp, {collapsed_planned} planned steps; its log is
`collapsed_alpha0.03_metrics.jsonl`) had its router collapse to a single boundary per
window (compression {collapsed[-1]['compression'][0]:g}) at step {first_collapse} and stay there for the remaining
{len(collapsed) - first_collapse} logged steps, so the backbone saw one token per window. The ratio loss is flat in G
when F = 1/N, so a larger α only strengthens the pull back to the target rate; where the boundaries go is still
left to the MLM loss. (Two α = {cfg['ratio_loss_weight']:g} attempts with fewer planned steps and batch 4 were stopped
before step 40 and restarted as this run when the shared machine got faster; their logs were not kept.)

## Results (from `eval.json`, {ev['windows']} held-out windows, fixed masks, no reverse complement)

| | value |
|---|---|
| held-out MLM loss | **{ev['mlm_loss']:.4f}** nats per masked base ({ev['mlm_bits_per_base']:.3f} bits) |
| loss of predicting the held-out base frequencies | {ev['baseline_loss']:.4f} nats |
| masked bases scored | {ev['masked_tokens']:,} |
| realised compression (mean length / mean chunks) | **{comp:.2f}** (target {target:g}; {100 * (comp / target - 1):+.1f}%) |

The baseline is the entropy of the base composition of the very bases scored, i.e. the best any constant
prediction can do on them.

| held-out file | masked bases | MLM loss | base-frequency loss |
|---|---|---|---|
{per_file}

Training log (`metrics.jsonl`, one line per step): mean over the last {len(last10)} steps, MLM loss
{statistics.mean(r['mlm_loss'] for r in last10):.4f}, compression {statistics.mean(r['compression'][0] for r in last10):.2f}.

""" + reliance_section() + """
## Files

| file | sha256 |
|---|---|
""" + "\n".join(f"| `{n}` | `{sha256(HERE / n)[:16]}…` |" for n in COPIED + ("heldout.bed", "collapsed_alpha0.03_metrics.jsonl")
                    + (("reliance.json",) if (HERE / "reliance.json").exists() else ())) + """

`run.json` holds every argument of the run (`python -m ldarnet.training pretrain` / `ldarnet pretrain`), and
`make_card.py` regenerates this card from those files.
"""
    (HERE / "MODEL_CARD.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
