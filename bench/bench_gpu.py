"""GPU benchmark (issue 14). Writes bench/results/gpu.json.

Measures, side by side in one process (runs interleaved, medians):
1. fwd+bwd tokens/s of ldarnet-proxy and ldarnet-120m under bf16 autocast, on each path that is
   installed: ``torch`` (pure PyTorch), ``ours`` (our Triton kernels for the dechunker and router),
   ``mamba_ssm`` (its SSD kernel for the mixers), ``mamba_ssm+ours`` (both);
2. the 120m's model FLOP utilisation: FLOPs of one training step counted by torch.utils.flop_counter
   on the pure-PyTorch path with the attention calls left out, plus attention by hand (4 n k d per
   layer forward for n queries seeing k keys, x3 for fwd+bwd), over the bf16 dense peak
   (989 TFLOP/s, H100/H200 SXM), at the fastest path's step time (target >= 30 %, moonshot 40 %);
3. the dechunker (bidirectional EMA + upsample) fwd+bwd with our kernel vs the reference's two scan
   passes, and the kernel alone, at L = 4k, 64k, 1M positions (N = 4: M = L/4 chunks, d = 512,
   bf16 input; target >= 5x at 64k).
Sections run in the order 3, 1, 2 and the JSON is rewritten after each ("completed" lists them).

Usage: python bench/bench_gpu.py [--out bench/results/gpu.json] [--batch 8] [--seq-len 4096] [--steps 8]
       python bench/bench_gpu.py --smoke   # tiny sizes; on CPU the kernels run under the Triton interpreter
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

PEAK_BF16 = 989e12  # H100/H200 SXM dense bf16 FLOP/s

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--out", type=Path, default=None, help="JSON path (default bench/results/gpu.json; --smoke: print only)")
parser.add_argument("--batch", type=int, default=8)
parser.add_argument("--seq-len", type=int, default=4096)
parser.add_argument("--steps", type=int, default=8, help="timed steps per path")
parser.add_argument("--dechunk-lengths", type=int, nargs="+", default=[4096, 65536, 1048576])
parser.add_argument("--smoke", action="store_true", help="tiny sizes, any device: checks the script, measures nothing")
args = parser.parse_args()

import torch  # noqa: E402

if args.smoke and not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")  # before any kernel module is imported

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from ldarnet import LDARNet, LDARNetConfig, kernels  # noqa: E402
from ldarnet.chunking import dechunk  # noqa: E402
from ldarnet.layers import gpu  # noqa: E402
from ldarnet.layers.attention import LocalAttention  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
_USE_KERNELS, _MAMBA = kernels.use_kernels, gpu.mamba_chunk_scan


def use_path(path: str) -> None:
    """Switch the model's fast paths by rebinding the two dispatch functions it looks up per call."""
    ours = "ours" in path
    kernels.use_kernels = (lambda x: True) if ours and DEVICE == "cpu" else (_USE_KERNELS if ours else (lambda x: False))
    gpu.mamba_chunk_scan = _MAMBA if "mamba_ssm" in path else (lambda: None)


def paths() -> list[str]:
    have_ours = kernels.triton_available()
    have_mamba = _MAMBA() is not None
    return [p for p, ok in (("torch", True), ("ours", have_ours), ("mamba_ssm", have_mamba),
                            ("mamba_ssm+ours", have_mamba and have_ours)) if ok]


def sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def timed(fn) -> float:
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t0


def make_batch(batch: int, length: int, vocab: int):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 4, (batch, length), generator=g)
    labels = torch.full_like(ids, -100)
    picked = torch.rand(batch, length, generator=g) < 0.15
    labels[picked] = ids[picked]
    ids[picked] = vocab - 1 if vocab > 5 else ids[picked]  # any token id works for timing
    return ids.to(DEVICE), torch.ones_like(ids, dtype=torch.bool).to(DEVICE), labels.to(DEVICE)


def train_step(model, ids, mask, labels):
    def run():
        with torch.autocast(DEVICE, dtype=torch.bfloat16):
            out = model(ids, mask, labels=labels)
        out.loss.backward()
        model.zero_grad(set_to_none=True)
    return run


def attention_flops(model, ids, mask) -> float:
    """Forward attention FLOPs by hand: 4 * queries * keys seen * d per LocalAttention call, per sample."""
    total = [0.0]

    def hook(module, inputs):
        x, m = inputs[0], inputs[1]
        n = m.sum(dim=1).double()
        keys = n if module.window < 0 else torch.clamp(n, max=2 * module.window + 1)
        total[0] += float((4 * n * keys).sum()) * x.shape[-1]

    handles = [m.register_forward_pre_hook(hook) for m in model.modules() if isinstance(m, LocalAttention)]
    try:
        with torch.no_grad(), torch.autocast(DEVICE, dtype=torch.bfloat16):
            model(ids, mask)
    finally:
        for h in handles:
            h.remove()
    return total[0]


def step_flops(model, ids, mask, labels) -> dict:
    """FLOPs of one fwd+bwd step: counted (pure-PyTorch path, attention left out) + attention by hand."""
    use_path("torch")
    counter = FlopCounterMode(display=False)
    with counter:
        train_step(model, ids, mask, labels)()
    counted = sum(v for op, v in counter.get_flop_counts()["Global"].items() if "attention" not in str(op))
    attn = 3 * attention_flops(model, ids, mask)
    return {"counted_without_attention": counted, "attention_by_hand": attn, "total": counted + attn}


def bench_model(preset: str, batch: int, length: int, steps: int) -> dict:
    torch.manual_seed(0)
    model = LDARNet(LDARNetConfig.preset(preset)).to(DEVICE)
    ids, mask, labels = make_batch(batch, length, model.config.vocab_size)
    runs = {p: train_step(model, ids, mask, labels) for p in paths()}
    for p, run in runs.items():  # warm-up: compiles and autotunes the kernels
        use_path(p)
        run()
        run()
    times = {p: [] for p in runs}
    for _ in range(steps):
        for p, run in runs.items():
            use_path(p)
            times[p].append(timed(run))
    med = {p: statistics.median(t) for p, t in times.items()}
    result = {"preset": preset, "parameters": model.num_parameters(), "batch": batch, "seq_len": length,
              "step_s": times, "tokens_per_s": {p: batch * length / t for p, t in med.items()},
              "speedup_vs_torch": {p: med["torch"] / t for p, t in med.items()}}
    if "mamba_ssm" in med and "mamba_ssm+ours" in med:
        result["ours_speedup_over_mamba_ssm_alone"] = med["mamba_ssm"] / med["mamba_ssm+ours"]
    return result


def bench_mfu(result: dict, preset: str) -> dict:
    torch.manual_seed(0)
    model = LDARNet(LDARNetConfig.preset(preset)).to(DEVICE)
    ids, mask, labels = make_batch(result["batch"], result["seq_len"], model.config.vocab_size)
    flops = step_flops(model, ids, mask, labels)
    best = min(result["step_s"], key=lambda p: statistics.median(result["step_s"][p]))
    step = statistics.median(result["step_s"][best])
    mfu = flops["total"] / step / PEAK_BF16 if DEVICE == "cuda" else None
    return {"flops_per_step": flops, "path": best, "step_s": step, "peak_flops": PEAK_BF16,
            "mfu": mfu, "target": 0.30, "moonshot": 0.40}


def bench_dechunk(length: int, d: int, repeats: int) -> dict:
    g = torch.Generator().manual_seed(0)
    m = length // 4
    boundary = (torch.arange(length) % 4 == 0)[None].to(DEVICE)
    cmask = torch.ones(1, m, dtype=torch.bool, device=DEVICE)
    z = torch.randn(1, m, d, generator=g).to(DEVICE, torch.bfloat16).requires_grad_()
    p = torch.rand(1, m, generator=g).to(DEVICE).requires_grad_()

    def whole():
        dechunk(z, p, cmask, boundary).float().sum().backward()

    def kernel_alone():
        kernels.bidirectional_ema(z, p, p, cmask.sum(1)).sum().backward()

    out = {"length": length, "chunks": m, "d": d}
    runs = {"reference_two_passes": ("torch", whole), "kernel": ("ours", whole)}
    if kernels.triton_available():
        runs["kernel_alone"] = ("ours", kernel_alone)
    else:
        runs.pop("kernel")
    for path, run in runs.values():  # warm-up
        use_path(path)
        run()
    times = {k: [] for k in runs}
    for _ in range(repeats):
        for name, (path, run) in runs.items():
            use_path(path)
            times[name].append(timed(run))
    out["fwd_bwd_s"] = times
    if "kernel" in times:
        out["speedup"] = statistics.median(times["reference_two_passes"]) / statistics.median(times["kernel"])
    return out


def main() -> int:
    if not args.smoke and DEVICE != "cuda":
        print("error: no CUDA device (use --smoke to check the script on CPU)", file=sys.stderr)
        return 2
    if args.smoke:
        presets, batch, length, steps, lengths, d = ["ldarnet-tiny"], 2, 64, 1, [256], 8
    else:
        presets, batch, length, steps = ["ldarnet-proxy", "ldarnet-120m"], args.batch, args.seq_len, args.steps
        lengths, d = args.dechunk_lengths, 512
    report = {"device": torch.cuda.get_device_name() if DEVICE == "cuda" else platform.processor() or "cpu",
              "torch": torch.__version__, "paths": paths(), "smoke": args.smoke, "models": {}, "dechunk": []}
    try:
        import triton
        report["triton"] = triton.__version__
    except ImportError:
        report["triton"] = None
    out = args.out or (None if args.smoke else ROOT / "bench" / "results" / "gpu.json")

    def save(section: str) -> None:
        """Rewrite the JSON after each section, so a run cut short by a time limit keeps what it measured."""
        report["completed"].append(section)
        if out is not None:
            tmp = Path(str(out) + ".tmp")
            tmp.write_text(json.dumps(report, indent=1) + "\n")
            os.replace(tmp, out)  # never a half-written JSON

    report["completed"] = []
    # the dechunker first: it is the quickest and carries a target of its own
    for n in lengths:
        t0 = time.perf_counter()
        report["dechunk"].append(bench_dechunk(n, d, 1 if args.smoke else (5 if n < 1_000_000 else 3)))
        print(f"dechunk L={n}: speedup {report['dechunk'][-1].get('speedup')} ({time.perf_counter() - t0:.0f} s)", flush=True)
        save(f"dechunk L={n}")
    for preset in presets:
        t0 = time.perf_counter()
        report["models"][preset] = bench_model(preset, batch, length, steps)
        print(f"{preset}: {report['models'][preset]['tokens_per_s']} ({time.perf_counter() - t0:.0f} s)", flush=True)
        save(preset)
    mfu_preset = presets[-1]
    report["mfu"] = {mfu_preset: bench_mfu(report["models"][mfu_preset], mfu_preset)}
    print(f"MFU {mfu_preset}: {report['mfu'][mfu_preset]['mfu']}", flush=True)
    save("mfu")
    if out is None:
        print(json.dumps(report, indent=1))
    else:
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
