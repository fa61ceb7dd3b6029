"""Kernel distance between NTK matrices (docs/theory.md §0), in NumPy."""

from __future__ import annotations

import numpy as np


def kernel_distance(K0: np.ndarray, Kt: np.ndarray) -> np.ndarray:
    """Kernel distance S = 1 − ⟨K0, Kt⟩_F / (‖K0‖_F ‖Kt‖_F), batched over leading axes.

    S ≈ 0 means the kernel kept its shape (lazy); 0 ≪ S ≤ 1 means it moved (rich).

    Args:
        K0: kernel matrices, shape (..., n, n).
        Kt: kernel matrices, shape (..., n, n), broadcastable against ``K0``.

    Returns:
        Array of shape ``broadcast(K0, Kt).shape[:-2]``. Where either kernel is identically
        zero the distance is undefined and NaN is returned.

    Raises:
        ValueError: if an argument is not a stack of square matrices or is not finite.
    """
    K0 = np.asarray(K0, dtype=np.float64)
    Kt = np.asarray(Kt, dtype=np.float64)
    for name, K in (("K0", K0), ("Kt", Kt)):
        if K.ndim < 2 or K.shape[-1] != K.shape[-2]:
            raise ValueError(f"{name} must have shape (..., n, n), got {K.shape}")
        if not np.all(np.isfinite(K)):
            raise ValueError(f"{name} must be finite (no NaN or inf)")
    inner = np.einsum("...ij,...ij->...", K0, Kt)
    norms = np.sqrt(np.einsum("...ij,...ij->...", K0, K0) * np.einsum("...ij,...ij->...", Kt, Kt))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, 1.0 - inner / np.where(norms > 0, norms, 1.0), np.nan)
