"""Where and how a run executes, shared by every layer (docs/architecture.md, layer ½).

- ``Progress``/``SilentProgress``: the progress protocol that ``richlazy.train.train``,
  ``richlazy.nn.fit`` and the sweeps accept (the CLI's progress bars fulfil it), and
  ``progress_task``, which turns what a caller passed into one ``advance(n)`` callable;
- ``torch_threads(n)``: torch's CPU thread count for a block, restored afterwards;
- ``DEVICES``, ``device_of(name)``: the devices richlazy runs on, and the torch device a name
  stands for ("auto": CUDA when available); ``DTYPES``, ``dtype_of(name)``: the same for dtypes;
- ``log_schedule``: log-spaced steps (checkpoints, measurements).

Torch-free at import: torch is imported inside the functions that need it, so that the command
line's listing and ``--help`` load no torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import count
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args, runtime_checkable

import numpy as np

from richlazy import _validate as check

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEVICES",
    "DTYPES",
    "DType",
    "Device",
    "Progress",
    "SilentProgress",
    "device_of",
    "dtype_of",
    "log_schedule",
    "progress_task",
    "torch_threads",
]

#: The devices richlazy computes on; ``device_of`` also takes "auto".
Device = Literal["cpu", "cuda"]
DEVICES: tuple[str, ...] = get_args(Device)
#: The floating-point dtypes richlazy computes in, by name.
DType = Literal["float64", "float32"]
DTYPES: tuple[str, ...] = get_args(DType)


# ---------------------------------------------------------------------------------------------
# Progress


@runtime_checkable
class Progress(Protocol):
    """Progress reporting a run may use; the CLI supplies progress bars."""

    def task(self, description: str, total: int) -> Any:
        """A context manager yielding ``advance(steps=1)``."""


class SilentProgress:
    """Progress that shows nothing (library use, tests, and shards computed on workers)."""

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        yield lambda steps=1: None


@contextmanager
def progress_task(progress: object, description: str, total: int) -> Iterator[Callable | None]:
    """The ``advance(n)`` callable of one task of ``progress``, for the block.

    ``progress`` is a :class:`Progress` (a task named ``description`` of ``total`` units is
    opened), a bare ``advance(n)`` callable (used as it is), or None (yields None).

    Raises:
        TypeError: anything else, naming ``progress``.
    """
    if progress is None:
        yield None
    elif isinstance(progress, Progress):
        with progress.task(description, total) as advance:
            yield advance
    elif callable(progress):
        yield progress
    else:
        raise TypeError(
            "progress must be None, a Progress (with task(description, total)) or a callable "
            f"advance(n), got {type(progress).__name__}"
        )


# ---------------------------------------------------------------------------------------------
# Threads, devices, dtypes


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block on ``n`` torch CPU threads (None: as they are), restoring the count after.

    Raises:
        ValueError, TypeError: ``n`` not a positive integer or None.
    """
    if n is None:
        yield
        return
    n = check.positive_integer("n", n)
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def device_of(name: Device | Literal["auto"]) -> torch.device:
    """The torch device ``name`` stands for: one of DEVICES, or "auto" (CUDA when available).

    Raises:
        ValueError: another name, or "cuda" where PyTorch sees no CUDA device.
    """
    choices = ("auto", *DEVICES)
    if not isinstance(name, str) or name not in choices:
        raise ValueError(f"device must be one of {', '.join(choices)}, got {name!r}")
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device is 'cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def dtype_of(name: DType) -> torch.dtype:
    """The torch dtype ``name`` (one of DTYPES) stands for.

    Raises:
        ValueError: another name.
    """
    if not isinstance(name, str) or name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {name!r}")
    import torch

    return getattr(torch, name)


# ---------------------------------------------------------------------------------------------
# Log-spaced steps


def log_schedule(
    max_steps: int | None = None, *, per_decade: int = 1, first: int | None = None
) -> np.ndarray | Iterator[int]:
    """0 and the integers nearest 10^(k/per_decade), k = 0, 1, 2, …, from ``first`` on, each once.

    Args:
        max_steps: the last step, in [1, MAX_STEPS]: the points below it, then ``max_steps``
            itself, as an int64 array; None: every point, as an endless iterator.
        per_decade: points per factor of 10, at most 1000.
        first: the smallest positive point; None: 10 at one point per decade (the reference's
            checkpoints 0, 10, 100, …), else 1 (0, 1, 2, …).

    Returns:
        Strictly increasing integer steps starting at 0 (an array ending at ``max_steps``, or an
        iterator).

    Raises:
        ValueError, TypeError: ``max_steps``, ``per_decade`` or ``first`` out of range (naming it).
    """
    per_decade = check.positive_integer("per_decade", per_decade, maximum=1000)
    if first is None:
        first = 10 if per_decade == 1 else 1
    first = check.positive_integer("first", first)
    if max_steps is None:
        return _log_points(per_decade, first)
    max_steps = check.step_count("max_steps", max_steps)
    points = [0]
    for point in _log_points(per_decade, first):
        if point >= max_steps:
            break
        points.append(point)
    return np.array(sorted({*points, max_steps}), dtype=np.int64)


def _log_points(per_decade: int, first: int) -> Iterator[int]:
    yield 0
    last = 0
    for k in count():
        point = round(10 ** (k / per_decade))
        if point > last and point >= first:
            last = point
            yield point
