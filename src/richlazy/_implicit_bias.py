"""Implicit bias of the single neuron at interpolation (docs/theory.md §2.2).

Gradient flow is a time-warped mirror flow with potential Q_δ(β) = q_δ(‖β‖), so on
underdetermined data it converges to argmin_{Xβ=y} Q_δ(β) − ∇Q_δ(β0)ᵀβ, unless a crosses zero.

The constrained problem is solved through its dual. The mirror map ∇Q_δ(β) = |w| β̂ has the
explicit inverse ∇Q*(v) = √((‖v‖² + δ)₊) v (since ‖β‖ = |a||w| and a² = |w|² + δ), the gradient of
the convex conjugate Q*(v) = ⅓ (‖v‖² + δ)₊^{3/2}. The optimum is β = ∇Q*(v0 + Xᵀλ) with λ the
minimiser of the smooth convex function F(λ) = Q*(v0 + Xᵀλ) − yᵀλ of only n variables.

A crossing of a = 0 flips the branch: w(t) − w0 stays in the row space of X and
∇Q(β) = sign(a) w, so the flow then reaches argmin Q_δ(β) + ∇Q_δ(β0)ᵀβ instead.
"""

from __future__ import annotations

import numpy as np

from richlazy import _ode
from richlazy import _validate as check

# |δ̂| beyond ‖β‖/√ε: the interpolant differs from its δ → ±∞ limit by O((‖β‖/δ)²) relatively,
# below rounding, so the limit is the answer (and the finite-δ solvers would work in vain).
_RESOLUTION = 1 / np.sqrt(np.finfo(float).eps)


class CrossingError(ValueError):
    """The flow from this initialization crosses a = 0, so the mirror-flow prediction fails.

    Attributes:
        flipped_interpolant: where the flow goes instead, argmin Q_δ(β) + ∇Q_δ(β0)ᵀβ on Xβ = y
            (the other basin of attraction, docs/theory.md §2.2), shape (d,).
    """

    def __init__(self, message: str, flipped_interpolant: np.ndarray):
        super().__init__(message)
        self.flipped_interpolant = flipped_interpolant


def readout_magnitude(r: np.ndarray, delta: float | np.ndarray) -> np.ndarray:
    """ā(r) = √((√(δ² + 4r²) + δ)/2): |a| when ‖β‖ = r (unit rates), without cancellation."""
    root = np.hypot(delta, 2 * r)
    with np.errstate(divide="ignore", invalid="ignore"):
        squared = np.where(delta >= 0, (root + delta) / 2, 2 * r**2 / (root - delta))
    return np.sqrt(np.where(root == 0, 0.0, squared))


def _abs_w(r: np.ndarray, delta: float | np.ndarray) -> np.ndarray:
    """|w| when ‖β‖ = r: √((√(δ² + 4r²) − δ)/2), without cancellation."""
    root = np.hypot(delta, 2 * r)
    with np.errstate(divide="ignore", invalid="ignore"):
        squared = np.where(delta <= 0, (root - delta) / 2, 2 * r**2 / (root + delta))
    return np.sqrt(np.where(root == 0, 0.0, squared))


def potential(beta: np.ndarray, delta: float) -> np.ndarray:
    """Q_δ(β) = q_δ(‖β‖), q_δ(r) = ⅔ā(r)³ − δā(r) − q_δ(0) (docs/theory.md §2.2, unit rates).

    Args:
        beta: shape (..., d).
        delta: conserved quantity (unit learning rates), finite.

    Returns:
        Array of shape (...).
    """
    beta = check.finite_array("beta", beta, min_ndim=1)
    delta = float(check.finite_array("delta", delta, ndim=0))
    r = np.linalg.norm(beta, axis=-1)
    a_r, a_0 = readout_magnitude(r, delta), readout_magnitude(np.zeros(()), delta)
    return (2 / 3) * (a_r**3 - a_0**3) - delta * (a_r - a_0)


def potential_gradient(beta: np.ndarray, delta: float) -> np.ndarray:
    """∇Q_δ(β) = |w| β̂ with |w| = √((√(δ² + 4‖β‖²) − δ)/2) (docs/theory.md §2.2); 0 at β = 0."""
    beta = check.finite_array("beta", beta, min_ndim=1)
    delta = float(check.finite_array("delta", delta, ndim=0))
    r = np.linalg.norm(beta, axis=-1)
    return (_abs_w(r, delta) / np.where(r > 0, r, 1.0))[..., None] * beta


def _mirror_descent_solution(
    X: np.ndarray, y: np.ndarray, v0: np.ndarray, delta: float, u0: float
) -> np.ndarray:
    """argmin_{Xβ=y} Q_δ(β) − v0ᵀβ, by damped Newton on the convex dual F(λ) (module doc).

    u = ‖v‖² + δ is carried as u0 + 2v0·z + ‖z‖² with z = Xᵀλ and u0 = ‖v0‖² + δ = a0² given
    exactly by the caller, which avoids cancelling ‖v‖² against δ when |δ| is large.
    """
    gram = X @ X.T  # (n, n), positive definite

    def dual(lam: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, float]:
        z = X.T @ lam  # (d,)
        v = v0 + z  # mirror coordinates
        u = max(u0 + 2 * (v0 @ z) + z @ z, 0.0)
        beta = np.sqrt(u) * v  # ∇Q*(v)
        return u**1.5 / 3 - y @ lam, X @ beta - y, v, u

    lam = np.zeros(X.shape[0])
    value, gradient, v, u = dual(lam)
    scale = max(1.0, np.abs(y).max())
    for _ in range(200):
        root = np.sqrt(u)
        if root > 0:
            hessian = root * gram + np.outer(X @ v, X @ v) / root
        else:  # β = 0 region (δ < 0): the dual is flat there, step as if u were tiny
            hessian = np.sqrt(np.finfo(float).eps) * gram
        step = -np.linalg.solve(hessian, gradient)
        size, norm = 1.0, np.linalg.norm(gradient)
        while size >= 1e-10:  # backtrack until the dual or the residual decreases
            trial = dual(lam + size * step)
            if (
                trial[0] <= value + 1e-4 * size * (gradient @ step)
                or np.linalg.norm(trial[1]) < norm
            ):
                break
            size /= 2
        else:
            break  # no step improves either: converged to rounding
        lam, (value, gradient, v, u) = lam + size * step, trial
        if np.linalg.norm(gradient) <= 1e-14 * scale:
            break
    if np.linalg.norm(gradient) > 1e-9 * scale:
        raise RuntimeError(
            f"the interpolant's dual problem did not converge "
            f"(residual {np.linalg.norm(gradient):.2e})"
        )
    return np.sqrt(u) * v


def _flow_ends_with_flipped_sign(
    X: np.ndarray, y: np.ndarray, beta0: np.ndarray, delta: float
) -> bool:
    """Simulate unit-rate gradient flow from a0 = ā(‖β0‖) > 0, w0 = β0/a0; True if a ends < 0."""
    a0 = float(readout_magnitude(np.linalg.norm(beta0), delta))
    state = np.concatenate(([a0], beta0 / a0))
    gram, target = X.T @ X, X.T @ y

    def rhs(_: float, s: np.ndarray) -> np.ndarray:
        gradient = gram @ (s[0] * s[1:]) - target
        return np.concatenate(([-(s[1:] @ gradient)], -s[0] * gradient))

    horizon, tolerance = 1.0, 1e-10 * max(1.0, np.linalg.norm(y))
    budget = _ode.Budget()  # shared by the doublings: the whole check is bounded
    for _ in range(40):
        try:
            solution = _ode.integrate(
                rhs,
                horizon,
                state,
                what="the flow (to decide whether a crosses 0)",
                state_name="beta0, delta",
                horizon_name="delta",
                budget=budget,
                method="LSODA",
                rtol=1e-9,
                atol=1e-12,
            )
        except check.WorkLimitError as error:
            raise check.WorkLimitError(
                f"{error}; or pass check_crossing=False to skip the check"
            ) from None
        state = solution.y[:, -1]
        if np.linalg.norm(X @ (state[0] * state[1:]) - y) < tolerance:
            break
        horizon *= 2
    return bool(state[0] < 0)


def interpolant(
    X: np.ndarray,
    y: np.ndarray,
    beta0: np.ndarray,
    delta: float,
    *,
    eta_a: float = 1.0,
    eta_w: float = 1.0,
    check_crossing: bool = True,
) -> np.ndarray:
    """Where gradient flow of f(x) = a wᵀx interpolates underdetermined data (docs/theory.md §2.2).

    β∞ = argmin_{Xβ=y} Q_δ(β) − ∇Q_δ(β0)ᵀβ, with the limits δ = +inf (minimum ‖β − β0‖, lazy) and
    δ = −inf (n = 1: the interpolant along β0). The rates enter through the unit-rate
    δ̂ = δ/√(η_aη_w) (docs/theory.md §2).

    Args:
        X: inputs, shape (n, d) with n < d and rank n.
        y: targets, shape (n,).
        beta0: initial function-space parameter a0·w0, shape (d,).
        delta: conserved quantity, a number or ±inf.
        eta_a, eta_w: positive learning rates.
        check_crossing: for δ < 0, simulate the flow and raise if a crosses zero.

    Returns:
        β∞, shape (d,).

    Raises:
        ValueError: bad shapes or values (naming the argument), n ≥ d, rank-deficient X,
            β0 = 0 with δ ≤ 0 (a stationary point), or δ = −inf with n > 1.
        CrossingError: the flow crosses a = 0, so the prediction above does not apply; the
            error carries ``flipped_interpolant``, where the flow goes instead.
    """
    X = check.finite_array("X", X, ndim=2)
    y = check.finite_array("y", y, ndim=1)
    beta0 = check.finite_array("beta0", beta0, ndim=1)
    n, d = X.shape
    if n >= d:
        raise ValueError(
            f"interpolant needs underdetermined data: X must have fewer rows than "
            f"columns (n < d), got X of shape {X.shape}"
        )
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} entries but X has {n} rows; they must match")
    check.matching_last_axis("beta0", beta0, d, "X")
    if np.linalg.matrix_rank(X) < n:
        raise ValueError("X must have full row rank: its rows are linearly dependent")
    delta = check.real_number("delta", delta, infinite=True)
    eta_a, eta_w = check.positive_float("eta_a", eta_a), check.positive_float("eta_w", eta_w)
    delta /= np.sqrt(eta_a) * np.sqrt(eta_w)  # each root first: the product may overflow
    delta = _beyond_resolution(X, y, beta0, delta)

    if delta == np.inf:
        return beta0 + np.linalg.lstsq(X, y - X @ beta0, rcond=None)[0]
    if not np.any(beta0) and delta <= 0:
        raise ValueError(
            "beta0 = 0 with delta <= 0 is a stationary point of the flow: "
            "it never reaches an interpolant"
        )
    if delta == -np.inf:
        return _downstream_limit(X, y, beta0)
    v0 = potential_gradient(beta0, delta)
    u0 = float(readout_magnitude(np.linalg.norm(beta0), delta)) ** 2  # ‖v0‖² + δ = a0²
    if check_crossing and delta < 0 and _flow_ends_with_flipped_sign(X, y, beta0, delta):
        raise CrossingError(
            "the flow from this initialization crosses a = 0 (it passes through β = 0), so "
            "the mirror-flow interpolant does not apply; it converges to "
            "argmin Q_δ(β) + ∇Q_δ(β0)ᵀβ instead, given as .flipped_interpolant",
            _mirror_descent_solution(X, y, -v0, delta, u0),
        )
    return _mirror_descent_solution(X, y, v0, delta, u0)


def _beyond_resolution(X: np.ndarray, y: np.ndarray, beta0: np.ndarray, delta: float) -> float:
    """±inf where |δ̂| is beyond resolution (see _RESOLUTION), else δ̂ itself.

    Raises:
        ValueError: δ̂ → −∞ beyond resolution with n > 1, which has no closed form.
    """
    if not np.isfinite(delta):
        return delta
    lazy = beta0 + np.linalg.lstsq(X, y - X @ beta0, rcond=None)[0]  # the δ = +∞ answer
    scale = max(np.linalg.norm(beta0), np.linalg.norm(lazy), np.finfo(float).tiny)
    if abs(delta) < _RESOLUTION * scale:
        return delta
    if delta < 0 and X.shape[0] > 1:
        raise ValueError(
            f"delta = {delta:.3g} is so negative that only its δ → −∞ limit is resolved, and that "
            f"limit has a closed form only for one sample (n = 1, got n = {X.shape[0]}); "
            f"use |delta| < {_RESOLUTION * scale:.2g}"
        )
    return np.inf if delta > 0 else -np.inf


def _downstream_limit(X: np.ndarray, y: np.ndarray, beta0: np.ndarray) -> np.ndarray:
    """δ → −∞ with one sample: the interpolant along β0, (y/(Xβ0))β0 (docs/theory.md §2.2)."""
    if X.shape[0] != 1:
        raise ValueError(
            "delta = -inf has a closed form only for a single sample (n = 1); "
            "pass a large negative finite delta instead"
        )
    along = float(X[0] @ beta0)
    if along == 0:
        raise ValueError(
            "delta = -inf: beta0 is orthogonal to the sample, so no interpolant lies along beta0"
        )
    limit = (y[0] / along) * beta0
    if y[0] / along < 0:
        raise CrossingError(
            "delta = -inf: the interpolant along beta0 has the opposite sign, "
            "so the flow passes through β = 0 to reach it",
            limit,
        )
    return limit
