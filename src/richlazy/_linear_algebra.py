"""Small helpers shared by :mod:`richlazy.wide_linear` and :mod:`richlazy.deep_linear`.

Random orthogonal frames, square roots of PSD matrices, integer and generator checks, the
logistic closed form both modules need, and a safeguarded vectorised root finder. NumPy float64.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral

import numpy as np


def generator(rng: object) -> np.random.Generator:
    """Return ``rng`` as a NumPy Generator: a Generator is used as is, an int seeds a new one.

    Raises:
        TypeError: for anything else (``None`` included: every draw must be seeded).
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"rng must be a numpy.random.Generator or an int seed, got {type(rng).__name__}"
    )


def orthonormal_columns(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-random n × k matrix with orthonormal columns (k <= n), shape (n, k)."""
    q, r = np.linalg.qr(rng.normal(size=(n, k)))  # (n, k), (k, k)
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)  # sign fix makes the draw Haar


def psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix (negative rounding noise clipped)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)  # (n,), (n, n)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def log_ratio(s: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """log(s/ref) for s, ref > 0, accurate both when s is close to ref and when it is far."""
    return np.where(np.abs(s - ref) < ref / 2, np.log1p((s - ref) / ref), np.log(s) - np.log(ref))


def logistic(v0: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Exact solution of v̇ = v(b − v) from v0 >= 0, bounded and cancellation-free for t >= 0.

    b > 0: v = v0 / (e^{−bt} + v0 g(b)), b <= 0: v = v0 e^{−|b|t} / (1 + v0 g(|b|)), with
    g(k) = (1 − e^{−kt})/k (= t at k = 0). All arguments broadcast.
    """
    k = np.abs(b)
    with np.errstate(over="ignore", invalid="ignore"):  # k·t = ∞ (t = ∞ too) is handled below
        x = -k * t
        decay = np.exp(x)
        # g = t·(e^x − 1)/x; for small |x| by its series, which also holds where k·t is subnormal
        # (there expm1(x)/k would be quantized to the subnormal grid)
        small = np.abs(x) < 1e-5
        g = t * np.where(small, 1 + x / 2 + x * x / 6, np.expm1(x) / np.where(small, 1.0, x))
        # Where k·t overflows, g is its limit 1/k; at k = 0 it is t (also t = ∞).
        g = np.where(k == 0, t, np.where(np.isinf(x), 1 / np.where(k > 0, k, 1.0), g))
        decay = np.where(k == 0, 1.0, decay)
        return np.where(b > 0, v0 / (decay + v0 * g), v0 * decay / (1 + v0 * g))


def bracketed_root(
    residual: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    near: np.ndarray,
    far: np.ndarray,
    limit: np.ndarray,
    *,
    max_iter: int = 400,
) -> np.ndarray:
    """Solve residual(x) = 0 elementwise on [near, far] by Newton safeguarded with bisection.

    ``residual(x)`` returns (value, derivative); the value must be >= 0 at ``near``, < 0 at
    ``far`` and decrease monotonically from one to the other. Bisection steps are geometric in
    the distance to ``limit`` (the accumulation point of the solution, which may be ``far``)
    when the bracket spans more than a factor 4 in that distance, arithmetic otherwise, so
    solutions within 1e-300 of the limit are reached in a bounded number of steps. Iterates
    stop when the bracket is down to a few ulps.

    Returns:
        The root, same shape as ``near``.
    """
    near, far = np.array(near, dtype=float), np.array(far, dtype=float)
    x = near.copy()
    value, slope = residual(x)
    active = np.ones(x.shape, dtype=bool)
    last = older = np.abs(far - near)  # sizes of the last two steps
    for _ in range(max_iter):
        width = np.abs(far - near)
        tiny = 4 * np.finfo(float).eps * np.maximum(np.abs(near), np.abs(far))
        active &= width > tiny
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            newton = x - value / slope
            step = np.abs(newton - x)
            # Newton only while it stays inside and at least halves the step of two steps ago
            # (as in Numerical Recipes' rtsafe); otherwise bisect.
            inside = (
                np.isfinite(newton) & ((newton - near) * (far - newton) > 0) & (step <= older / 2)
            )
            converged = step <= 2 * np.finfo(float).eps * np.abs(x)  # Newton, from one side
            active &= ~(inside & converged)
            if not np.any(active):
                break
            d_near = np.abs(near - limit)
            d_far = np.maximum(np.abs(far - limit), np.finfo(float).tiny)
            geometric = limit + np.sign(near - limit) * np.sqrt(d_near * d_far)
            midpoint = np.where(
                (d_near > 4 * d_far) & (geometric != near) & (geometric != far),
                geometric,
                near + (far - near) / 2,  # also when the geometric point rounds to an end
            )
        new = np.where(active, np.where(inside, newton, midpoint), x)
        older, last = last, np.where(active, np.abs(new - x), last)
        x = new
        value, slope = residual(x)
        near = np.where(active & (value >= 0), x, near)
        far = np.where(active & (value < 0), x, far)
    else:
        if np.any(active):
            raise RuntimeError(f"the root finder did not converge in {max_iter} iterations")
    return x


def mirror_interpolant(
    M: np.ndarray, b: np.ndarray, sigma0: np.ndarray, scaled_delta: float, *, max_iter: int = 500
) -> np.ndarray:
    """argmin_{Mσ=b} Σ_i φ(σ_i) − φ'(σ0_i)σ_i for the hyperbolic entropy φ of |δ| = scaled_delta.

    Solved through the dual, a smooth convex function of λ ∈ R^m: with z = Mᵀλ the optimum is
    σ_i(z) = σ0_i cosh 2z_i + ½ s0_i sinh 2z_i, s0 = √(δ² + 4σ0²) (this is φ'(σ) = φ'(σ0) + z
    solved for σ, stable for every δ including 0), the dual is F(λ) = Σ ψ_i(z_i) − bᵀλ with
    ψ_i(z) = ½σ0_i sinh 2z + ½s0_i sinh²z, ψ_i' = σ_i, ψ_i'' = √(δ² + 4σ_i²), and damped Newton
    minimises it.

    Raises:
        ValueError: if no point of Mσ = b is reachable (δ = 0 keeps the signs of σ0 and its
            zero entries), which shows as a dual that does not converge.
    """
    s0 = np.hypot(scaled_delta, 2 * sigma0)  # (k,)

    def evaluate(lam: np.ndarray):
        z = M.T @ lam  # (k,)
        with np.errstate(over="ignore", invalid="ignore"):
            sh, ch = np.sinh(2 * z), np.cosh(2 * z)
            sigma = sigma0 * ch + s0 * sh / 2
            curvature = 2 * sigma0 * sh + s0 * ch
            value = np.sum(sigma0 * sh / 2 + s0 * np.sinh(z) ** 2 / 2) - b @ lam
        return value, sigma, curvature

    lam = np.zeros(M.shape[0])
    value, sigma, curvature = evaluate(lam)
    scale = max(1.0, np.abs(b).max())
    for _ in range(max_iter):
        gradient = M @ sigma - b  # (m,)
        norm = np.linalg.norm(gradient)
        if norm <= 1e-14 * scale:
            break
        step = -np.linalg.lstsq((M * curvature) @ M.T, gradient, rcond=None)[0]
        size = 1.0
        while size >= 1e-12:  # backtrack until the dual or the residual decreases
            trial = evaluate(lam + size * step)
            with np.errstate(over="ignore", invalid="ignore"):  # an overflowing trial is refused
                if np.isfinite(trial[0]) and (
                    trial[0] <= value + 1e-4 * size * (gradient @ step)
                    or np.linalg.norm(M @ trial[1] - b) < norm
                ):
                    break
            size /= 2
        else:
            break  # no step improves: converged to rounding, or the problem is infeasible
        lam = lam + size * step
        value, sigma, curvature = trial
    residual = np.linalg.norm(M @ sigma - b)
    if not residual <= 1e-9 * scale:
        raise ValueError(
            f"no interpolant is reachable from sigma0 (the dual did not converge, residual "
            f"{residual:.2e}); with delta = 0 the flow keeps the sign of every sigma0 entry and "
            "never moves an entry that starts at 0, so M σ = b must be solvable that way"
        )
    return sigma
