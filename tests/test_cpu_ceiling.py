"""bench/cpu_ceiling.py counts every matmul path extraction uses: plain mm, attention, in-place baddbmm_."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cpu_ceiling import ceiling, counted_flops_per_base, gemm_peak  # noqa: E402


class HandCounted(torch.nn.Module):
    """One projection, one attention call and one in-place state update per call, with known FLOPs."""

    d, heads = 8, 2

    def extract_boundaries(self, ids):
        length = ids.shape[1]
        x = torch.randn(length, self.d)
        torch.mm(x, torch.randn(self.d, 3 * self.d))  # 2 * L * d * 3d
        q = torch.randn(1, self.heads, length, self.d // self.heads)
        F.scaled_dot_product_attention(q, q, q)  # scores and values: 2 * (2 * L * L * dh) per head
        state = torch.zeros(4, 5, 6)
        state.baddbmm_(torch.randn(4, 5, 7), torch.randn(4, 7, 6))  # 2 * 4 * 5 * 7 * 6
        return []


def test_counts_projection_attention_and_inplace_state_update():
    length = 16
    dh = HandCounted.d // HandCounted.heads
    expected = (2 * length * 8 * 24 + HandCounted.heads * 2 * (2 * length * length * dh) + 2 * 4 * 5 * 7 * 6)
    counted = counted_flops_per_base(HandCounted(), length)
    assert counted["flops_per_base"] * length == pytest.approx(expected)
    assert "aten.baddbmm_" in counted["by_op"]


def test_ceiling_is_peak_over_flops():
    model = HandCounted()
    result = ceiling(model, d_model=8, d_inner=8, proj_out=24, length=16)
    assert result["gemm"]["peak_gflops"] > 0
    assert result["ceiling_bp_per_s"] == pytest.approx(result["gemm"]["peak_gflops"] * 1e9 / result["flops_per_base"])


def test_gemm_peak_is_the_best_shape():
    peak = gemm_peak([(64, 32, 16), (32, 32, 32)], repeats=2)
    assert peak["peak_gflops"] == max(peak["gflops_by_shape"].values())
    assert set(peak["gflops_by_shape"]) == {"64x32x16", "32x32x32"}


def test_compiled_extraction_reports_its_speed_and_agreement(tmp_path):
    # In a subprocess: torch.compile imports triton in compiled (not interpreter) mode, which would
    # break the TRITON_INTERPRET kernel tests that run later in this session. With its own Inductor
    # cache: the shared one is not keyed by ATEN_CPU_CAPABILITY, so C++ generated for AVX2 kernels was
    # reused under ATEN_CPU_CAPABILITY=default and failed to compile (at::vec undeclared).
    code = """
import json, sys, torch, torch.nn.functional as F
from types import SimpleNamespace
sys.path.insert(0, ROOT)
from bench.cpu_ceiling import compiled_extraction
class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(4, 1)
    def extract_boundaries(self, ids):
        return [SimpleNamespace(boundary_prob=torch.sigmoid(self.proj(F.one_hot(ids, 4).float())).squeeze(-1))]
print(json.dumps(compiled_extraction(Tiny(), 64)))
""".replace("ROOT", repr(str(Path(__file__).resolve().parents[1])))
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["max_abs_diff_boundary_prob"] < 1e-6
    assert result["compiled_bp_per_s"] > 0 and result["speedup"] == pytest.approx(
        result["compiled_bp_per_s"] / result["eager_bp_per_s"])


def test_time_split_shares_add_up_and_name_the_matrix_products():
    from bench.cpu_ceiling import time_split

    split = time_split(HandCounted(), 64, matmul_flops_per_base=1.0)
    assert split["matmul_share"] + split["other_share"] == pytest.approx(1.0)
    assert 0 < split["matmul_share"] < 1 and split["matmul_gflops"] > 0


class DirectFlash(torch.nn.Module):
    """LocalAttention's no-grad CPU path calls the flash kernel directly: it must be counted too."""

    def extract_boundaries(self, ids):
        q = torch.randn(3, 2, 8, 4)  # (batch, heads, queries, head_dim)
        k = torch.randn(3, 2, 20, 4)  # 20 keys
        torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, k)
        return []


def test_counts_the_cpu_flash_kernel_called_directly():
    counted = counted_flops_per_base(DirectFlash(), 1)
    assert counted["flops_per_base"] == pytest.approx(2 * 2 * (3 * 2 * 8 * 20 * 4))  # Q.K^T and P.V


def test_machine_speed_is_calibration_over_the_prototype_host():
    from bench.cpu_ceiling import PROTOTYPE_HOST, machine_speed

    speed = machine_speed()
    assert speed["gflops"] > 0
    assert speed["vs_prototype_host"] == [round(speed["gflops"] / g, 2) for g in PROTOTYPE_HOST["calibration_gflops"]]


def test_matrix_summary_takes_medians_over_rounds_and_skips_failed_rows():
    from bench.bench_extract import _by_config

    rows = [{"config": "a", "bases": 100, "seconds_command": s, "bp_per_s_parts": p, "machine_gflops_before": g}
            for s, p, g in ((1.0, 200.0, 50.0), (2.0, 100.0, 30.0), (0.5, 400.0, 90.0))]
    rows.append({"config": "b", "round": 0, "error": "boom"})
    summary = _by_config(rows)
    assert summary == {"a": {"runs": 3, "bp_per_s_command_median": 100, "bp_per_s_command_best": 200,
                             "bp_per_s_parts_median": 200, "machine_gflops": [50.0, 30.0, 90.0]}}
