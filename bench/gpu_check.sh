#!/usr/bin/env bash
# The GPU check of issue 14, one command on a CUDA machine (about 8 minutes, at most 9.5):
#   1. our Triton kernels' and mamba-ssm's parity tests on CUDA (tests/test_kernels.py, tests/test_gpu.py);
#   2. bench/bench_gpu.py: the dechunker at 4k/64k/1M, tokens/s with and without the fast paths, the 120m's MFU.
# Writes gpu.json and gpu_check.log to $OUT if set (the device runner's folder), else bench/results/.
# Python: $PYTHON, else .venv/bin/python when it sees CUDA, else python3; the checkout goes on PYTHONPATH.
# A machine without pytest (or numpy/safetensors/tqdm) and without network: point GPU_CHECK_WHEELS at a
# folder of wheels for them and they are installed from it.
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
date -u > "$LOG"

if [ -n "${GPU_CHECK_WHEELS:-}" ]; then
    for mod in pytest numpy safetensors tqdm; do
        "$PY" -c "import $mod" 2>/dev/null \
            || "$PY" -m pip install -q --no-index --find-links "$GPU_CHECK_WHEELS" "$mod" 2>&1 | tee -a "$LOG"
    done
fi

"$PY" - <<'PYEOF' 2>&1 | tee -a "$LOG"
import sys
try:
    import torch
except ImportError:
    sys.exit("error: torch is not installed for this python")
if not torch.cuda.is_available():
    sys.exit("error: no CUDA device; run bench/bench_gpu.py --smoke to check the script on CPU")
print("torch", torch.__version__, "on", torch.cuda.get_device_name())
for mod in ("triton", "pytest", "numpy", "safetensors", "tqdm"):
    try:
        m = __import__(mod)
        print(mod, getattr(m, "__version__", "?"))
    except ImportError:
        print(f"warning: {mod} is missing")
from ldarnet.layers import gpu
print("mamba_ssm SSD kernel:", "found" if gpu.mamba_chunk_scan() is not None else "not installed (its tests skip)")
PYEOF
[ "${PIPESTATUS[0]}" -eq 0 ] || exit 2

tests=0
if "$PY" -c "import pytest" 2>/dev/null; then
    t0=$(date +%s)
    timeout 240 "$PY" -m pytest -q -rs -p no:cacheprovider tests/test_kernels.py tests/test_gpu.py 2>&1 | tee -a "$LOG"
    tests=${PIPESTATUS[0]}
    echo "tests: rc=$tests, $(( $(date +%s) - t0 )) s" | tee -a "$LOG"
else
    echo "error: pytest is missing, parity tests not run (set GPU_CHECK_WHEELS)" | tee -a "$LOG"
    tests=1
fi

t0=$(date +%s)
timeout 300 "$PY" bench/bench_gpu.py --steps 6 --out "$DEST/gpu.json" 2>&1 | tee -a "$LOG"
bench=${PIPESTATUS[0]}
echo "bench: rc=$bench, $(( $(date +%s) - t0 )) s (a timeout leaves the sections listed in 'completed')" | tee -a "$LOG"
[ "$tests" -eq 0 ] && [ "$bench" -eq 0 ]
