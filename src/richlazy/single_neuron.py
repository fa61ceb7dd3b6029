"""The minimal model of docs/theory.md §2: one hidden linear neuron f(x) = a wᵀx.

Closed-form gradient flow on whitened data (§2.1), the conserved quantity δ, the function-space
preconditioner M(β) and its NTK, the regime named by δ, a reference ODE integrator for any data,
and the implicit bias at interpolation (§2.2, in :mod:`richlazy._implicit_bias`). NumPy float64
only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from richlazy import _closed_form, _ode
from richlazy import _validate as check
from richlazy._implicit_bias import (
    CrossingError,
    interpolant,
    potential,
    potential_gradient,
    readout_magnitude,
)
from richlazy._kernel import kernel_distance

__all__ = [
    "CrossingError",
    "Regime",
    "Trajectory",
    "asymptotic_preconditioner",
    "closed_form_threads",
    "conserved_quantity",
    "exact_trajectory",
    "gradient_flow",
    "initial_parameters",
    "interpolant",
    "kernel_distance",
    "ntk",
    "potential",
    "potential_gradient",
    "preconditioner",
    "regime",
]


class Regime(StrEnum):
    """The sign of δ names the initialization geometry (docs/theory.md §1)."""

    UPSTREAM = "upstream"
    BALANCED = "balanced"
    DOWNSTREAM = "downstream"

    @property
    def limit(self) -> str:
        """The learning regime this geometry tends to as |δ| grows (docs/theory.md §2)."""
        return {
            Regime.UPSTREAM: "lazy as δ → +∞: M ≈ δI, the flow is linear regression",
            Regime.BALANCED: "rich: M = √(η_aη_w)‖β‖(I + β̂β̂ᵀ)",
            Regime.DOWNSTREAM: "delayed rich as δ → −∞: M ≈ |δ|β̂β̂ᵀ, only ‖β‖ moves at first",
        }[self]


def regime(delta: float | np.ndarray, *, tol: float = 0.0) -> Regime | np.ndarray:
    """Name the geometry of δ: upstream (δ > tol), balanced (|δ| ≤ tol), downstream (δ < −tol).

    Args:
        delta: conserved quantity, a number or an array.
        tol: half-width of the band called balanced (default 0: only δ = 0 exactly).

    Returns:
        A :class:`Regime` for a scalar, an object array of them for an array.
    """
    values = check.finite_array("delta", delta)
    if not np.isfinite(tol) or tol < 0:
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")

    def name(value: float) -> Regime:
        if value > tol:
            return Regime.UPSTREAM
        return Regime.DOWNSTREAM if value < -tol else Regime.BALANCED

    if values.ndim == 0:
        return name(float(values))
    names = np.empty(values.size, dtype=object)  # filled one by one: Regime is a str subclass
    for index, value in enumerate(values.ravel()):
        names[index] = name(value)
    return names.reshape(values.shape)


def initial_parameters(
    beta0: np.ndarray, delta: float | np.ndarray, *, eta_a: float = 1.0, eta_w: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """The initialization (a0 > 0, w0) with function-space point β0 and conserved quantity δ.

    Solves η_w a² − η_a‖β0‖²/a² = δ: a0 = (η_a/η_w)^¼ ā(‖β0‖; δ/c), c = √(η_aη_w), w0 = β0/a0
    (docs/theory.md §2, §2.2). The other solution is (−a0, −w0), with the same β-trajectory.

    Args:
        beta0: shape (..., d).
        delta: shape broadcastable to beta0.shape[:-1].

    Returns:
        a0 of shape (...) and w0 of shape (..., d).

    Raises:
        ValueError: β0 = 0 with δ ≤ 0, where a0 = 0 and w0 has no direction.
    """
    beta0 = check.finite_array("beta0", beta0, min_ndim=1)
    delta = check.finite_array("delta", delta)
    eta_a, eta_w = check.positive_array("eta_a", eta_a), check.positive_array("eta_w", eta_w)
    c = np.sqrt(eta_a * eta_w)
    a0 = readout_magnitude(np.linalg.norm(beta0, axis=-1), delta / c) * (eta_a / eta_w) ** 0.25
    if np.any(a0 == 0):
        raise ValueError("beta0 = 0 with delta <= 0 leaves w0 undetermined (a0 = 0)")
    return a0, beta0 / a0[..., None]


def conserved_quantity(
    a: np.ndarray, w: np.ndarray, *, eta_a: float = 1.0, eta_w: float = 1.0
) -> np.ndarray:
    """δ = η_w a² − η_a ‖w‖², conserved by gradient flow (docs/theory.md §2).

    Args:
        a: readout weights, shape (...).
        w: input weights, shape (..., d).

    Returns:
        Array of shape broadcast(a.shape, w.shape[:-1]).
    """
    a = check.finite_array("a", a)
    w = check.finite_array("w", w, min_ndim=1)
    eta_a, eta_w = check.positive_array("eta_a", eta_a), check.positive_array("eta_w", eta_w)
    return eta_w * a**2 - eta_a * np.einsum("...d,...d->...", w, w)


def preconditioner(
    beta: np.ndarray, delta: float | np.ndarray, *, eta_a: float = 1.0, eta_w: float = 1.0
) -> np.ndarray:
    """Function-space preconditioner M(β) of β̇ = −M(β)∇_βL (docs/theory.md §2).

    M = ((s + δ)/2) I + ((s − δ)/2) β̂β̂ᵀ with s = √(δ² + 4η_aη_w‖β‖²). At β = 0 the rank-one part
    has no direction; it is dropped there (exact when δ ≥ 0).

    Args:
        beta: function-space parameter a·w, shape (..., d).
        delta: conserved quantity, shape broadcastable to beta.shape[:-1].

    Returns:
        Array of shape (..., d, d).
    """
    beta = check.finite_array("beta", beta, min_ndim=1)
    delta = check.finite_array("delta", delta)
    eta_a, eta_w = check.positive_array("eta_a", eta_a), check.positive_array("eta_w", eta_w)
    norm2 = np.einsum("...d,...d->...", beta, beta)
    four_c2_r2 = 4.0 * eta_a * eta_w * norm2
    with np.errstate(over="ignore"):  # δ² overflows past |δ| ≈ 1.3e154: hypot there
        s = np.where(
            np.abs(delta) < 1e150,
            np.sqrt(delta**2 + four_c2_r2),
            np.hypot(delta, np.sqrt(four_c2_r2)),
        )  # √(δ² + 4η_aη_w‖β‖²)
    with np.errstate(divide="ignore", invalid="ignore"):
        # s ± δ without cancellation: (s + δ)(s − δ) = 4η_aη_w‖β‖².
        s_plus = np.where(delta >= 0, s + delta, four_c2_r2 / (s - delta))
        s_minus = np.where(delta <= 0, s - delta, four_c2_r2 / (s + delta))
        s_minus = np.where(norm2 > 0, s_minus, 0.0)
        beta_hat = beta / np.sqrt(np.where(norm2 > 0, norm2, 1.0))[..., None]
    identity = np.eye(beta.shape[-1])
    return (s_plus[..., None, None] / 2) * identity + (s_minus[..., None, None] / 2) * (
        beta_hat[..., :, None] * beta_hat[..., None, :]
    )


def asymptotic_preconditioner(
    beta: np.ndarray, delta: float, *, eta_a: float = 1.0, eta_w: float = 1.0
) -> np.ndarray:
    """Leading-order M(β) in the regime of δ (docs/theory.md §2, 'Limits').

    Upstream: δI (lazy). Balanced: √(η_aη_w)‖β‖(I + β̂β̂ᵀ) (exact). Downstream: |δ|β̂β̂ᵀ.
    The relative error of the upstream and downstream forms vanishes as |δ| → ∞.
    """
    beta = check.finite_array("beta", beta, min_ndim=1)
    delta = float(check.finite_array("delta", delta, ndim=0))
    eta_a, eta_w = check.positive_array("eta_a", eta_a), check.positive_array("eta_w", eta_w)
    norm = np.linalg.norm(beta, axis=-1)
    beta_hat = beta / np.where(norm > 0, norm, 1.0)[..., None]
    outer = beta_hat[..., :, None] * beta_hat[..., None, :]
    identity = np.eye(beta.shape[-1])
    if delta > 0:
        return delta * np.broadcast_to(identity, outer.shape).copy()
    if delta < 0:
        return -delta * outer
    return (np.sqrt(eta_a * eta_w) * norm)[..., None, None] * (identity + outer)


def ntk(
    X: np.ndarray, a: np.ndarray, w: np.ndarray, *, eta_a: float = 1.0, eta_w: float = 1.0
) -> np.ndarray:
    """NTK matrix K = X M Xᵀ = η_w a² XXᵀ + η_a (Xw)(Xw)ᵀ of f(x) = a wᵀx (docs/theory.md §2).

    Args:
        X: inputs, shape (n, d).
        a: readouts, shape (...).
        w: input weights, shape (..., d).

    Returns:
        Array of shape (..., n, n).
    """
    X = check.finite_array("X", X, ndim=2)
    a = check.finite_array("a", a)
    w = check.finite_array("w", w, min_ndim=1)
    check.matching_last_axis("w", w, X.shape[1], "X")
    eta_a, eta_w = check.positive_array("eta_a", eta_a), check.positive_array("eta_w", eta_w)
    gram = X @ X.T  # (n, n)
    features = w @ X.T  # (..., n)
    return (eta_w * a**2)[..., None, None] * gram + np.asarray(eta_a)[..., None, None] * features[
        ..., :, None
    ] * features[..., None, :]


@dataclass(frozen=True)
class Trajectory:
    """A single-neuron gradient-flow trajectory sampled at times ``t``.

    Attributes:
        t: times, shape (T,).
        a: readout a(t), shape (..., T).
        w: input weights w(t), shape (..., T, d).
        beta_star: the target β* (whitened data) or least-squares solution, shape (..., d).
        delta: conserved quantity δ = η_w a² − η_a‖w‖² of the initial condition, shape (...).
        eta_a, eta_w: learning rates, broadcastable to (...).
    """

    t: np.ndarray
    a: np.ndarray
    w: np.ndarray
    beta_star: np.ndarray
    delta: np.ndarray
    eta_a: np.ndarray
    eta_w: np.ndarray

    @property
    def beta(self) -> np.ndarray:
        """Function-space parameter β = a w, shape (..., T, d)."""
        return self.a[..., None] * self.w

    @property
    def mu(self) -> np.ndarray:
        """Signed magnitude μ = a‖w‖, shape (..., T)."""
        return self.a * np.linalg.norm(self.w, axis=-1)

    @property
    def phi(self) -> np.ndarray:
        """Alignment φ = w·β*/(‖w‖‖β*‖), shape (..., T); 0 where w = 0 or β* = 0."""
        beta_star = self.beta_star[..., None, :]  # (..., 1, d)
        norms = np.linalg.norm(self.w, axis=-1) * np.linalg.norm(beta_star, axis=-1)
        inner = np.einsum("...td,...td->...t", self.w, np.broadcast_to(beta_star, self.w.shape))
        return np.where(norms > 0, inner / np.where(norms > 0, norms, 1.0), 0.0)

    def conservation_drift(self) -> np.ndarray:
        """max_t |δ(t) − δ(0)| / max(1, |δ(0)|), shape (...): zero up to rounding for the flow."""
        eta_a, eta_w = np.asarray(self.eta_a)[..., None], np.asarray(self.eta_w)[..., None]
        delta_t = eta_w * self.a**2 - eta_a * np.einsum("...d,...d->...", self.w, self.w)
        return np.max(np.abs(delta_t - self.delta[..., None]), axis=-1) / np.maximum(
            1.0, np.abs(self.delta)
        )


def exact_trajectory(
    a0: np.ndarray,
    w0: np.ndarray,
    beta_star: np.ndarray,
    t: np.ndarray,
    *,
    eta_a: float | np.ndarray = 1.0,
    eta_w: float | np.ndarray = 1.0,
) -> Trajectory:
    """Closed-form gradient flow of f(x) = a wᵀx on whitened data, XᵀX = I (docs/theory.md §2.1).

    Exact for every δ (any sign, including δ = 0), a0 = 0, β* = 0 and any positive learning
    rates; every exponential is evaluated in a scaled (log-domain) form, so t up to 1e6 and |δ|
    up to 1e6 give neither overflow nor NaN.

    Args:
        a0: initial readouts, shape (...).
        w0: initial input weights, shape (..., d).
        beta_star: target Xᵀy, shape (..., d) or (d,).
        t: times, shape (T,), non-negative and sorted.
        eta_a, eta_w: learning rates, positive, broadcastable to the batch shape.

    Returns:
        A :class:`Trajectory` with ``a`` of shape (..., T) and ``w`` of shape (..., T, d).

    Raises:
        ValueError: naming the argument for non-finite values, non-positive rates, mismatched
            shapes, or negative or unsorted times.
    """
    a0, w0, beta_star, t, eta_a, eta_w, batch = _checked_inputs(a0, w0, beta_star, t, eta_a, eta_w)
    d = w0.shape[-1]
    # Reduce to unit rates (docs/theory.md §2): â = a (η_w/η_a)^¼, ŵ = w (η_a/η_w)^¼, time c·t.
    # Roots before products and quotients: rates up to 1e300 neither overflow nor underflow.
    ratio = np.broadcast_to(np.sqrt(np.sqrt(eta_w)) / np.sqrt(np.sqrt(eta_a)), batch)
    ratio = ratio.reshape(-1, 1)  # (B, 1)
    c = np.sqrt(eta_a) * np.sqrt(eta_w)
    with np.errstate(over="ignore"):
        unit_time = (
            (c * t)[None, :]
            if c.ndim == 0
            else (np.broadcast_to(c, batch).reshape(-1, 1) * t[None, :])
        )  # (1 or B, T)
    if not np.all(np.isfinite(unit_time)):
        raise ValueError(
            f"eta_a, eta_w: the unit-rate time √(η_aη_w)·t overflows float64 (t up to "
            f"{t[-1]:.3g}, √(η_aη_w) up to {np.max(c):.3g}); use smaller rates or times"
        )
    a_hat = np.broadcast_to(a0, batch).reshape(-1) * ratio[:, 0]  # (B,)
    w_hat = np.broadcast_to(w0, (*batch, d)).reshape(-1, d) / ratio  # (B, d)
    target = np.broadcast_to(beta_star, (*batch, d)).reshape(-1, d)  # (B, d)
    s = np.linalg.norm(target, axis=-1)  # (B,)
    beta_hat = target / np.where(s > 0, s, 1.0)[:, None]  # (B, d)
    u0 = np.einsum("bd,bd->b", w_hat, beta_hat)  # (B,)
    w_perp0 = w_hat - u0[:, None] * beta_hat  # (B, d)
    # Values whose squares overflow give inf or NaN here, refused just below by name.
    with np.errstate(over="ignore", invalid="ignore"):
        delta_hat = a_hat**2 - np.einsum("bd,bd->b", w_hat, w_hat)  # (B,)
        coefficients = _closed_form.coefficients(a_hat, u0, delta_hat, s)
        # Undo the rate reduction in the (B,)-sized inputs rather than the (B, T)-sized outputs.
        a, w = _closed_form.evaluate(
            coefficients, unit_time, beta_hat * ratio, w_perp0 * ratio, 1 / ratio
        )  # (B, T), (B, T, d)
    a = check.finite_result(a.reshape(*batch, t.size), "a0, w0, beta_star, eta_a, eta_w")
    w = check.finite_result(w.reshape(*batch, t.size, d), "a0, w0, beta_star, eta_a, eta_w")
    return Trajectory(
        t=t,
        a=a,
        w=w,
        beta_star=np.broadcast_to(beta_star, (*batch, d)),
        delta=_initial_delta(a0, w0, batch, eta_a, eta_w),
        eta_a=eta_a,
        eta_w=eta_w,
    )


def closed_form_threads() -> int:
    """How many threads :func:`exact_trajectory` shares large evaluations among: the cores this
    process may run on, at most OMP_NUM_THREADS where that is set (docs/theory.md §2.1)."""
    return _closed_form.threads()


def _initial_delta(a0, w0, batch, eta_a, eta_w) -> np.ndarray:
    """δ of the initial condition, broadcast to the batch shape."""
    w0 = np.broadcast_to(w0, (*batch, w0.shape[-1]))
    with np.errstate(over="ignore", invalid="ignore"):  # inf for values beyond 1e154
        return eta_w * np.broadcast_to(a0, batch) ** 2 - eta_a * np.einsum("...d,...d->...", w0, w0)


def _checked_inputs(a0, w0, beta_star, t, eta_a, eta_w):
    a0 = check.finite_array("a0", a0)
    w0 = check.finite_array("w0", w0, min_ndim=1)
    beta_star = check.finite_array("beta_star", beta_star, min_ndim=1)
    check.matching_last_axis("beta_star", beta_star, w0.shape[-1], "w0")
    t = check.time_grid("t", t)
    eta_a, eta_w = check.positive_array("eta_a", eta_a), check.positive_array("eta_w", eta_w)
    batch = check.broadcast_batch(
        a0=(a0, 0), w0=(w0, 1), beta_star=(beta_star, 1), eta_a=(eta_a, 0), eta_w=(eta_w, 0)
    )
    return a0, w0, beta_star, t, eta_a, eta_w, batch


def gradient_flow(
    a0: np.ndarray,
    w0: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    *,
    eta_a: float = 1.0,
    eta_w: float = 1.0,
    rtol: float = 1e-10,
) -> Trajectory:
    """Reference integrator of gradient flow for f(x) = a wᵀx on any data (docs/theory.md §2).

    Integrates ȧ = −η_a wᵀXᵀr, ẇ = −η_w a Xᵀr, r = Xaw − y, with SciPy's DOP853, one
    initialization at a time. It is the oracle the closed form is tested against.

    Args:
        a0: initial readouts, shape (...).
        w0: initial input weights, shape (..., d).
        X: inputs, shape (n, d); y: targets, shape (n,).
        t: times, shape (T,), non-negative and sorted.
        eta_a, eta_w: positive learning rates (numbers).
        rtol: relative tolerance of the integrator; atol is rtol·1e-3·max|initial state|.

    Returns:
        A :class:`Trajectory`; its ``beta_star`` is the minimum-norm least-squares solution.
    """
    a0 = check.finite_array("a0", a0)
    w0 = check.finite_array("w0", w0, min_ndim=1)
    X = check.finite_array("X", X, ndim=2)
    y = check.finite_array("y", y, ndim=1)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y has {y.shape[0]} entries but X has {X.shape[0]} rows; they must match")
    check.matching_last_axis("w0", w0, X.shape[1], "X")
    t = check.time_grid("t", t)
    eta_a, eta_w = check.positive_float("eta_a", eta_a), check.positive_float("eta_w", eta_w)
    rtol = check.positive_float("rtol", rtol)
    batch = check.broadcast_batch(a0=(a0, 0), w0=(w0, 1))
    d = X.shape[1]
    gram, target = X.T @ X, X.T @ y  # (d, d), (d,)

    def rhs(_: float, state: np.ndarray) -> np.ndarray:
        a, w = state[0], state[1:]
        gradient = gram @ (a * w) - target  # ∇_β L, (d,)
        return np.concatenate(([-eta_a * (w @ gradient)], -eta_w * a * gradient))

    a0_flat = np.broadcast_to(a0, batch).reshape(-1)
    w0_flat = np.broadcast_to(w0, (*batch, d)).reshape(-1, d)
    a_out = np.empty((a0_flat.size, t.size))
    w_out = np.empty((a0_flat.size, t.size, d))
    for index in range(a0_flat.size):
        state0 = np.concatenate(([a0_flat[index]], w0_flat[index]))
        if t[-1] == 0:
            a_out[index], w_out[index] = state0[0], state0[1:]
            continue
        # atol follows the initial state's size, so tiny states near a saddle stay accurate.
        scale = max(np.abs(state0).max(), np.finfo(float).tiny)
        solution = _ode.integrate(
            rhs,
            float(t[-1]),
            state0,
            what=f"the single-neuron flow (initialization {index})",
            state_name="a0, w0",
            method="DOP853",
            t_eval=t,
            rtol=rtol,
            atol=rtol * 1e-3 * scale,
        )
        a_out[index], w_out[index] = solution.y[0], solution.y[1:].T
    beta_star = np.linalg.lstsq(X, y, rcond=None)[0]
    a_out, w_out = a_out.reshape(*batch, t.size), w_out.reshape(*batch, t.size, d)
    return Trajectory(
        t=t,
        a=a_out,
        w=w_out,
        beta_star=np.broadcast_to(beta_star, (*batch, d)),
        delta=_initial_delta(a0, w0, batch, eta_a, eta_w),
        eta_a=np.asarray(eta_a),
        eta_w=np.asarray(eta_w),
    )
