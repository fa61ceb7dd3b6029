"""Test-suite settings: under CI (CI=true) hypothesis draws the same examples on every run."""

import os

import pytest
import torch
from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    settings.load_profile("ci")


@pytest.fixture(scope="module")
def single_thread():
    """One intra-op thread for tests of tiny tensors: on a busy machine with few cores the
    threads' synchronisation costs far more than the arithmetic (measured: 70x for GD)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# CUDA joins the device parameter where PyTorch sees a GPU (select those cases with -m gpu); a
# machine without one runs the CPU cases only, so nothing is skipped.
DEVICES = [
    "cpu",
    *([pytest.param("cuda", marks=pytest.mark.gpu)] if torch.cuda.is_available() else []),
]


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    """Each device the engine can run on here."""
    return request.param
