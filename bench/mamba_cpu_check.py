"""mamba_ssm's SSD Triton kernel on CPU under the Triton interpreter, through ldarnet's dispatch, vs ssd_chunked.

A check of item 3 of issue 14 for machines without a GPU: it runs the real kernel code (as numpy),
through ``ldarnet.layers.gpu`` (the pure-Triton import route with its stub, both ways of grouping
rows by A), and BiMamba2 on a padded batch in both directions. Not a test: it needs mamba_ssm, which
is not installed for CI, and patches torch.cuda and triton's autotuner for the interpreter (below).

    MAMBA_FORCE_BUILD=TRUE MAMBA_SKIP_CUDA_BUILD=TRUE pip install --no-deps --no-build-isolation \\
        --target /tmp/mamba_pkgs mamba-ssm==2.2.6.post3 einops
    python bench/mamba_cpu_check.py /tmp/mamba_pkgs        # about 2 minutes on 2 cores

bf16 cannot be checked this way: triton 3.7.1's interpreter multiplies the raw uint16 bit patterns
of bf16 operands in ``tl.dot`` (``create_dot`` converts only fp8), so a bf16 kernel output is noise.
The script reports the kernel on bf16-rounded values held in fp32 instead.
"""

from __future__ import annotations

import contextlib
import os
import sys
import types

os.environ["TRITON_INTERPRET"] = "1"  # before triton's kernels are defined
if len(sys.argv) > 1:
    sys.path.insert(0, sys.argv[1])
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import torch  # noqa: E402

# mamba_ssm's package __init__ imports its generation helpers, which need transformers: stand-ins suffice.
_tr, _gen = types.ModuleType("transformers"), types.ModuleType("transformers.generation")
_utils, _hub = types.ModuleType("transformers.utils"), types.ModuleType("transformers.utils.hub")
for _name in ("GreedySearchDecoderOnlyOutput", "SampleDecoderOnlyOutput", "TextStreamer"):
    setattr(_gen, _name, type(_name, (), {}))
_utils.WEIGHTS_NAME, _utils.CONFIG_NAME, _hub.cached_file = "w", "c", None
_tr.__path__ = []
sys.modules.update({"transformers": _tr, "transformers.generation": _gen, "transformers.utils": _utils,
                    "transformers.utils.hub": _hub})
# The kernel wrappers enter torch.cuda.device and read device properties; the autotuner must not benchmark.
torch.cuda.device = lambda index: contextlib.nullcontext()
torch.cuda.get_device_properties = lambda *a, **k: types.SimpleNamespace(multi_processor_count=2, name="cpu")
import triton.runtime.autotuner as _autotuner  # noqa: E402

_run = _autotuner.Autotuner.run


def _first_config(self, *args, **kwargs):
    self.configs = self.configs[:1]
    return _run(self, *args, **kwargs)


_autotuner.Autotuner.run = _first_config

from ldarnet.layers import BiMamba2, gpu  # noqa: E402
from ldarnet.layers.scan import ssd_chunked  # noqa: E402


def rel(got, want) -> float:
    return ((got.float() - want.float()).abs().max() / want.float().abs().max()).item()


def main() -> int:
    kernel = gpu._import_ssd_kernel()
    print("mamba_ssm imported through the stub:", isinstance(sys.modules.get("selective_scan_cuda"), gpu._MissingExtension))
    gpu._kernel_for = lambda x: kernel  # CPU tensors take the kernel here
    g = torch.Generator().manual_seed(0)
    b, length, h, p, n = 2, 40, 2, 4, 8
    x = torch.randn(b, length, h, p, generator=g).requires_grad_()
    dt = torch.nn.functional.softplus(torch.randn(b, length, h, generator=g) - 1).requires_grad_()
    A = (-torch.rand(2, 1, h, generator=g) * 4).repeat_interleave(b // 2, dim=0)  # a forward and a reverse row
    B = torch.randn(b, length, n, generator=g).requires_grad_()
    C = torch.randn(b, length, n, generator=g).requires_grad_()
    w = torch.randn(b, length, h, p, generator=g)
    ref = ssd_chunked(x, dt, A, B, C, 16)
    g_ref = torch.autograd.grad((ref * w).sum(), (x, dt, B, C))
    worst = 0.0
    for row_blocks in (None, 2):
        out = gpu.ssd(x, dt, A, B, C, 16, row_blocks=row_blocks)
        grads = torch.autograd.grad((out * w).sum(), (x, dt, B, C))
        errs = [rel(out, ref)] + [rel(a, c) for a, c in zip(grads, g_ref)]
        worst = max(worst, *errs)
        print(f"fp32, row_blocks={row_blocks}: max relative error, output and gradients: {max(errs):.1e}")
    lo = [t.detach().bfloat16().float() for t in (x, dt, B, C)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ref16 = ssd_chunked(*[t.bfloat16() for t in (x.detach(), dt.detach())], A, B.detach().bfloat16(), C.detach().bfloat16(), 16)
    print(f"bf16-rounded inputs: kernel {rel(gpu.ssd(lo[0], lo[1], A, lo[2], lo[3], 16, row_blocks=2), ref):.1e}, "
          f"reference under bf16 autocast {rel(ref16, ref):.1e} (relative to the fp32 reference)")

    torch.manual_seed(0)
    mixer = BiMamba2(16, d_state=8, headdim=8, chunk_size=16)
    lengths = torch.tensor([40, 23])
    mask = torch.arange(40)[None] < lengths[:, None]
    xin = (torch.randn(2, 40, 16) * mask[..., None]).requires_grad_()
    wm = torch.randn(2, 40, 16)
    fast = mixer(xin, mask, lengths)
    g_fast = torch.autograd.grad((fast * wm).sum(), (xin, *mixer.parameters()))
    gpu._kernel_for = lambda x: None
    slow = mixer(xin, mask, lengths)
    g_slow = torch.autograd.grad((slow * wm).sum(), (xin, *mixer.parameters()))
    errs = [rel(fast, slow)] + [rel(a, c) for a, c in zip(g_fast, g_slow)]
    worst = max(worst, *errs)
    print(f"BiMamba2, padded batch (40, 23), both directions: max relative error {max(errs):.1e}; "
          f"pads zero: {not fast[~mask].any().item()}")
    ok = worst <= 1e-3
    print("PASS" if ok else "FAIL", f"(fp32 limit 1e-3, worst {worst:.1e})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
