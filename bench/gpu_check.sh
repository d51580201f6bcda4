#!/usr/bin/env bash
# The GPU check of issue 14, one command on a CUDA machine (about 8 minutes):
#   1. our Triton kernels' and mamba-ssm's parity tests on CUDA (tests/test_kernels.py, tests/test_gpu.py);
#   2. bench/bench_gpu.py: tokens/s with and without the fast paths, the 120m's MFU, the dechunker at 4k/64k/1M.
# Writes gpu.json and gpu_check.log to $OUT if set (the device runner's folder), else bench/results/.
# Python: $PYTHON, else .venv/bin/python when it sees CUDA, else python3 (the checkout is put on PYTHONPATH).
set -uo pipefail
cd "$(dirname "$0")/.."
DEST=${OUT:-bench/results}
mkdir -p "$DEST"
PY=${PYTHON:-python3}
if [ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ] \
    && .venv/bin/python -c "import sys, torch; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
    PY=.venv/bin/python
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
LOG="$DEST/gpu_check.log"
{
    date -u
    "$PY" - <<'PYEOF' || exit 2
import sys
import torch
if not torch.cuda.is_available():
    sys.exit("error: no CUDA device; run bench/bench_gpu.py --smoke to check the script on CPU")
print("torch", torch.__version__, "on", torch.cuda.get_device_name())
import pytest  # noqa: F401  (fails here, clearly, rather than half-way)
import triton
print("triton", triton.__version__)
from ldarnet.layers import gpu
print("mamba_ssm SSD kernel:", "found" if gpu.mamba_chunk_scan() is not None else "not installed (its tests skip)")
PYEOF
} 2>&1 | tee "$LOG"
[ "${PIPESTATUS[0]}" -eq 0 ] || exit 2

t0=$(date +%s)
timeout 210 "$PY" -m pytest -q -rs -p no:cacheprovider tests/test_kernels.py tests/test_gpu.py 2>&1 | tee -a "$LOG"
tests=${PIPESTATUS[0]}
echo "tests: rc=$tests, $(( $(date +%s) - t0 )) s" | tee -a "$LOG"

t0=$(date +%s)
timeout 330 "$PY" bench/bench_gpu.py --steps 6 --out "$DEST/gpu.json" 2>&1 | tee -a "$LOG"
bench=${PIPESTATUS[0]}
echo "bench: rc=$bench, $(( $(date +%s) - t0 )) s" | tee -a "$LOG"
[ "$tests" -eq 0 ] && [ "$bench" -eq 0 ]
