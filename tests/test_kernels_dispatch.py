"""When the fast paths are used, and how a pure-Triton mamba_ssm install is imported (no GPU needed)."""

import subprocess
import sys
import textwrap
import types

import torch

from ldarnet import kernels
from ldarnet.layers import gpu
from ldarnet.layers.scan import ssd_chunked


def test_our_kernels_only_for_cuda_tensors(monkeypatch):
    assert not kernels.use_kernels(torch.zeros(2, 3))  # CPU tensors always take the reference
    on_gpu = types.SimpleNamespace(is_cuda=True)  # stands in for a CUDA tensor
    monkeypatch.setattr(kernels, "triton_available", lambda: True)
    monkeypatch.delenv("LDARNET_PURE_TORCH", raising=False)
    assert kernels.use_kernels(on_gpu)
    monkeypatch.setenv("LDARNET_PURE_TORCH", "1")
    assert not kernels.use_kernels(on_gpu)


def test_importing_the_model_does_not_import_triton():
    code = "import sys, ldarnet, ldarnet.chunking, ldarnet.model; print('triton' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_pure_triton_mamba_ssm_is_imported_with_a_stub(tmp_path, monkeypatch):
    """A MAMBA_SKIP_CUDA_BUILD install: the package __init__ imports the missing Mamba-1 extension."""
    pkg = tmp_path / "mamba_ssm"
    (pkg / "ops" / "triton").mkdir(parents=True)
    (pkg / "__init__.py").write_text("import selective_scan_cuda\n")
    (pkg / "ops" / "__init__.py").write_text("")
    (pkg / "ops" / "triton" / "__init__.py").write_text("")
    (pkg / "ops" / "triton" / "ssd_combined.py").write_text(textwrap.dedent("""
        def mamba_chunk_scan_combined(*args):
            return "kernel"
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [n for n in sys.modules if n.startswith("mamba_ssm") or n == "selective_scan_cuda"]:
        monkeypatch.delitem(sys.modules, name)
    try:
        fn = gpu._import_ssd_kernel()
        assert fn() == "kernel"
        stub = sys.modules["selective_scan_cuda"]
        try:
            stub.fwd
        except ImportError as err:
            assert "MAMBA_SKIP_CUDA_BUILD" in str(err)
        else:
            raise AssertionError("the stub must fail on use")
    finally:
        for name in [n for n in sys.modules if n.startswith("mamba_ssm") or n == "selective_scan_cuda"]:
            del sys.modules[name]


def test_other_import_errors_are_not_hidden(tmp_path, monkeypatch):
    pkg = tmp_path / "mamba_ssm"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import some_other_missing_module_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [n for n in sys.modules if n.startswith("mamba_ssm")]:
        monkeypatch.delitem(sys.modules, name)
    try:
        gpu._import_ssd_kernel()
    except ModuleNotFoundError as err:
        assert err.name == "some_other_missing_module_xyz"
    else:
        raise AssertionError("expected the import error")
    finally:
        for name in [n for n in sys.modules if n.startswith("mamba_ssm")]:
            del sys.modules[name]


def test_ssd_dispatch_groups_rows_by_their_decay(monkeypatch):
    """How gpu.ssd calls a one-A-per-call kernel (mamba_ssm's signature), checked with a stand-in kernel."""
    calls = []

    def fake_kernel(x, dt, A, B, C, chunk_size):
        assert A.dim() == 1 and B.dim() == 4 and B.shape[2] == 1
        calls.append(x.shape[0])
        return ssd_chunked(x, dt, A, B[:, :, 0], C[:, :, 0], chunk_size)

    monkeypatch.setattr(gpu, "_kernel_for", lambda x: fake_kernel)
    g = torch.Generator().manual_seed(0)
    b, length, h, p, n = 4, 37, 2, 3, 5
    x, B, C = torch.randn(b, length, h, p, generator=g), torch.randn(b, length, n, generator=g), torch.randn(b, length, n, generator=g)
    dt = torch.rand(b, length, h, generator=g)
    A = (-torch.rand(2, 1, h, generator=g) * 4).repeat_interleave(b // 2, dim=0)  # (b, 1, h): two blocks
    ref = ssd_chunked(x, dt, A, B, C, 16)
    for row_blocks in (None, 2):
        calls.clear()
        torch.testing.assert_close(gpu.ssd(x, dt, A, B, C, 16, row_blocks=row_blocks), ref)
        assert sorted(calls) == [2, 2]
    torch.testing.assert_close(gpu.ssd(x, dt, A[0, 0], B, C, 16), ssd_chunked(x, dt, A[0, 0], B, C, 16))
