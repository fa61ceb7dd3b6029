"""Kernel distance between NTK matrices (docs/theory.md §0), in NumPy."""

from __future__ import annotations

import numpy as np

from richlazy import _validate as check


def kernel_distance(K0: np.ndarray, Kt: np.ndarray) -> np.ndarray:
    """Kernel distance S = 1 − ⟨K0, Kt⟩_F / (‖K0‖_F ‖Kt‖_F), batched over leading axes.

    S ≈ 0 means the kernel kept its shape (lazy); 0 ≪ S ≤ 1 means it moved (rich).

    Args:
        K0: kernel matrices, shape (..., n, n).
        Kt: kernel matrices, shape (..., n, n), broadcastable against ``K0``.

    Returns:
        Array of shape ``broadcast(K0, Kt).shape[:-2]``, exactly 0 where the kernels are equal.
        Where either kernel is identically zero the distance is undefined and NaN is returned.

    Raises:
        ValueError: if an argument is not a stack of square matrices, is not finite, or the
            batch shapes do not broadcast.
        TypeError: for non-numeric or complex kernels.
    """
    K0 = check.finite_array("K0", K0)
    Kt = check.finite_array("Kt", Kt)
    for name, K in (("K0", K0), ("Kt", Kt)):
        if K.ndim < 2 or K.shape[-1] != K.shape[-2] or K.shape[-1] == 0:
            raise ValueError(f"{name} must have shape (..., n, n) with n >= 1, got {K.shape}")
    check.broadcast_batch(K0=(K0, 2), Kt=(Kt, 2))
    # Each kernel is divided by its largest |entry| first, so the inner product and the norms
    # neither overflow (entries 1e200) nor underflow (1e-200); S is invariant to the scaling.
    K0, Kt = _normalized(K0), _normalized(Kt)
    inner = np.einsum("...ij,...ij->...", K0, Kt)
    norms = np.sqrt(np.einsum("...ij,...ij->...", K0, K0) * np.einsum("...ij,...ij->...", Kt, Kt))
    with np.errstate(invalid="ignore", divide="ignore"):
        distance = np.where(norms > 0, 1.0 - inner / np.where(norms > 0, norms, 1.0), np.nan)
    # S(K, K) = 0 exactly: the rounding of the norms would leave ±1e-16 (invisible on log axes).
    same = np.all(Kt == K0, axis=(-2, -1)) & (norms > 0)
    return np.where(same, 0.0, distance)


def _normalized(K: np.ndarray) -> np.ndarray:
    """K / max|K| per matrix (a zero matrix stays zero)."""
    peak = np.max(np.abs(K), axis=(-2, -1), keepdims=True)
    return K / np.where(peak > 0, peak, 1.0)
