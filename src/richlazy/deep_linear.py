"""Deep linear networks f(x) = W_L ⋯ W_1 x (docs/theory.md §4).

Conserved matrices Δ_l for any depth and per-layer rates, balanced and imbalanced
initializations, the exact balanced singular-value flow (Arora, Cohen & Hazan 2018), and a
reference simulation of gradient flow with the learning-speed profile across layers: how far and
how fast each layer moves, and which moves first. NumPy/SciPy float64 only.

Conventions: W_l has shape (n_l, n_{l−1}); ``weights[0]`` is the first layer W_1. Loss
L = ½‖X E ᵀ − Y‖²_F with E = W_L ⋯ W_1 of shape (n_L, n_0), X of shape (n, n_0), Y (n, n_L).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from richlazy import _linear_algebra as la
from richlazy import _ode
from richlazy import _validate as check
from richlazy._exports import old_names

__all__ = [
    "DeepTrajectory",
    "LearningSpeedProfile",
    "conserved_quantity",
    "exact_singular_value_flow",
    "gradient_flow",
    "initial_parameters",
    "learning_speed_profile",
]


def conserved_quantity(
    weights: Sequence[np.ndarray], *, etas: Sequence[float] | None = None
) -> list:
    """Δ_l = η_l W_{l+1}ᵀW_{l+1} − η_{l+1} W_l W_lᵀ for l = 1 … L−1 (docs/theory.md §4).

    Conserved by gradient flow because W_{l+1}ᵀ ∂L/∂W_{l+1} = ∂L/∂W_l W_lᵀ. With L = 2,
    W_1 = W and W_2 = Aᵀ it is the Δ of :func:`richlazy.wide_linear.conserved_quantity`. Δ_l > 0
    (later layer larger) is upstream: earlier layers learn faster (docs/theory.md §1).

    Args:
        weights: W_1 … W_L, W_l of shape (n_l, n_{l−1}) (a leading time axis is allowed:
            shapes (T, n_l, n_{l−1}) give Δ_l of shape (T, n_l, n_l)).
        etas: per-layer learning rates η_1 … η_L (default all 1).

    Returns:
        A list of L − 1 arrays, Δ_l of shape (n_l, n_l).
    """
    weights = _chain(weights, "weights", min_ndim=2)
    etas = _rates(etas, len(weights))
    return [
        etas[l] * np.swapaxes(nxt, -1, -2) @ nxt - etas[l + 1] * cur @ np.swapaxes(cur, -1, -2)
        for l, (cur, nxt) in enumerate(pairwise(weights))
    ]


def initial_parameters(
    widths: Sequence[int],
    deltas: Sequence[float] | float,
    *,
    etas: Sequence[float] | None = None,
    scale: float = 1.0,
    rng: np.random.Generator | int,
) -> list[np.ndarray]:
    """Weights with Δ_l = δ_l I for every l (docs/theory.md §4), any signs of the δ_l.

    Construction: k shared modes, W_l = R_l diag(√(η_l y_l)) R_{l−1}ᵀ with Haar-random R_l of
    shape (n_l, k) with orthonormal columns. Then Δ_l = η_lη_{l+1} R_l diag(y_{l+1} − y_l) R_lᵀ,
    so y_{l+1} = y_l + δ_l/(η_lη_{l+1}): per mode, y_l = b + C_l − min_j C_j with
    C_l = Σ_{j<l} δ_j/(η_jη_{j+1}), and the layer with the least C_l has singular values
    s = √(η_l b) drawn uniformly in [scale/2, 3·scale/2] (when all η_l are equal). Δ_l = δ_l I
    needs R_l square for the hidden layers: hidden widths equal to k = min(widths), i.e.
    n_1 = … = n_{L−1} = k <= n_0, n_L. With all δ_l = 0 any widths work (balanced, rank k).
    δ_l > 0 makes W_{l+1} larger than W_l (upstream), δ_l < 0 smaller (downstream).

    Args:
        widths: n_0 … n_L (input, hidden widths, output), positive ints, L >= 1.
        deltas: δ_1 … δ_{L−1}, or one number used for every l.
        etas: per-layer learning rates (default all 1).
        scale: typical singular value of the smallest layer.
        rng: a numpy Generator or an int seed.

    Returns:
        [W_1, …, W_L], W_l of shape (n_l, n_{l−1}).

    Raises:
        ValueError: if some δ_l ≠ 0 and the hidden widths are not all equal to min(widths),
            or for bad sizes, rates, deltas or scale (naming the argument).
    """
    widths = [check.positive_integer(f"widths[{i}]", n) for i, n in enumerate(widths)]
    if len(widths) < 2:
        raise ValueError(f"widths must list n_0 … n_L with L >= 1, got {widths}")
    depth = len(widths) - 1
    deltas = check.finite_array("deltas", deltas)
    if deltas.shape not in {(), (depth - 1,)}:
        raise ValueError(
            f"deltas must be one number or {depth - 1} (one per pair of adjacent layers), "
            f"got shape {deltas.shape}"
        )
    deltas = np.broadcast_to(deltas, (depth - 1,))
    etas = _rates(etas, depth)
    scale = check.positive_float("scale", scale)
    k = min(widths)
    if np.any(deltas != 0) and any(n != k for n in widths[1:-1]):
        raise ValueError(
            f"Δ_l = δ_l I with some δ_l ≠ 0 needs every hidden width equal to min(widths) "
            f"(square hidden layers, n_0 and n_L at least as large), got widths {widths}; "
            "use deltas = 0 (balanced) for other shapes"
        )
    rng = la.generator(rng)
    cumulative = np.concatenate([[0.0], np.cumsum(deltas / (etas[:-1] * etas[1:]))])  # (L,)
    base = (scale * rng.uniform(0.5, 1.5, size=k)) ** 2 / np.exp(np.mean(np.log(etas)))  # (k,)
    y = base[None, :] + (cumulative - cumulative.min())[:, None]  # (L, k)
    frames = [la.orthonormal_columns(n, k, rng) for n in widths]  # R_0 … R_L, (n_l, k)
    return [
        (frames[l + 1] * np.sqrt(etas[l] * y[l])) @ frames[l].T  # (n_l, n_{l−1})
        for l in range(depth)
    ]


def exact_singular_value_flow(
    sigma0: np.ndarray,
    sigma_star: np.ndarray,
    depth: int,
    t: np.ndarray,
    *,
    eta: float = 1.0,
) -> np.ndarray:
    """Exact σ̇ = −ηLσ^{2−2/L}(σ − σ*), each singular value of a balanced deep network (§4).

    Holds for all Δ_l = 0, equal rates η, Σ = I and singular vectors aligned with the target's.
    In the per-layer singular value s = σ^{1/L} it is ṡ = −ηs^{L−1}(s^L − σ*). Closed forms:
    L = 1 (exponential), L = 2 (logistic), σ* = 0 (a power law). Otherwise the separated
    integral is elementary: 1/(s^{L−1}(s^L − σ*)) = (1/σ*)[Σ_k r_k²/(Lσ*(s − r_k)) − s^{1−L}]
    over the L roots r_k of r^L = σ*, and the implicit equation F(s) − F(s0) = −ηt is solved
    per (mode, time) by Newton's method inside rate bounds (bisection fallback), each term
    evaluated from s − s0 without cancellation: accurate to a few ulps.

    Args:
        sigma0: initial singular values, >= 0 (0 is a fixed point for L >= 2).
        sigma_star: targets σ*, broadcastable with sigma0 (σ* <= 0 pulls σ to 0).
        depth: L, a positive int.
        t: times, shape (T,), non-negative and sorted.
        eta: the common learning rate.

    Returns:
        σ(t), shape (T, *batch).
    """
    sigma0 = check.finite_array("sigma0", sigma0)
    if np.any(sigma0 < 0):
        raise ValueError("sigma0 must be >= 0: singular values of a balanced network")
    sigma_star = check.finite_array("sigma_star", sigma_star)
    depth = check.positive_integer("depth", depth)
    t = check.time_grid("t", t)
    eta = check.positive_float("eta", eta)
    batch = check.broadcast_batch(sigma0=(sigma0, 0), sigma_star=(sigma_star, 0))
    shape = (t.size, *batch)
    s0 = np.broadcast_to(sigma0, shape).ravel()
    a = np.broadcast_to(sigma_star, shape).ravel()
    with np.errstate(over="ignore"):  # ηt = inf is the t → ∞ limit, taken below
        tau = np.broadcast_to(eta * t.reshape((-1,) + (1,) * len(batch)), shape).ravel()
    finite = np.isfinite(tau)
    sigma = np.empty_like(s0)
    sigma[finite] = _balanced_flow(s0[finite], a[finite], depth, tau[finite])
    # t → ∞: σ* for L = 1; for L >= 2, 0 stays 0 and the rest go to max(σ*, 0).
    limit = a if depth == 1 else np.where(s0 > 0, np.maximum(a, 0.0), 0.0)
    sigma[~finite] = limit[~finite]
    return check.finite_result(sigma, "sigma0, sigma_star, eta, t").reshape(shape)


def _balanced_flow(sigma0, a, depth, tau):
    """σ(τ) elementwise on flat arrays, τ = ηt (see exact_singular_value_flow)."""
    if depth == 1:  # σ̇ = −(σ − σ*): nearer of the two cancellation-free arrangements
        deviation = (sigma0 - a) * np.exp(-tau)
        increment = (a - sigma0) * -np.expm1(-tau)
        return np.where(np.abs(deviation) < np.abs(increment), a + deviation, sigma0 + increment)
    if depth == 2:
        return la.logistic(sigma0, a, 2 * tau)
    power = (2 * depth - 2) / depth
    with np.errstate(divide="ignore", over="ignore"):
        decay = sigma0 * np.exp(
            -np.log1p((2 * depth - 2) * tau * sigma0**power) * depth / (2 * depth - 2)
        )
    sigma = np.where(a == 0, decay, sigma0)  # σ* = 0: s^{2−2L} = s0^{2−2L} + (2L − 2)τ
    general = (a != 0) & (sigma0 > 0) & (sigma0 != a) & (tau > 0)
    if np.any(general):
        sigma[general] = _implicit_flow(sigma0[general], a[general], depth, tau[general])
    return sigma


def _implicit_flow(sigma0, a, depth, tau):
    """Solve F(s) − F(s0) + τ = 0 for s (depth >= 3, a ≠ 0), return σ = s^L.

    Where s^L > 2|a| the partial fractions cancel to leading order (the log terms sum to
    −s^{2−L}/(L−2) + …), so there F is summed as the series Σ_j a^j s^{p_j}/p_j,
    p_j = 2 − (j + 2)L, of ratio a/s^L <= ½; a path that crosses s^L = 2|a| is split there.
    """
    L = depth
    s0 = sigma0 ** (1 / L)
    magnitude = np.abs(a) ** (1 / L)
    angles = 2 * np.pi * np.arange(L) / L + np.where(a > 0, 0.0, np.pi / L)[:, None]  # (B, L)
    roots = magnitude[:, None] * np.exp(1j * angles)  # the L roots of r^L = a, (B, L)
    weights = (magnitude**2 / (L * a))[:, None] * np.exp(2j * angles)  # residues r_k²/(L a)
    b = np.where(a > 0, magnitude, 0.0)  # the limit of s
    e0 = s0 - b
    switch = (2 * np.abs(a)) ** (1 / L)  # s^L = 2|a|
    exponents = 2 - (np.arange(_SERIES_TERMS) + 2) * L  # p_j, (J,)

    def closed(s, ref):  # F(s) − F(ref) by partial fractions, from s − ref
        step, ratio = s - ref, la.log_ratio(s, ref)
        power = np.where(
            np.abs((L - 2) * ratio) < 1,
            ref ** (2 - L) * np.expm1((2 - L) * ratio),
            np.exp((2 - L) * np.log(s)) - ref ** (2 - L),
        ) / (L - 2)
        w = step[:, None] / (ref[:, None] - roots)  # (B, L)
        logs = np.log1p(2 * w.real + np.abs(w) ** 2) / 2 + 1j * np.arctan2(w.imag, 1 + w.real)
        gap = ref - b
        near_b = np.log1p(step / gap)  # the real root b, s close to ref
        far_b = np.log((s - b) / gap)  # the real root b, s close to b
        logs[:, 0] = np.where(
            a > 0, np.where(np.abs(step) <= np.abs(gap) / 2, near_b, far_b), logs[:, 0]
        )
        return (np.sum(weights * logs, axis=1).real + power) / a

    def series(s, ref):  # F(s) − F(ref) by the series, both s^L and ref^L >= 2|a|
        ratio = la.log_ratio(s, ref)  # log(s/ref), (B,)
        j = np.arange(_SERIES_TERMS)
        log_q_ref = np.log(np.abs(a)) - L * np.log(ref)  # log|a/ref^L| <= −log 2
        sign = np.where(a[:, None] < 0, (-1.0) ** j, 1.0)  # sign of a^j, (B, J)
        start = sign * np.exp(((2 - 2 * L) * np.log(ref))[:, None] + j * log_q_ref[:, None])
        close = np.sum(start * np.expm1(ratio[:, None] * exponents) / exponents, axis=1)
        # Far apart: F = x^{2−2L} P(a/x^L), P(q) = Σ q^j/p_j < 0, a difference of logs.
        log_f = [
            (2 - 2 * L) * np.log(x) + np.log(-np.sum((a / x**L)[:, None] ** j / exponents, axis=1))
            for x in (s, ref)
        ]
        top = np.maximum(*log_f)
        far = -np.sign(log_f[0] - log_f[1]) * np.exp(top) * -np.expm1(-np.abs(log_f[0] - log_f[1]))
        return np.where(np.abs(ratio) < 1 / L, close, far)

    def residual(s):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            change = np.where(
                s0 <= switch,
                closed(s, s0),
                np.where(s >= switch, series(s, s0), series(switch, s0) + closed(s, switch)),
            )
            gap = np.where(a > 0, a * np.expm1(L * np.log1p((s - b) / b)), s**L - a)
            return change + tau, 1 / (s ** (L - 1) * gap)

    # Rates: ė = −k(s)e for e = |s − limit|, k increasing in s, so e is bracketed by e0 e^{−kτ}.
    with np.errstate(over="ignore", under="ignore"):
        geometric = sum(s0**j * b ** (L - 1 - j) for j in range(L))  # (s0^L − a)/(s0 − b)
        k0 = np.where(a > 0, s0 ** (L - 1) * geometric, s0 ** (L - 2) * (s0**L - a))
        k_limit = np.where(a > 0, L * b ** (2 * L - 2), 0.0)
        slow, fast = np.minimum(k0, k_limit), np.maximum(k0, k_limit)
        near = b + e0 * np.exp(-slow * tau)
        far = b + e0 * np.exp(-fast * tau)
        # σ* < 0 also obeys ṡ <= −s^{2L−1} and ṡ <= −|a|s^{L−1}: a nearer upper bound.
        upper = np.minimum(
            s0 * np.exp(-np.log1p((2 * L - 2) * tau * s0 ** (2 * L - 2)) / (2 * L - 2)),
            s0 * np.exp(-np.log1p((L - 2) * np.abs(a) * tau * s0 ** (L - 2)) / (L - 2)),
        )
        near = np.where(a > 0, near, np.minimum(near, upper))
    s = la.bracketed_root(residual, near, far, b)
    return s**L


_SERIES_TERMS = 64  # ratio <= ½: 2^{-64} is below rounding


@dataclass(frozen=True)
class DeepTrajectory:
    """Gradient flow of a deep linear network sampled at times ``t`` (from :func:`gradient_flow`).

    Attributes:
        t: times, shape (T,).
        weights: W_1(t) … W_L(t), W_l of shape (T, n_l, n_{l−1}).
        etas: per-layer learning rates, shape (L,).
        X: inputs, shape (n, n_0); Y: targets, shape (n, n_L).
    """

    t: np.ndarray
    weights: tuple[np.ndarray, ...]
    etas: np.ndarray
    X: np.ndarray
    Y: np.ndarray

    @property
    def end_to_end(self) -> np.ndarray:
        """E(t) = W_L ⋯ W_1, shape (T, n_L, n_0)."""
        product = self.weights[0]
        for layer in self.weights[1:]:
            product = layer @ product
        return product

    @property
    def loss(self) -> np.ndarray:
        """L(t) = ½‖X Eᵀ − Y‖²_F, shape (T,)."""
        residual = np.einsum("nd,tcd->tnc", self.X, self.end_to_end) - self.Y  # (T, n, c)
        return 0.5 * np.einsum("tnc,tnc->t", residual, residual)

    def conservation_drift(self) -> float:
        """max_{l,t} ‖Δ_l(t) − Δ_l(0)‖_F / (η_l‖W_{l+1}ᵀW_{l+1}‖_F + η_{l+1}‖W_lW_lᵀ‖_F)(t = 0)."""
        drift = 0.0
        for l, delta in enumerate(conserved_quantity(self.weights, etas=self.etas)):
            cur, nxt = self.weights[l][0], self.weights[l + 1][0]
            scale = self.etas[l] * np.linalg.norm(nxt.T @ nxt) + self.etas[l + 1] * np.linalg.norm(
                cur @ cur.T
            )
            change = np.linalg.norm(delta - delta[0], axis=(-2, -1)).max()
            drift = max(drift, change / max(scale, np.finfo(float).tiny))
        return float(drift)


def gradient_flow(
    weights0: Sequence[np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    t: np.ndarray,
    *,
    etas: Sequence[float] | None = None,
    rtol: float = 1e-10,
) -> DeepTrajectory:
    """Reference integrator of gradient flow Ẇ_l = −η_l ∂L/∂W_l for any depth (docs/theory.md §4).

    ∂L/∂W_l = (W_L ⋯ W_{l+1})ᵀ (X Eᵀ − Y)ᵀ X (W_{l−1} ⋯ W_1)ᵀ. SciPy's DOP853 on all
    weights at once; atol is set per layer to rtol·1e-3·max|W_l(0)|, so a small layer is
    resolved as finely as a large one.

    Args:
        weights0: W_1(0) … W_L(0), W_l of shape (n_l, n_{l−1}).
        X: inputs, shape (n, n_0); Y: targets, shape (n, n_L).
        t: times, shape (T,), non-negative and sorted.
        etas: per-layer learning rates (default all 1).
        rtol: relative tolerance of the integrator.

    Returns:
        A :class:`DeepTrajectory`.

    Raises:
        ValueError: naming the argument for mismatched shapes, non-finite values, non-positive
            rates or tolerance, or negative or unsorted times.
    """
    weights0 = _chain(weights0, "weights0", min_ndim=2, exact=True)
    X = check.finite_array("X", X, ndim=2)
    Y = check.finite_array("Y", Y, ndim=2)
    if X.shape[1] != weights0[0].shape[1]:
        raise ValueError(f"X has {X.shape[1]} columns but weights0[0] takes {weights0[0].shape[1]}")
    if Y.shape != (X.shape[0], weights0[-1].shape[0]):
        raise ValueError(
            f"Y must have shape (n, n_L) = {(X.shape[0], weights0[-1].shape[0])}, got {Y.shape}"
        )
    t = check.time_grid("t", t)
    etas = _rates(etas, len(weights0))
    rtol = check.positive_float("rtol", rtol)
    shapes = [w.shape for w in weights0]
    sizes = np.cumsum([0] + [w.size for w in weights0])
    gram, moment = X.T @ X, Y.T @ X  # (n_0, n_0), (n_L, n_0)

    def unpack(state: np.ndarray) -> list[np.ndarray]:
        return [
            state[i:j].reshape(s) for i, j, s in zip(sizes[:-1], sizes[1:], shapes, strict=True)
        ]

    def rhs(_: float, state: np.ndarray) -> np.ndarray:
        return np.concatenate([v.ravel() for v in _velocities(unpack(state), gram, moment, etas)])

    state0 = np.concatenate([w.ravel() for w in weights0])
    atol = np.concatenate(
        [np.full(w.size, rtol * 1e-3 * (np.abs(w).max() or 1.0)) for w in weights0]
    )
    if t[-1] == 0:
        states = np.broadcast_to(state0, (t.size, state0.size))
    else:
        solution = _ode.integrate(
            rhs,
            float(t[-1]),
            state0,
            what="the deep linear flow",
            state_name="weights0",
            method="DOP853",
            t_eval=t,
            rtol=rtol,
            atol=atol,
        )
        states = solution.y.T  # (T, P)
    weights = tuple(
        states[:, i:j].reshape(t.size, *s)
        for i, j, s in zip(sizes[:-1], sizes[1:], shapes, strict=True)
    )
    return DeepTrajectory(t=t, weights=weights, etas=etas, X=X, Y=Y)


@dataclass(frozen=True)
class LearningSpeedProfile:
    """How far and how fast each layer moves (docs/theory.md §4, §7).

    Attributes:
        t: times, shape (T,).
        relative_distance: ‖W_l(t) − W_l(0)‖_F / ‖W_l(0)‖_F, shape (L, T).
        final_distance: relative_distance at the last time, shape (L,).
        half_time: first time layer l reaches half its final relative distance (linear
            interpolation between samples; nan for a layer that does not move), shape (L,).
        order: layer indices (0 = first layer) sorted by half_time: who moves first, shape (L,).
        initial_speed: relative speed ‖Ẇ_l(0)‖_F / ‖W_l(0)‖_F at the start, shape (L,).
    """

    t: np.ndarray
    relative_distance: np.ndarray
    final_distance: np.ndarray
    half_time: np.ndarray
    order: np.ndarray
    initial_speed: np.ndarray


def learning_speed_profile(trajectory: DeepTrajectory) -> LearningSpeedProfile:
    """Measure the learning-speed profile across layers of a simulated deep network.

    Args:
        trajectory: a :class:`DeepTrajectory` (from :func:`gradient_flow`).

    Returns:
        A :class:`LearningSpeedProfile`.

    Raises:
        TypeError: ``trajectory`` is not a DeepTrajectory.
        ValueError: if a layer starts at zero (its relative distance is undefined).
    """
    if not isinstance(trajectory, DeepTrajectory):
        raise TypeError(
            f"trajectory must be a DeepTrajectory (from gradient_flow), got "
            f"{type(trajectory).__name__}"
        )
    distances = []
    for l, layer in enumerate(trajectory.weights):
        norm0 = np.linalg.norm(layer[0])
        if norm0 == 0:
            raise ValueError(
                f"layer {l} starts at zero, so its relative distance is undefined; "
                "initialize every layer with nonzero weights"
            )
        distances.append(np.linalg.norm(layer - layer[0], axis=(1, 2)) / norm0)
    distance = np.array(distances)  # (L, T)
    final = distance[:, -1]
    half = np.full(final.shape, np.nan)
    for l, (curve, target) in enumerate(zip(distance, final / 2, strict=True)):
        if target > 0:
            i = int(np.argmax(curve >= target))  # first sample at or past half the movement
            if i == 0:
                half[l] = trajectory.t[0]
            else:
                fraction = (target - curve[i - 1]) / (curve[i] - curve[i - 1])
                half[l] = trajectory.t[i - 1] + fraction * (trajectory.t[i] - trajectory.t[i - 1])
    order = np.argsort(np.where(np.isnan(half), np.inf, half), kind="stable")
    start = [layer[0] for layer in trajectory.weights]
    X, Y = trajectory.X, trajectory.Y
    velocity = _velocities(start, X.T @ X, Y.T @ X, trajectory.etas)
    speed = np.array(
        [np.linalg.norm(v) / np.linalg.norm(w) for v, w in zip(velocity, start, strict=True)]
    )
    return LearningSpeedProfile(trajectory.t, distance, final, half, order, speed)


def _velocities(layers, gram, moment, etas) -> list[np.ndarray]:
    """Ẇ_l = −η_l (W_L ⋯ W_{l+1})ᵀ (E XᵀX − YᵀX) (W_{l−1} ⋯ W_1)ᵀ for every layer."""
    below = [np.eye(layers[0].shape[1])]  # W_{l−1} ⋯ W_1, (n_{l−1}, n_0)
    for layer in layers[:-1]:
        below.append(layer @ below[-1])
    gradient_e = layers[-1] @ below[-1] @ gram - moment  # ∂L/∂E, (n_L, n_0)
    above = np.eye(layers[-1].shape[0])  # W_L ⋯ W_{l+1}, (n_L, n_l)
    velocity = [None] * len(layers)
    for l in range(len(layers) - 1, -1, -1):
        velocity[l] = -etas[l] * above.T @ gradient_e @ below[l].T  # (n_l, n_{l−1})
        above = above @ layers[l]
    return velocity


def _chain(weights, name: str, *, min_ndim: int, exact: bool = False) -> list[np.ndarray]:
    """Check that W_1 … W_L are finite matrices whose shapes chain: W_{l+1} takes W_l's output."""
    if isinstance(weights, np.ndarray) or len(weights) < 1:
        raise ValueError(f"{name} must be a non-empty sequence of matrices W_1 … W_L")
    arrays = [
        check.finite_array(f"{name}[{l}]", w, ndim=2 if exact else None, min_ndim=min_ndim)
        for l, w in enumerate(weights)
    ]
    for l in range(len(arrays) - 1):
        if arrays[l + 1].shape[-1] != arrays[l].shape[-2]:
            raise ValueError(
                f"{name}[{l + 1}] has shape {arrays[l + 1].shape} but must take the "
                f"{arrays[l].shape[-2]} outputs of {name}[{l}] (shape {arrays[l].shape})"
            )
    return arrays


def _rates(etas, depth: int) -> np.ndarray:
    """Per-layer learning rates, shape (depth,), default all 1."""
    if etas is None:
        return np.ones(depth)
    rates = check.positive_array("etas", etas)
    if rates.shape != (depth,):
        raise ValueError(f"etas must list one rate per layer ({depth}), got shape {rates.shape}")
    return rates


def _balanced_init(widths, *, etas=None, scale=1.0, rng):
    """The former balanced_init: :func:`initial_parameters` with every δ_l = 0."""
    return initial_parameters(widths, 0.0, etas=etas, scale=scale, rng=rng)


# Names before 0.2 (docs/changelog.md).
__getattr__ = old_names(
    __name__,
    globals(),
    {
        "conserved": "conserved_quantity",
        "imbalanced_init": "initial_parameters",
        "balanced_init": ("_balanced_init", "initial_parameters(widths, 0.0, ...)"),
        "simulate": "gradient_flow",
        "balanced_singular_value_flow": "exact_singular_value_flow",
    },
)
