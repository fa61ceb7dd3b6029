"""Initialization geometry: overall scale τ and imbalance δ ↔ the layer ratio α
(docs/theory.md §5.1).

A hidden neuron starts with ‖w_k‖ = τ/α and |a_k| = ατ, so with learning rates (η_a, η_w) its
conserved quantity is δ = η_w a² − η_a‖w‖² = τ²(η_w α² − η_a α⁻²). α > 1 is upstream (δ > 0),
α = 1 balanced at unit rates, α < 1 downstream.
"""

from __future__ import annotations

import numpy as np

from richlazy import _validate as check


def _checked(tau, delta, eta_a, eta_w):
    tau, delta = check.positive_array("tau", tau), check.finite_array("delta", delta)
    check.positive_array("eta_a", eta_a)
    check.positive_array("eta_w", eta_w)
    return tau, delta


def alpha_from(tau, delta, *, eta_a=1.0, eta_w=1.0) -> np.ndarray:
    """α with τ²(η_w α² − η_a α⁻²) = δ: α² = (δ/τ² + √(δ²/τ⁴ + 4η_aη_w))/(2η_w).

    Computed without cancellation for large negative δ/τ².

    Raises:
        ValueError: τ ≤ 0 or not finite, δ not finite, or a non-positive rate.
    """
    tau, delta = _checked(tau, delta, eta_a, eta_w)
    ratio = delta / tau**2
    root = np.sqrt(ratio**2 + 4 * eta_a * eta_w)
    # Both branches are evaluated by np.where: with |ratio| neither cancels nor divides by 0.
    alpha2 = np.where(
        ratio >= 0, (root + np.abs(ratio)) / (2 * eta_w), 2 * eta_a / (root + np.abs(ratio))
    )
    return np.sqrt(alpha2)


def delta_from(tau, alpha, *, eta_a=1.0, eta_w=1.0) -> np.ndarray:
    """δ = τ²(η_w α² − η_a α⁻²), the inverse of :func:`alpha_from`."""
    alpha = check.positive_array("alpha", alpha)
    tau, _ = _checked(tau, 0.0, eta_a, eta_w)
    return tau**2 * (eta_w * alpha**2 - eta_a / alpha**2)
