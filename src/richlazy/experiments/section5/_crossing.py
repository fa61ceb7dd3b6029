"""Where a measured curve crosses a threshold: the extraction behind fig6c and fig6d
(docs/section5-structure.md). Pure NumPy functions of arrays, tested on hand-made curves.

- :func:`first_step_above`: the first measured step at which a curve exceeds a threshold (the
  steps to generalize or to memorize); NaN, and censored, where it never does;
- :func:`sample_complexity`: the smallest training-set size P at which a test error falls below
  a threshold, interpolated linearly in log P between the two sizes around the first crossing;
  NaN where it never falls below (censored above) or is below already at the smallest size
  (censored below: P* is then at most that size).
"""

from __future__ import annotations

import numpy as np

__all__ = ["CENSORED_ABOVE", "CENSORED_BELOW", "first_step_above", "sample_complexity"]

#: ``sample_complexity``'s flags: the error never fell below the threshold in the sizes tried,
#: or was already below it at the smallest (0: interpolated).
CENSORED_ABOVE = 1
CENSORED_BELOW = -1


def first_step_above(
    curves: np.ndarray, steps: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """The first step at which each curve is > ``threshold``.

    Args:
        curves: (..., S) values measured at ``steps`` (NaN entries never count as above).
        steps: (S,) increasing measured steps.
        threshold: the level to exceed.

    Returns:
        (steps (...) float, NaN where never above; censored (...) bool, True where never above).
    """
    curves = np.asarray(curves, dtype=float)
    steps = np.asarray(steps, dtype=float)
    if curves.shape[-1:] != steps.shape or steps.ndim != 1:
        raise ValueError(f"curves (..., S) and steps (S,) disagree: {curves.shape}, {steps.shape}")
    above = np.nan_to_num(curves, nan=-np.inf) > threshold  # (..., S)
    censored = ~above.any(axis=-1)
    first = steps[np.argmax(above, axis=-1)]
    return np.where(censored, np.nan, first), censored


def sample_complexity(
    errors: np.ndarray, sizes: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """The smallest size P at which each error curve falls below ``threshold``, in log P.

    With k the first size at which the error is < threshold, P* solves the line through
    (log P_{k−1}, e_{k−1}) and (log P_k, e_k) at e = threshold.

    Args:
        errors: (..., K) test errors at the sizes (NaN entries never count as below).
        sizes: (K,) increasing positive training-set sizes.
        threshold: the error level.

    Returns:
        (P* (...) float, NaN where censored; censored (...) int: 0 interpolated,
        ``CENSORED_ABOVE`` never below, ``CENSORED_BELOW`` below already at the smallest size).
        Where the error just before the first size below is NaN (a run that failed), there is
        nothing to interpolate from: P* is NaN with censored 0, i.e. "not measured".
    """
    errors = np.asarray(errors, dtype=float)
    sizes = np.asarray(sizes, dtype=float)
    if errors.shape[-1:] != sizes.shape or sizes.ndim != 1:
        raise ValueError(f"errors (..., K) and sizes (K,) disagree: {errors.shape}, {sizes.shape}")
    if np.any(sizes <= 0) or np.any(np.diff(sizes) <= 0):
        raise ValueError(f"sizes must be positive and increasing, got {sizes}")
    below = np.nan_to_num(errors, nan=np.inf) < threshold  # (..., K)
    k = np.argmax(below, axis=-1)  # (...) first size below
    censored = np.where(~below.any(axis=-1), CENSORED_ABOVE, np.where(k == 0, CENSORED_BELOW, 0))
    before = np.maximum(k - 1, 0)
    e0 = np.take_along_axis(errors, before[..., None], axis=-1)[..., 0]
    e1 = np.take_along_axis(errors, k[..., None], axis=-1)[..., 0]
    log0, log1 = np.log(sizes[before]), np.log(sizes[k])
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.clip((e0 - threshold) / (e0 - e1), 0.0, 1.0)  # e0 ≥ thr > e1 where used
    p_star = np.exp(log0 + share * (log1 - log0))
    return np.where(censored == 0, p_star, np.nan), censored.astype(np.int64)
