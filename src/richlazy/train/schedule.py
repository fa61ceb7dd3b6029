"""Checkpoint schedules, counted in reference gradient-descent steps (``log_schedule`` is
``richlazy.runtime.log_schedule``, imported here under its old path)."""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from richlazy import _validate as check
from richlazy.runtime import log_schedule

__all__ = ["checked_schedule", "log_schedule"]


def checked_schedule(steps) -> np.ndarray:
    """``steps`` as a validated schedule: integers in [0, MAX_STEPS], strictly increasing, at
    least one.

    Counts are checked before any conversion to int64, so 2**63 or 10**29 is refused rather than
    wrapped around (MAX_STEPS = 1e9, richlazy.train.MAX_STEPS).

    Raises:
        TypeError: not a sequence of real numbers (strings, complex numbers, None).
        ValueError: naming what is wrong with the schedule.
    """
    if isinstance(steps, str | bytes):
        raise TypeError("checkpoints must be a sequence of step counts, got a string")
    try:
        items = [steps] if np.ndim(steps) == 0 else list(np.asarray(steps, dtype=object).ravel())
        ndim = np.ndim(steps)
    except (TypeError, ValueError):
        raise TypeError(
            f"checkpoints must be a 1-D sequence of step counts, got {type(steps).__name__}"
        ) from None
    if ndim != 1 or not items:
        raise ValueError("checkpoints must be a non-empty 1-D sequence of step counts")
    counts = []
    for i, item in enumerate(items):
        try:
            counts.append(check.integer("checkpoints", item, maximum=check.MAX_STEPS))
        except (TypeError, ValueError) as error:
            raise type(error)(
                f"checkpoints must be whole numbers of steps in [0, {check.MAX_STEPS:.0e}] "
                f"(richlazy.train.MAX_STEPS), got checkpoints[{i}] = {item!r}"
            ) from None
    if any(b <= a for a, b in pairwise(counts)):
        raise ValueError("checkpoints must be strictly increasing")
    return np.array(counts, dtype=np.int64)
