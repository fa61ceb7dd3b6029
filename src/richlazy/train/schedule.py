"""Checkpoint schedules, counted in reference gradient-descent steps."""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from richlazy import _validate as check


def log_schedule(max_steps: int, *, per_decade: int = 1) -> np.ndarray:
    """0 and log-spaced step counts up to ``max_steps`` (default: 0, 10, 100, ..., max_steps).

    Args:
        max_steps: the last checkpoint, in [1, MAX_STEPS].
        per_decade: checkpoints per factor of 10, at most 1000.

    Returns:
        Strictly increasing integer steps starting at 0 and ending at ``max_steps``.
    """
    max_steps = check.step_count("max_steps", max_steps)
    per_decade = check.positive_integer("per_decade", per_decade, maximum=1000)
    # Points 10^(j/per_decade) below max_steps, anchored at powers of ten (1, 10, 100, ...).
    exponents = np.arange(int(np.floor(np.log10(max_steps) * per_decade + 1e-9)) + 1) / per_decade
    points = np.unique(np.round(10**exponents).astype(np.int64))
    if per_decade == 1:
        points = points[points >= min(10, max_steps)]  # the reference's 0, 10, 100, ...
    return np.unique(np.concatenate([[0], points[points < max_steps], [max_steps]]))


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
