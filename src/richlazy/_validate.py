"""Input checks shared by the theory modules.

Every check raises ``ValueError`` (or ``TypeError`` for the wrong kind of object) with a message
that names the argument and says what is accepted, as docs/architecture.md asks.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np


def finite_array(
    name: str, value: object, *, ndim: int | None = None, min_ndim: int = 0
) -> np.ndarray:
    """Return ``value`` as a float64 array, checking that it is numeric and finite.

    Args:
        name: the argument's name, used in error messages.
        value: anything ``np.asarray`` accepts.
        ndim: the exact number of dimensions required, if any.
        min_ndim: the least number of dimensions required.

    Raises:
        TypeError: if ``value`` is not numeric.
        ValueError: if it has NaN or infinite entries or the wrong number of dimensions.
    """
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name} must be a real number or array of real numbers, got {type(value).__name__}"
        ) from error
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {array.shape}")
    if array.ndim < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} dimension(s), got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return array


def positive_array(name: str, value: object) -> np.ndarray:
    """Return ``value`` as a finite float64 array whose entries are all > 0."""
    array = finite_array(name, value)
    if np.any(array <= 0):
        raise ValueError(f"{name} must be positive, got {value!r}")
    return array


def positive_float(name: str, value: object) -> float:
    """Return ``value`` as a finite float > 0."""
    array = positive_array(name, value)
    if array.ndim != 0:
        raise ValueError(f"{name} must be a single number, got shape {array.shape}")
    return float(array)


def positive_integer(name: str, value: object) -> int:
    """Return ``value`` as an int >= 1 (whole-valued floats such as 1e3 included).

    Raises:
        TypeError: for a bool or something that is not a real number.
        ValueError: for a fraction, a non-finite number or a value below 1.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be an integer >= 1, got {type(value).__name__}")
    if not math.isfinite(value) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def time_grid(name: str, value: object) -> np.ndarray:
    """Return a 1-D grid of times that are finite, non-negative and non-decreasing."""
    times = finite_array(name, value)
    if times.ndim == 0:
        times = times[None]
    if times.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of times, got shape {times.shape}")
    if np.any(times < 0):
        raise ValueError(f"{name} must be non-negative, got min {times.min():g}")
    if np.any(np.diff(times) < 0):
        raise ValueError(f"{name} must be sorted in non-decreasing order")
    return times


def matching_last_axis(name: str, array: np.ndarray, expected: int, other: str) -> None:
    """Check that ``array``'s last axis has length ``expected`` (the length of ``other``'s)."""
    if array.shape[-1] != expected:
        raise ValueError(
            f"{name} has last dimension {array.shape[-1]} but {other} has "
            f"{expected}; they must match"
        )


def broadcast_batch(**arrays: tuple[np.ndarray, int]) -> tuple[int, ...]:
    """Broadcast the batch shapes of several arrays, each given with its number of core axes.

    Example: ``broadcast_batch(a0=(a0, 0), w0=(w0, 1))`` broadcasts ``a0.shape`` with
    ``w0.shape[:-1]``.

    Raises:
        ValueError: naming the arguments whose batch shapes do not broadcast.
    """
    shapes = {name: array.shape[: array.ndim - core] for name, (array, core) in arrays.items()}
    try:
        return np.broadcast_shapes(*shapes.values())
    except ValueError as error:
        listing = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"batch shapes do not broadcast: {listing}") from error


def require(condition: bool, message: str) -> None:
    """Raise ValueError(message) unless ``condition`` (for checks no helper above covers)."""
    if not condition:
        raise ValueError(message)
