"""Two-layer wide linear networks f(x) = Aᵀ W x (docs/theory.md §3; paper §4, Theorem 4.2).

W ∈ R^{h×d} (rate η_w), A ∈ R^{h×c} (rate η_a), function-space parameter β = WᵀA ∈ R^{d×c},
loss L = ½‖XWᵀA − Y‖²_F with gradient G = ∇_βL = Xᵀ(Xβ − Y). This module gives the conserved
matrix Δ, initializations with Δ = δI, the function-space flow β̇ = −PG − GQ that holds under the
theorem's conditions, the exact decoupled singular-value flow, and its implicit bias (the
hyperbolic entropy). NumPy/SciPy float64 only.
"""

from __future__ import annotations

import numpy as np

from richlazy import _linear_algebra as la
from richlazy import _ode
from richlazy import _validate as check
from richlazy._exports import old_names

__all__ = [
    "aligned_interpolant",
    "conserved_quantity",
    "exact_singular_value_flow",
    "function_space_flow",
    "function_space_flow_from_parameters",
    "hyperbolic_entropy",
    "initial_parameters",
    "preconditioners",
]


def conserved_quantity(
    W: np.ndarray, A: np.ndarray, *, eta_a: float = 1.0, eta_w: float = 1.0
) -> np.ndarray:
    """Δ = η_w AAᵀ − η_a WWᵀ, conserved by gradient flow on any loss of β (docs/theory.md §3).

    Args:
        W: first layer, shape (h, d).
        A: readout, shape (h, c).

    Returns:
        Δ, shape (h, h).
    """
    W, A = _weights(W, A)
    eta_a, eta_w = check.positive_float("eta_a", eta_a), check.positive_float("eta_w", eta_w)
    return eta_w * A @ A.T - eta_a * W @ W.T  # (h, h)


def initial_parameters(
    h: int,
    d: int,
    c: int,
    delta: float,
    *,
    eta_a: float = 1.0,
    eta_w: float = 1.0,
    scale: float = 1.0,
    rng: np.random.Generator | int,
) -> tuple[np.ndarray, np.ndarray]:
    """An initialization (W, A) with Δ = δI_h that satisfies Theorem 4.2 (docs/theory.md §3).

    δ < 0 (needs h = d): A has i.i.d. N(0, scale²) entries, W = ((η_w AAᵀ − δI)/η_a)^{1/2} O.
    δ > 0 (needs h = c): W has i.i.d. N(0, scale²) entries, A = ((δI + η_a WWᵀ)/η_w)^{1/2} O.
    δ = 0 (any h): draw W₀ with N(0, scale²) entries, keep its top k = min(h, d, c) singular
    triplets, W = U S V_Wᵀ, and set A = (η_a/η_w)^{1/2} U S V_Aᵀ with a random orthonormal
    V_A ∈ R^{c×k}, so η_w AAᵀ = η_a WWᵀ (balanced). O and V_A are Haar-random.

    Args:
        h, d, c: hidden width, input and output dimensions (positive ints).
        delta: the isotropic imbalance δ.
        eta_a, eta_w: learning rates of A and W.
        scale: standard deviation of the freely drawn factor's entries.
        rng: a numpy Generator or an int seed.

    Returns:
        (W, A) of shapes (h, d) and (h, c).

    Raises:
        ValueError: if δ < 0 and h ≠ d, or δ > 0 and h ≠ c (naming the condition), or for
            non-positive sizes, rates or scale.
    """
    h, d, c = (check.positive_integer(name, n) for name, n in (("h", h), ("d", d), ("c", c)))
    delta = float(check.finite_array("delta", delta, ndim=0))
    eta_a, eta_w = check.positive_float("eta_a", eta_a), check.positive_float("eta_w", eta_w)
    scale = check.positive_float("scale", scale)
    _check_width(h, d, c, delta)
    rng = la.generator(rng)
    if delta < 0:
        A = scale * rng.normal(size=(h, c))
        W = la.psd_sqrt((eta_w * A @ A.T - delta * np.eye(h)) / eta_a) @ la.orthonormal_columns(
            d, d, rng
        )
        return W, A
    if delta > 0:
        W = scale * rng.normal(size=(h, d))
        A = la.psd_sqrt((delta * np.eye(h) + eta_a * W @ W.T) / eta_w) @ la.orthonormal_columns(
            c, c, rng
        )
        return W, A
    k = min(h, d, c)
    U, s, Vt = np.linalg.svd(scale * rng.normal(size=(h, d)), full_matrices=False)
    W = (U[:, :k] * s[:k]) @ Vt[:k]  # (h, d), rank k
    A = np.sqrt(eta_a / eta_w) * (U[:, :k] * s[:k]) @ la.orthonormal_columns(c, k, rng).T
    return W, A


def preconditioners(
    beta: np.ndarray, delta: float, *, eta_a: float = 1.0, eta_w: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """P = (√(δ²I + 4η_aη_wββᵀ) − δI)/2 and Q = (√(δ²I + 4η_aη_wβᵀβ) + δI)/2 (docs/theory.md §3).

    Under the theorem's conditions P = η_a WᵀW and Q = η_w AᵀA. Computed from the SVD of β (so
    small singular values keep full relative accuracy) with (√(δ² + 4x) ∓ δ)/2 rewritten as
    2x/(√(δ² + 4x) ± δ) where it would cancel.

    Args:
        beta: shape (d, c).
        delta: the isotropic imbalance δ.

    Returns:
        (P, Q) of shapes (d, d) and (c, c).
    """
    beta = check.finite_array("beta", beta, ndim=2)
    delta = float(check.finite_array("delta", delta, ndim=0))
    rate = check.positive_float("eta_a", eta_a) * check.positive_float("eta_w", eta_w)
    return _preconditioners(beta, delta, rate)


def _root(delta: float, four_x: np.ndarray) -> np.ndarray:
    """√(δ² + 4x); past |δ| = 1e150, where δ² would overflow, as hypot(δ, √(4x))."""
    if abs(delta) < 1e150:
        return np.sqrt(delta**2 + four_x)
    return np.hypot(delta, np.sqrt(four_x))


def _preconditioners(beta: np.ndarray, delta: float, rate: float):
    d, c = beta.shape
    U, s, Vt = np.linalg.svd(beta)  # (d, d), (k,), (c, c)
    four_x_d = np.zeros(d)
    four_x_d[: s.size] = 4 * rate * s**2  # eigenvalues of 4η_aη_w ββᵀ
    four_x_c = np.zeros(c)
    four_x_c[: s.size] = 4 * rate * s**2  # eigenvalues of 4η_aη_w βᵀβ
    root_d, root_c = _root(delta, four_x_d), _root(delta, four_x_c)
    p = four_x_d / (2 * (root_d + delta)) if delta > 0 else (root_d - delta) / 2
    q = four_x_c / (2 * (root_c - delta)) if delta < 0 else (root_c + delta) / 2
    return (U * p) @ U.T, (Vt.T * q) @ Vt  # (d, d), (c, c)


def function_space_flow(
    beta0: np.ndarray,
    X: np.ndarray,
    Y: np.ndarray,
    delta: float,
    t: np.ndarray,
    *,
    eta_a: float = 1.0,
    eta_w: float = 1.0,
    rtol: float = 1e-10,
) -> np.ndarray:
    """Function-space gradient flow β̇ = −PG − GQ of Theorem 4.2 (docs/theory.md §3).

    It is the flow of β = WᵀA for every (W, A) with Δ = δI and h = d (δ < 0), h = c (δ > 0) or
    any h (δ = 0); it does not check that such (W, A) exist for your use: call
    :func:`function_space_flow_from_parameters` to start from weights and have the conditions
    checked. At δ = 0 the rank of β stays that of β0 (at most h): that set is invariant but
    unstable in function space, so the velocity is kept tangent to it. Integrated with SciPy's
    DOP853; atol = rtol·1e-3·max|β0| (or the least-squares β's size if β0 = 0).

    Args:
        beta0: initial β, shape (d, c).
        X: inputs, shape (n, d); Y: targets, shape (n, c).
        delta: the isotropic imbalance δ.
        t: times, shape (T,), non-negative and sorted.
        eta_a, eta_w: learning rates of A and W.
        rtol: relative tolerance of the integrator.

    Returns:
        β(t), shape (T, d, c).

    Raises:
        ValueError: naming the argument for bad shapes, non-finite values, non-positive rates
            or tolerances, or negative or unsorted times.
    """
    beta0 = check.finite_array("beta0", beta0, ndim=2)
    X, Y = _data(X, Y, beta0.shape, "beta0")
    delta = float(check.finite_array("delta", delta, ndim=0))
    t = check.time_grid("t", t)
    rate = check.positive_float("eta_a", eta_a) * check.positive_float("eta_w", eta_w)
    rtol = check.positive_float("rtol", rtol)
    d, c = beta0.shape
    gram, moment = X.T @ X, X.T @ Y  # (d, d), (d, c)
    # δ = 0: rank β is invariant (P, Q vanish off its column and row spaces) but unstable in
    # function space, so the velocity's block outside both spaces is removed, not integrated.
    rank = np.linalg.matrix_rank(beta0) if delta == 0 else min(d, c)

    def rhs(_: float, state: np.ndarray) -> np.ndarray:
        beta = state.reshape(d, c)
        P, Q = _preconditioners(beta, delta, rate)
        G = gram @ beta - moment  # ∇_β L, (d, c)
        velocity = -(P @ G + G @ Q)  # (d, c)
        if rank < min(d, c):
            U, _, Vt = np.linalg.svd(beta)
            U_out, V_out = U[:, rank:], Vt[rank:].T  # (d, d − r), (c, c − r)
            velocity -= U_out @ (U_out.T @ velocity @ V_out) @ V_out.T
        return velocity.ravel()

    if t[-1] == 0:
        return np.broadcast_to(beta0, (t.size, d, c)).copy()
    size = np.abs(beta0).max() or np.abs(np.linalg.lstsq(X, Y, rcond=None)[0]).max() or 1.0
    solution = _ode.integrate(
        rhs,
        float(t[-1]),
        beta0.ravel(),
        what="the function-space flow",
        state_name="beta0, delta",
        method="DOP853",
        t_eval=t,
        rtol=rtol,
        atol=rtol * 1e-3 * size,
    )
    return solution.y.T.reshape(t.size, d, c)  # (T, d, c)


def function_space_flow_from_parameters(
    W: np.ndarray,
    A: np.ndarray,
    X: np.ndarray,
    Y: np.ndarray,
    t: np.ndarray,
    *,
    eta_a: float = 1.0,
    eta_w: float = 1.0,
    rtol: float = 1e-10,
    tol: float = 1e-8,
) -> np.ndarray:
    """Check Theorem 4.2's conditions on (W, A), then integrate :func:`function_space_flow`
    from β0 = WᵀA.

    Conditions (docs/theory.md §3): Δ = δI, i.e. ‖Δ − δI‖_F <= tol·(η_w‖AAᵀ‖_F + η_a‖WWᵀ‖_F) with
    δ = tr Δ / h (δ is taken as 0 when √h|δ| is within that bound); h = d if δ < 0; h = c if
    δ > 0. Outside them β does not follow a closed equation, so nothing is integrated.

    Args:
        W: first layer, shape (h, d); A: readout, shape (h, c).
        X, Y, t, eta_a, eta_w, rtol: as in :func:`function_space_flow`.
        tol: relative tolerance of the Δ = δI test.

    Returns:
        β(t), shape (T, d, c).

    Raises:
        ValueError: saying which condition fails, or naming a bad argument.
    """
    W, A = _weights(W, A)
    eta_a, eta_w = check.positive_float("eta_a", eta_a), check.positive_float("eta_w", eta_w)
    tol = check.positive_float("tol", tol)
    h, d = W.shape
    c = A.shape[1]
    _data(X, Y, (d, c), "(W, A)")
    Delta = eta_w * A @ A.T - eta_a * W @ W.T  # (h, h)
    delta = np.trace(Delta) / h
    bound = tol * max(
        eta_w * np.linalg.norm(A @ A.T) + eta_a * np.linalg.norm(W @ W.T), np.finfo(float).tiny
    )
    residual = np.linalg.norm(Delta - delta * np.eye(h))
    if residual > bound:
        raise ValueError(
            f"Theorem 4.2 needs Δ = η_w AAᵀ − η_a WWᵀ = δI, but ‖Δ − δI‖_F = {residual:.3e} "
            f"exceeds tol·(η_w‖AAᵀ‖_F + η_a‖WWᵀ‖_F) = {bound:.3e}; build (W, A) with "
            "initial_parameters"
        )
    if np.sqrt(h) * abs(delta) <= bound:
        delta = 0.0
    _check_width(h, d, c, delta)
    return function_space_flow(W.T @ A, X, Y, delta, t, eta_a=eta_a, eta_w=eta_w, rtol=rtol)


def _check_width(h: int, d: int, c: int, delta: float) -> None:
    """Theorem 4.2's width condition for Δ = δI (docs/theory.md §3)."""
    if delta < 0 and h != d:
        raise ValueError(
            f"delta < 0 needs the hidden width to equal the input dimension (h = d), "
            f"got h = {h}, d = {d}"
        )
    if delta > 0 and h != c:
        raise ValueError(
            f"delta > 0 needs the hidden width to equal the output dimension (h = c), "
            f"got h = {h}, c = {c}"
        )


def _weights(W, A) -> tuple[np.ndarray, np.ndarray]:
    W = check.finite_array("W", W, ndim=2)
    A = check.finite_array("A", A, ndim=2)
    if W.shape[0] != A.shape[0]:
        raise ValueError(
            f"W and A must have the same number of rows (the hidden width h), got W of shape "
            f"{W.shape} and A of shape {A.shape}"
        )
    return W, A


def _data(X, Y, shape: tuple[int, int], owner: str) -> tuple[np.ndarray, np.ndarray]:
    """Check X (n, d) and Y (n, c) against β's shape (d, c)."""
    X = check.finite_array("X", X, ndim=2)
    Y = check.finite_array("Y", Y, ndim=2)
    if Y.shape[0] != X.shape[0]:
        raise ValueError(f"Y has {Y.shape[0]} rows but X has {X.shape[0]}; they must match")
    if X.shape[1] != shape[0]:
        raise ValueError(f"X has {X.shape[1]} columns but {owner} needs d = {shape[0]}")
    if Y.shape[1] != shape[1]:
        raise ValueError(f"Y has {Y.shape[1]} columns but {owner} needs c = {shape[1]}")
    return X, Y


def exact_singular_value_flow(
    sigma0: np.ndarray,
    sigma_star: np.ndarray,
    delta: float | np.ndarray,
    t: np.ndarray,
    *,
    eta_a: float = 1.0,
    eta_w: float = 1.0,
) -> np.ndarray:
    """Exact decoupled mode dynamics σ̇ = −√(δ² + 4η_aη_wσ²)(σ − σ*) (docs/theory.md §3).

    This is how each singular value of β moves when Σ = I and β0 shares singular vectors with
    β* (modes with opposite signs are allowed: σ may cross 0 when δ ≠ 0). In u = 2√(η_aη_w)σ
    the flow is u̇ = −√(δ² + u²)(u − u*), whose separated integral gives, with
    R = √(u*² + δ²), N(u) = u*u + δ² + R√(u² + δ²) and ε = (u − u*)/N(u) = ε0 e^{−Rt},

        u = u0 + (u0 − u*)(e^{−Rt} − 1)(1 + δ²εε0) / ((1 − (R + u*)ε)(1 + (R − u*)ε)),

    closed form in t. It is evaluated in one of three algebraically equal arrangements
    (increment from u0, deviation from u*, or distance to the zero crossing), each factor
    computed without cancellation, so the result has full relative accuracy except within
    rounding of a zero crossing. δ = 0 is the logistic solution (σ never changes sign).

    Args:
        sigma0: initial singular values, shape broadcastable with sigma_star and delta.
        sigma_star: targets σ* (e.g. the singular values of Xᵀy when XᵀX = I).
        delta: the isotropic imbalance δ (a number, or broadcastable as above).
        t: times, shape (T,), non-negative and sorted.
        eta_a, eta_w: learning rates of A and W.

    Returns:
        σ(t), shape (T, *batch).
    """
    sigma0 = check.finite_array("sigma0", sigma0)
    sigma_star = check.finite_array("sigma_star", sigma_star)
    delta = check.finite_array("delta", delta)
    t = check.time_grid("t", t)
    # √η_a·√η_w: the product of rates of 1e300 would overflow.
    root_rate = np.sqrt(check.positive_float("eta_a", eta_a)) * np.sqrt(
        check.positive_float("eta_w", eta_w)
    )
    batch = check.broadcast_batch(sigma0=(sigma0, 0), sigma_star=(sigma_star, 0), delta=(delta, 0))
    times = t.reshape((-1,) + (1,) * len(batch))  # (T, 1, ..., 1)
    with np.errstate(over="ignore"):
        u0, target = 2 * root_rate * sigma0, 2 * root_rate * sigma_star
    blame = "sigma0, sigma_star, eta_a, eta_w"
    check.finite_result(np.concatenate([np.ravel(u0), np.ravel(target)]), blame)
    # Scale symmetry (u, u*, δ, t) → (u/m, u*/m, δ/m, mt) keeps every product in range.
    m = np.maximum(np.maximum(np.abs(u0), np.abs(target)), np.abs(delta))
    m = np.where(m > 0, m, 1.0)
    with np.errstate(over="ignore"):  # m t = inf is the t → ∞ limit, which _mode_flow takes
        u = m * _mode_flow(u0 / m, target / m, delta / m, m * times)
    sigma = check.finite_result(u / (2 * root_rate), blame)
    return np.broadcast_to(sigma, (t.size, *batch)).copy()  # (T, *batch)


def _mode_flow(u0, a, d, t):
    """u(t) for u̇ = −√(d² + u²)(u − a), elementwise with broadcasting
    (see exact_singular_value_flow)."""
    with np.errstate(all="ignore"):  # every branch is computed; the invalid ones are masked
        d2, ad, aa, au0 = d * d, np.abs(d), np.abs(a), np.abs(u0)
        R, S0 = np.hypot(a, d), np.hypot(u0, d)
        p = a * u0 + d2
        N0 = np.where(p >= 0, p + R * S0, d2 * (u0 - a) ** 2 / (R * S0 - p))  # N(u0) > 0
        e0 = (u0 - a) / N0
        r, one_minus_r = np.exp(-R * t), -np.expm1(-R * t)
        r_plus_a = np.where(a >= 0, R + a, d2 / (R - a))
        r_minus_a = np.where(a <= 0, R - a, d2 / (R + a))
        s0_minus_u0 = np.where(u0 <= 0, S0 - u0, d2 / (S0 + u0))
        s0_plus_u0 = np.where(u0 >= 0, S0 + u0, d2 / (S0 - u0))
        # D(ε) = f1 f2; the factor that could cancel is its value at t = 0 plus a positive term.
        f1 = np.where(
            e0 > 0,
            R * (r_plus_a + s0_minus_u0) / N0 + one_minus_r * r_plus_a * e0,
            1 - r_plus_a * e0 * r,
        )
        f2 = np.where(
            e0 > 0,
            1 + r_minus_a * e0 * r,
            R * (r_minus_a + s0_plus_u0) / N0 - one_minus_r * r_minus_a * e0,
        )
        D = f1 * f2
        increment = -(u0 - a) * one_minus_r * (1 + (d * e0) ** 2 * r) / D
        deviation = 2 * R * R * e0 * r / D
        same_side = np.where(np.abs(deviation) < np.abs(increment), a + deviation, u0 + increment)
        # Opposite signs: u = (R + |d| − |d|aε)|d|aε0 (r − r_c) / (a D), r_c the crossing's e^{−Rt}.
        one_minus_rc = (
            R
            * au0
            * (R + S0 + ad + ad * (a * a + u0 * u0 + d2) / (R * S0 + aa * au0))
            / ((R + ad) * (S0 + ad) * (au0 + aa))
        )
        log_n0 = np.where(
            p >= 0, np.log(p + R * S0), 2 * np.log(ad * np.abs(u0 - a)) - np.log(R * S0 - p)
        )
        log_rc = np.where(
            one_minus_rc < 0.5,
            np.log1p(-one_minus_rc),
            np.log(a * a / (R + ad)) + log_n0 - np.log(aa * np.abs(u0 - a) * ad),
        )
        x = -(R * t + log_rc)
        r_minus_rc = np.where(np.abs(x) < 1, np.exp(log_rc) * np.expm1(x), r - np.exp(log_rc))
        a_e0 = a * e0
        crossing = (R + ad - ad * a_e0 * r) * ad * a_e0 * r_minus_rc / (a * D)
        balanced = np.sign(u0) * la.logistic(au0, np.sign(u0) * a, t)
        u = np.where(a * u0 < 0, crossing, same_side)
        u = np.where((d2 == 0) | ~np.isfinite(e0), balanced, u)  # δ = 0, or δ² underflows
        return np.where(u0 == a, a, np.where(t == 0, u0, u))


def hyperbolic_entropy(
    sigma: np.ndarray, delta: float, *, eta_a: float = 1.0, eta_w: float = 1.0
) -> np.ndarray:
    """φ_δ(σ) = ½σ arcsinh(2σ/|δ|) − ¼√(4σ² + δ²), the mode flow's mirror potential (§3).

    φ_δ'' = 1/√(δ² + 4σ²), so σ̇ = −√(δ² + 4σ²)(σ − σ*) is the mirror flow d/dt φ'(σ) = −(σ − σ*).
    With rates, δ is replaced by δ/√(η_aη_w) (time is scaled by √(η_aη_w)). At δ = 0 the
    formula diverges like ½|σ| ln(1/|δ|), a term linear in |σ| that moves no mirror flow on
    either side of 0; what remains is returned: the entropy φ_0(σ) = ½(|σ| ln|σ| − |σ|).

    Args:
        sigma: singular values, any shape.
        delta: the isotropic imbalance δ.

    Returns:
        φ_δ(σ), the shape of sigma.
    """
    sigma = check.finite_array("sigma", sigma)
    scaled = _scaled_delta(delta, eta_a, eta_w)
    if scaled == 0:
        magnitude = np.abs(sigma)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(magnitude > 0, (magnitude * np.log(magnitude) - magnitude) / 2, 0.0)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # far: sign(x) log 2|x|
        ratio = 2 * sigma / scaled
        log_ratio = np.log(4 * np.abs(sigma)) - np.log(scaled)
        arcsinh = np.where(np.abs(ratio) > 1e8, np.sign(sigma) * log_ratio, np.arcsinh(ratio))
    return sigma * arcsinh / 2 - np.hypot(2 * sigma, scaled) / 4


def _scaled_delta(delta: float, eta_a: float, eta_w: float) -> float:
    """|δ|/√(η_aη_w), the unit-rate imbalance that sets the potential."""
    delta = float(check.finite_array("delta", delta, ndim=0))
    root_rate = np.sqrt(check.positive_float("eta_a", eta_a)) * np.sqrt(
        check.positive_float("eta_w", eta_w)
    )
    return abs(delta) / root_rate


def aligned_interpolant(
    M: np.ndarray,
    b: np.ndarray,
    sigma0: np.ndarray,
    delta: float,
    *,
    eta_a: float = 1.0,
    eta_w: float = 1.0,
) -> np.ndarray:
    """Where the aligned flow interpolates underdetermined data: its hyperbolic-entropy bias.

    Aligned setting (docs/theory.md §3): β = U diag(σ) Vᵀ with U, V fixed and shared by β0 and by
    the data, so the loss is a function of the singular values, L = ½‖Mσ − b‖². It arises for
    sensing matrices S_j = U diag(M_j) Vᵀ (L = ½Σ_j(⟨S_j, β⟩ − b_j)², e.g. the trace regression
    f = ⟨diag(x), β⟩ with U = V = I); then G = U diag(Mᵀ(Mσ − b)) Vᵀ and, because P + Q acts on
    mode i as √(δ² + 4η_aη_wσ_i²), each σ_i follows σ̇_i = −√(δ² + 4η_aη_wσ_i²) ∂L/∂σ_i: a mirror
    flow with potential Σ_i φ_δ(σ_i). It therefore converges to

        σ∞ = argmin_{Mσ = b} Σ_i φ_δ(σ_i) − φ_δ'(σ0_i) σ_i,

    which passes from ℓ1-like (δ → 0, small σ0: sparse σ∞) to ℓ2-like (|δ| → ∞: the σ∞ nearest
    σ0). Only |δ|/√(η_aη_w) matters.

    Args:
        M: measurements of the singular values, shape (m, k), full row rank.
        b: measured values, shape (m,).
        sigma0: initial singular values (signed: a mode aligned with a flipped sign is negative),
            shape (k,).
        delta: the isotropic imbalance δ.
        eta_a, eta_w: learning rates of A and W.

    Returns:
        σ∞, shape (k,).

    Raises:
        ValueError: bad shapes or values (naming the argument), M without full row rank, or
            (δ = 0 only) no interpolant reachable without changing the sign of a σ0 entry.
    """
    M = check.finite_array("M", M, ndim=2)
    b = check.finite_array("b", b, ndim=1)
    sigma0 = check.finite_array("sigma0", sigma0, ndim=1)
    if b.shape[0] != M.shape[0]:
        raise ValueError(f"b has {b.shape[0]} entries but M has {M.shape[0]} rows; they must match")
    check.matching_last_axis("sigma0", sigma0, M.shape[1], "M")
    if np.linalg.matrix_rank(M) < M.shape[0]:
        raise ValueError("M must have full row rank: its rows are linearly dependent")
    return la.mirror_interpolant(M, b, sigma0, _scaled_delta(delta, eta_a, eta_w))


# Names before 0.2 (docs/changelog.md).
__getattr__ = old_names(
    __name__,
    globals(),
    {
        "conserved": "conserved_quantity",
        "isotropic_init": "initial_parameters",
        "flow": "function_space_flow",
        "flow_from_params": "function_space_flow_from_parameters",
        "singular_value_flow": "exact_singular_value_flow",
    },
)
