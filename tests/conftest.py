"""Test-suite settings: under CI (CI=true) hypothesis draws the same examples on every run."""

import os
import signal
from contextlib import contextmanager

import pytest
import torch
from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)

# The suite runs in one pytest-xdist worker per core (pyproject's addopts): each worker gets its
# share of the cores for torch's intra-op threads, so the workers do not oversubscribe them.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    torch.set_num_threads(
        max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    )
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


class Hung(BaseException):
    """Raised by :func:`within` when a call outlives its bound (a BaseException, so that no
    ``except Exception`` in the code under test can swallow it)."""


@pytest.fixture
def within():
    """``with within(seconds): ...`` fails the test if the body is still running after that
    long (SIGALRM; every bad-input case gets such a bound, so that a hang fails fast)."""

    @contextmanager
    def bound(seconds: float):
        def expire(signum, frame):
            raise Hung(f"still running after {seconds} s")

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    return bound
