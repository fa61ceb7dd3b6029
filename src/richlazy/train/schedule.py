"""Checkpoint schedules, counted in reference gradient-descent steps."""

from __future__ import annotations

import numpy as np

from richlazy import _validate as check


def log_schedule(max_steps: int, *, per_decade: int = 1) -> np.ndarray:
    """0 and log-spaced step counts up to ``max_steps`` (default: 0, 10, 100, ..., max_steps).

    Args:
        max_steps: the last checkpoint, ≥ 1.
        per_decade: checkpoints per factor of 10.

    Returns:
        Strictly increasing integer steps starting at 0 and ending at ``max_steps``.
    """
    max_steps = check.positive_integer("max_steps", max_steps)
    per_decade = check.positive_integer("per_decade", per_decade)
    # Points 10^(j/per_decade) below max_steps, anchored at powers of ten (1, 10, 100, ...).
    exponents = np.arange(int(np.floor(np.log10(max_steps) * per_decade + 1e-9)) + 1) / per_decade
    points = np.unique(np.round(10**exponents).astype(np.int64))
    if per_decade == 1:
        points = points[points >= min(10, max_steps)]  # the reference's 0, 10, 100, ...
    return np.unique(np.concatenate([[0], points[points < max_steps], [max_steps]]))


def checked_schedule(steps) -> np.ndarray:
    """``steps`` as a validated schedule: integers ≥ 0, strictly increasing, at least one.

    Raises:
        ValueError: naming what is wrong with the schedule.
    """
    array = np.asarray(steps)
    if array.ndim != 1 or array.size == 0:
        raise ValueError("checkpoints must be a non-empty 1-D sequence of step counts")
    if not np.all(np.isfinite(array)) or np.any(array != np.round(array)) or np.any(array < 0):
        raise ValueError("checkpoints must be whole numbers of steps >= 0")
    if np.any(np.diff(array) <= 0):
        raise ValueError("checkpoints must be strictly increasing")
    return array.astype(np.int64)
