"""The reference algorithm: one network at a time, full-batch GD on the MSE, in NumPy.

It follows the paper's own code: L_MSE = (1/n) Σ_i (f(x_i) − y_i)², σ'(z) = 1[z ≥ 0], and
θ ← θ − lr ∇L_MSE with a single rate for both layers (here scaled per layer by η_a, η_w). It is
the oracle the batched engine is tested against and the baseline of its benchmark.
"""

from __future__ import annotations

import numpy as np


def gradient_descent(
    W: np.ndarray,
    a: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    *,
    lr: float,
    steps: int,
    leak: float = 0.0,
    eta_a: float = 1.0,
    eta_w: float = 1.0,
    b: np.ndarray | None = None,
    checkpoints: np.ndarray | None = None,
) -> list[tuple[np.ndarray, ...]]:
    """``steps`` GD steps of one network f(x) = Σ_k a_k σ(w_kᵀx + b_k).

    Args:
        W: (m, d); a: (m,); b: (m,) or None. Copied, not modified.
        X: (n, d); y: (n,).
        lr: learning rate on the MSE.
        checkpoints: steps at which to return the parameters (default: only the last).

    Returns:
        A list of (W, a) or (W, a, b) tuples, one per checkpoint.
    """
    W, a = W.copy(), a.copy()
    b = None if b is None else b.copy()
    n = X.shape[0]
    checkpoints = np.array([steps]) if checkpoints is None else np.asarray(checkpoints)
    saved = []
    for step in range(int(checkpoints[-1]) + 1):
        if step in checkpoints:
            saved.append((W.copy(), a.copy()) if b is None else (W.copy(), a.copy(), b.copy()))
        if step == checkpoints[-1]:
            break
        pre = X @ W.T + (0 if b is None else b)  # (n, m)
        act = np.maximum(pre, leak * pre)
        residual = 2 * (y - act @ a)  # −∂(n·MSE)/∂f
        slope = np.where(pre >= 0, 1.0, leak)
        back = (residual[:, None] * a[None, :]) * slope  # (n, m)
        grad_a = -act.T @ residual
        grad_W = -back.T @ X
        a = a - lr * eta_a / n * grad_a
        W = W - lr * eta_w / n * grad_W
        if b is not None:
            b = b - lr * eta_w / n * (-back.sum(0))
    return saved
