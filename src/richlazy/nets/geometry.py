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
    """τ > 0 and δ as finite float64 arrays (the rates are checked too)."""
    tau, delta = check.positive_array("tau", tau), check.finite_array("delta", delta)
    check.positive_array("eta_a", eta_a)
    check.positive_array("eta_w", eta_w)
    return tau, delta


def alpha_from(tau, delta, *, eta_a=1.0, eta_w=1.0) -> np.ndarray:
    """α with τ²(η_w α² − η_a α⁻²) = δ: α² = (δ/τ² + √(δ²/τ⁴ + 4η_aη_w))/(2η_w).

    Computed without cancellation for large negative δ/τ². Where δ/τ² or its square would
    overflow or lose precision (|δ|/τ² beyond 1e150, or τ² subnormal), it is computed in log
    space instead, log α² = ±(log|δ/τ²| + log(1 + √(1 + q²))) − log 2η with
    q = 2√(η_aη_w)τ²/|δ|: τ = 1e-80 with δ = 1 gives α = 1e80. Where the answer itself does not
    fit a float64 it is inf or 0.

    Raises:
        ValueError: τ ≤ 0 or not finite, δ not finite, or a non-positive rate.
    """
    tau, delta = _checked(tau, delta, eta_a, eta_w)
    eta_a, eta_w = np.asarray(eta_a, dtype=float), np.asarray(eta_w, dtype=float)
    with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
        tau2 = tau**2
        ratio = delta / tau2
        root = np.sqrt(ratio**2 + 4 * eta_a * eta_w)
        # Both branches are evaluated by np.where: with |ratio| neither cancels nor divides by 0.
        alpha2 = np.where(
            ratio >= 0, (root + np.abs(ratio)) / (2 * eta_w), 2 * eta_a / (root + np.abs(ratio))
        )
        direct = (np.abs(ratio) < 1e150) & (tau2 >= np.finfo(float).tiny) & np.isfinite(alpha2)
    if np.all(direct):
        return np.sqrt(alpha2)
    return np.where(direct, np.sqrt(alpha2), _alpha_in_log_space(tau, delta, eta_a, eta_w))


def _alpha_in_log_space(tau, delta, eta_a, eta_w) -> np.ndarray:
    """α of :func:`alpha_from` from logarithms (nothing overflows before the final exp)."""
    with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
        log_ratio = np.log(np.abs(delta)) - 2 * np.log(tau)  # log|δ/τ²|, −inf at δ = 0
        log_q = np.log(2.0) + (np.log(eta_a) + np.log(eta_w)) / 2 - log_ratio
        # log(1 + √(1 + q²)): for q > 1 as log q + log(1/q + √(1/q² + 1)).
        big = log_q > 0
        inverse = np.exp(-np.where(big, log_q, 0.0))
        grow = np.where(
            big,
            log_q + np.log(inverse + np.sqrt(inverse**2 + 1)),
            np.log1p(np.sqrt(1 + np.exp(2 * np.where(big, 0.0, log_q)))),
        )
        magnitude = log_ratio + grow  # log(|r| + √(r² + 4η_aη_w)), r = δ/τ²
        log_alpha2 = np.where(
            delta > 0, magnitude - np.log(2 * eta_w), np.log(2 * eta_a) - magnitude
        )
        balanced = (np.log(eta_a) - np.log(eta_w)) / 2  # δ = 0: α² = √(η_a/η_w)
        return np.exp(np.where(delta == 0, balanced, log_alpha2) / 2)


def delta_from(tau, alpha, *, eta_a=1.0, eta_w=1.0) -> np.ndarray:
    """δ = τ²(η_w α² − η_a α⁻²), the inverse of :func:`alpha_from`."""
    alpha = check.positive_array("alpha", alpha)
    tau, _ = _checked(tau, 0.0, eta_a, eta_w)
    return tau**2 * (eta_w * alpha**2 - eta_a / alpha**2)


def weight_scales(tau, delta, *, eta_a=1.0, eta_w=1.0, dtype="float64") -> tuple:
    """The initial weight scales (τ/α, τα) of cells (τ, δ): ‖w_k‖ and |a_k| (docs/theory.md §5.1).

    Args:
        dtype: the dtype the networks are built in ("float64" or "float32", or torch's name
            such as "torch.float32"): each scale must be finite and > 0 in it.

    Raises:
        ValueError: naming tau and delta and the first cell whose scales overflow or vanish in
            ``dtype`` (such a network would start at inf or at exactly 0).
    """
    tau_array, delta_array = _checked(tau, delta, eta_a, eta_w)
    alpha = alpha_from(tau_array, delta_array, eta_a=eta_a, eta_w=eta_w)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        scale_w, scale_a = tau_array / alpha, tau_array * alpha
    kind = np.dtype(str(dtype).removeprefix("torch."))
    with np.errstate(over="ignore", under="ignore"):
        cast = [np.asarray(x, dtype=kind) for x in (scale_w, scale_a)]
    bad = np.atleast_1d(
        ~((cast[0] > 0) & np.isfinite(cast[0]) & (cast[1] > 0) & np.isfinite(cast[1]))
    )
    if np.any(bad):
        first = int(np.flatnonzero(bad)[0])
        tau_bad, delta_bad, w_bad, a_bad = (
            np.broadcast_to(np.atleast_1d(x), bad.shape).ravel()[first]
            for x in (tau_array, delta_array, scale_w, scale_a)
        )
        raise ValueError(
            f"tau, delta: the cell τ = {tau_bad:.3g}, δ = {delta_bad:.3g} gives initial weights "
            f"‖w‖ = τ/α = {w_bad:.3g} and |a| = τα = {a_bad:.3g}, not finite and > 0 in "
            f"{kind.name} ({int(bad.sum())} such cell(s)); choose τ and δ of moderate size"
        )
    return scale_w, scale_a
