"""Compile our kernels for a CUDA target without a GPU (``python -m ldarnet.kernels._aot``).

The interpreter runs kernels as numpy code and accepts things the compiler rejects (a global that is
not a constexpr, a type mismatch in a loop), so the CPU tests also compile every kernel to a cubin
for sm_90 with triton's bundled ptxas: a GPU machine then meets no compile error. Must run without
``TRITON_INTERPRET`` (tests/test_kernels.py starts it in a subprocess).
"""

from __future__ import annotations

import argparse
import os
import time

INTS = {"B", "M", "D", "L", "NT", "NB", "SEG", "S"}
POINTER_TYPES = {"LEN": "*i32", "MASK": "*i8", "BOUND": "*i8"}
INPUTS = {"Z", "Q", "K"}  # read in the caller's dtype


def compile_all(arch: int = 90, dtypes=("bf16", "fp32"), first_config_only: bool = False) -> list[str]:
    """Compile each kernel for ``cuda:arch`` at each of its autotune configs; returns one line per compile."""
    if os.environ.get("TRITON_INTERPRET") == "1":
        raise RuntimeError("unset TRITON_INTERPRET: the interpreter has no compiler")
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from . import ema, router

    target = GPUTarget("cuda", arch, 32)
    lines = []
    carry = triton.Config({"BLOCK_D": 64}, num_warps=4)  # _ema_carry is not autotuned
    kernels = ((ema._ema_fwd.fn, ema._ema_fwd.configs, {"SAVE": True, "ENDS_ONLY": False}),
               (ema._ema_fwd.fn, ema._ema_fwd.configs, {"SAVE": False, "ENDS_ONLY": True}),
               (ema._ema_bwd.fn, ema._ema_bwd.configs, {"ENDS_ONLY": False}),
               (ema._ema_bwd.fn, ema._ema_bwd.configs, {"ENDS_ONLY": True}),
               (ema._ema_carry, [carry], {}),
               (router._router_fwd.fn, router._router_fwd.configs, {}),
               (router._router_bwd.fn, router._router_bwd.configs, {}))
    for fn, configs, extra in kernels:
        for dtype in dtypes:
            for config in configs[:1] if first_config_only else configs:
                consts = {**extra, **config.kwargs}
                sig = {}
                for name in fn.arg_names:
                    if name in consts:
                        sig[name] = "constexpr"
                    elif name in INTS:
                        sig[name] = "i32"
                    else:
                        sig[name] = f"*{dtype}" if name in INPUTS else POINTER_TYPES.get(name, "*fp32")
                t0 = time.perf_counter()
                triton.compile(ASTSource(fn, sig, constexprs=consts), target=target,
                               options=dict(num_warps=config.num_warps))
                lines.append(f"{fn.__name__} {dtype} {consts} warps={config.num_warps}: "
                             f"{time.perf_counter() - t0:.1f} s")
    return lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", type=int, default=90)
    parser.add_argument("--quick", action="store_true", help="first config and bf16 only")
    a = parser.parse_args()
    for line in compile_all(a.arch, ("bf16",) if a.quick else ("bf16", "fp32"), a.quick):
        print(line)
