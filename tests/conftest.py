"""Fixtures shared by several test modules, and the Triton mode of a CPU-only session."""

import os

import pytest
import torch

# Without a GPU our Triton kernels run under the interpreter (tests/test_kernels.py). Triton reads
# TRITON_INTERPRET once, when it is first imported, and many modules import it indirectly (e.g.
# torch.utils.flop_counter): set it here, before any test module is collected, so that the first
# import of triton in the session is in interpreter mode whichever module triggers it.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module: toy-sized ops pay more for thread hand-offs than they gain on a
    shared 2-core machine. Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
