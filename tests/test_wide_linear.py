"""Wide two-layer linear networks (docs/theory.md §3) against parameter-space gradient flow."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp
from scipy.optimize import linprog

from richlazy.wide_linear import (
    aligned_interpolant,
    conserved_quantity,
    exact_singular_value_flow,
    function_space_flow,
    function_space_flow_from_parameters,
    hyperbolic_entropy,
    initial_parameters,
    preconditioners,
)


def parameter_flow(W0, A0, gradient, t, *, eta_a=1.0, eta_w=1.0, rtol=1e-12):
    """Independent oracle: Ẇ = −η_w A Gᵀ, Ȧ = −η_a W G with G = gradient(WᵀA), any loss of β."""
    h, d = W0.shape
    c = A0.shape[1]

    def rhs(_, state):
        W, A = state[: h * d].reshape(h, d), state[h * d :].reshape(h, c)
        G = gradient(W.T @ A)  # (d, c)
        return np.concatenate([(-eta_w * A @ G.T).ravel(), (-eta_a * W @ G).ravel()])

    state0 = np.concatenate([W0.ravel(), A0.ravel()])
    size = np.abs(state0).max()
    solution = solve_ivp(
        rhs, (0, t[-1]), state0, method="DOP853", t_eval=t, rtol=rtol, atol=rtol * 1e-3 * size
    )
    assert solution.success
    states = solution.y.T  # (T, h d + h c)
    return states[:, : h * d].reshape(-1, h, d), states[:, h * d :].reshape(-1, h, c)


def regression(X, Y):
    return lambda beta: X.T @ (X @ beta - Y)


def max_relative_error(estimate, reference):
    """max over time of ‖estimate − reference‖_F / ‖reference‖_F, inputs of shape (T, ...)."""
    axes = tuple(range(1, reference.ndim))
    return np.max(
        np.linalg.norm(estimate - reference, axis=axes) / np.linalg.norm(reference, axis=axes)
    )


# (delta, h, d, c): every sign of δ with the widths the theorem allows, rectangular β included.
THEOREM_CASES = [
    (-0.7, 3, 3, 2),
    (-2.0, 2, 2, 4),
    (0.0, 4, 3, 2),
    (0.0, 2, 3, 3),
    (0.0, 5, 2, 1),
    (0.5, 2, 3, 2),
    (3.0, 3, 2, 3),
]


@pytest.mark.parametrize(("delta", "h", "d", "c"), THEOREM_CASES)
@pytest.mark.parametrize(("eta_a", "eta_w"), [(1.0, 1.0), (0.4, 2.5)])
def test_function_space_flow_matches_parameter_flow(delta, h, d, c, eta_a, eta_w):
    rng = np.random.default_rng(h + 10 * d + 100 * c)
    W0, A0 = initial_parameters(h, d, c, delta, eta_a=eta_a, eta_w=eta_w, scale=0.6, rng=rng)
    X, Y = rng.normal(size=(6, d)), rng.normal(size=(6, c))
    t = np.linspace(0, 4, 21)
    beta = function_space_flow_from_parameters(
        W0, A0, X, Y, t, eta_a=eta_a, eta_w=eta_w, rtol=1e-12
    )
    W, A = parameter_flow(W0, A0, regression(X, Y), t, eta_a=eta_a, eta_w=eta_w)
    reference = np.einsum("thd,thc->tdc", W, A)  # (T, d, c)
    assert max_relative_error(beta, reference) <= 1e-8
    # Δ is conserved along the parameter flow.
    Delta = eta_w * np.einsum("tic,tjc->tij", A, A) - eta_a * np.einsum("tid,tjd->tij", W, W)
    scale = np.linalg.norm(eta_w * A0 @ A0.T) + np.linalg.norm(eta_a * W0 @ W0.T)
    assert (
        np.abs(Delta - conserved_quantity(W0, A0, eta_a=eta_a, eta_w=eta_w)).max() <= 1e-9 * scale
    )


def test_small_initialization_rich_flow_matches_parameter_flow():
    """Rich regime: tiny balanced init escapes the saddle; relative accuracy holds throughout."""
    rng = np.random.default_rng(3)
    W0, A0 = initial_parameters(3, 3, 2, 0.0, scale=1e-3, rng=rng)
    X, Y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    t = np.linspace(0, 12, 41)
    beta = function_space_flow_from_parameters(W0, A0, X, Y, t, rtol=1e-12)
    W, A = parameter_flow(W0, A0, regression(X, Y), t)
    assert max_relative_error(beta, np.einsum("thd,thc->tdc", W, A)) <= 1e-8
    assert np.linalg.norm(beta[-1] - beta[0]) > 0.1  # it did leave the saddle


@pytest.mark.parametrize(("delta", "h", "d", "c"), THEOREM_CASES)
def test_preconditioners_are_the_layer_grams(delta, h, d, c):
    """Theorem 4.2 at a point: P = η_a WᵀW and Q = η_w AᵀA, and Δ = δI exactly."""
    W, A = initial_parameters(h, d, c, delta, eta_a=0.5, eta_w=3.0, rng=7)
    Delta = conserved_quantity(W, A, eta_a=0.5, eta_w=3.0)
    scale = np.linalg.norm(3.0 * A @ A.T)
    np.testing.assert_allclose(Delta, delta * np.eye(h), atol=1e-12 * scale)
    P, Q = preconditioners(W.T @ A, delta, eta_a=0.5, eta_w=3.0)
    np.testing.assert_allclose(P, 0.5 * W.T @ W, atol=1e-11 * scale)
    np.testing.assert_allclose(Q, 3.0 * A.T @ A, atol=1e-11 * scale)


def test_isotropic_init_is_reproducible():
    first = initial_parameters(3, 3, 2, -1.0, rng=11)
    second = initial_parameters(3, 3, 2, -1.0, rng=np.random.default_rng(11))
    for x, y in zip(first, second, strict=True):
        np.testing.assert_array_equal(x, y)


def test_singular_values_of_function_space_flow_follow_mode_flow():
    """Σ = I and β0 aligned with β*: the singular values of β(t) are exact_singular_value_flow."""
    rng = np.random.default_rng(5)
    d, c = 4, 3
    U = np.linalg.qr(rng.normal(size=(d, d)))[0][:, :c]
    V = np.linalg.qr(rng.normal(size=(c, c)))[0]
    sigma0, sigma_star = np.array([1e-3, 0.5, 2.0]), np.array([1.5, 0.2, 3.0])
    t = np.linspace(0, 6, 31)
    for delta in (-1.5, 0.0, 0.8):
        beta = function_space_flow(
            (U * sigma0) @ V.T, np.eye(d), (U * sigma_star) @ V.T, delta, t,
            eta_a=0.7, eta_w=1.3, rtol=1e-12,
        )  # fmt: skip
        modes = np.einsum("dk,tdc,ck->tk", U, beta, V)  # (T, k): diagonal of Uᵀβ(t)V
        expected = exact_singular_value_flow(sigma0, sigma_star, delta, t, eta_a=0.7, eta_w=1.3)
        np.testing.assert_allclose(modes, expected, rtol=1e-8)


def mode_ode(sigma0, sigma_star, delta, t, *, eta_a=1.0, eta_w=1.0, atol=None):
    """The mode ODE integrated by DOP853 at rtol 1e-12, shape (T,).

    The default atol is far below any value σ takes on the grid, so the control is relative:
    σ that starts off 0 never reaches it, and from σ0 = 0 it grows as σ(t1) ≳ |δσ*|t1/10."""
    if atol is None:
        atol = 1e-300 if sigma0 else max(1e-17 * abs(delta * sigma_star) * t[1], 1e-300)
    rate = 4 * eta_a * eta_w
    solution = solve_ivp(
        lambda _, s: -np.sqrt(delta**2 + rate * s**2) * (s - sigma_star),
        (0, t[-1]),
        [sigma0],
        method="DOP853",
        t_eval=t,
        rtol=1e-12,
        atol=atol,
    )
    assert solution.success
    return solution.y[0]


magnitudes = st.one_of(st.just(0.0), st.floats(1e-6, 3.0))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sigma0=magnitudes,
    sigma_star=magnitudes,
    delta=st.one_of(st.just(0.0), st.floats(-5, 5)),
    eta_a=st.floats(0.2, 4),
    eta_w=st.floats(0.2, 4),
)
def test_singular_value_flow_matches_its_ode(sigma0, sigma_star, delta, eta_a, eta_w):
    """Singular values (non-negative): relative error <= 1e-9 at every time."""
    t = np.linspace(0, 6, 25)
    exact = exact_singular_value_flow(sigma0, sigma_star, delta, t, eta_a=eta_a, eta_w=eta_w)
    reference = mode_ode(sigma0, sigma_star, delta, t, eta_a=eta_a, eta_w=eta_w)
    scale = np.where(reference != 0, np.abs(reference), 1.0)
    assert np.max(np.abs(exact - reference) / scale) <= 1e-9


@pytest.mark.parametrize("delta", [-2.0, -1e-3, 1e-3, 0.5, 4.0])
@pytest.mark.parametrize(("sigma0", "sigma_star"), [(0.8, -1.2), (-2.5, 0.3), (-1e-4, 2.0)])
def test_singular_value_flow_through_a_sign_change(delta, sigma0, sigma_star):
    """Opposite signs (a mode aligned with a flipped sign) cross 0 when δ ≠ 0."""
    t = np.linspace(0, 30, 61)
    exact = exact_singular_value_flow(sigma0, sigma_star, delta, t)
    reference = mode_ode(sigma0, sigma_star, delta, t, atol=1e-15)
    scale = np.maximum(np.abs(reference), 1e-3 * max(abs(sigma0), abs(sigma_star)))
    assert np.max(np.abs(exact - reference) / scale) <= 1e-9
    assert np.sign(exact[-1]) == np.sign(sigma_star)


def test_singular_value_flow_broadcasts_and_handles_fixed_points():
    t = np.array([0.0, 1.0, 1e6])
    sigma = exact_singular_value_flow(np.array([[0.0], [1.0]]), np.array([0.0, 1.0, 2.0]), 0.0, t)
    assert sigma.shape == (3, 2, 3)
    np.testing.assert_array_equal(sigma[:, 0], 0.0)  # δ = 0: σ = 0 is a fixed point
    np.testing.assert_array_equal(sigma[:, 1, 1], 1.0)  # σ0 = σ*
    np.testing.assert_allclose(sigma[-1, 1], [0.0, 1.0, 2.0], atol=1e-6)
    assert np.all(np.isfinite(exact_singular_value_flow(1e3, 1e-3, -1e6, np.logspace(-9, 6, 30))))


def test_hyperbolic_entropy_is_the_mirror_potential():
    """φ'' = 1/√(δ² + 4σ²) (finite differences) and the renormalised δ → 0 limit."""
    sigma, step = np.linspace(-2, 2, 9), 1e-4
    for delta in (-3.0, 0.2, 1.0):
        second = (
            hyperbolic_entropy(sigma + step, delta)
            - 2 * hyperbolic_entropy(sigma, delta)
            + hyperbolic_entropy(sigma - step, delta)
        ) / step**2
        np.testing.assert_allclose(second, 1 / np.sqrt(delta**2 + 4 * sigma**2), rtol=1e-6)
    small = 1e-10
    limit = hyperbolic_entropy(sigma, small) - np.abs(sigma) * np.log(4 / small) / 2
    np.testing.assert_allclose(limit, hyperbolic_entropy(sigma, 0.0), atol=1e-9)
    # rates enter through δ/√(η_aη_w)
    np.testing.assert_allclose(
        hyperbolic_entropy(sigma, 2.0, eta_a=4.0, eta_w=0.25), hyperbolic_entropy(sigma, 2.0)
    )


def sensing_start(rng, k, sigma0, delta, eta_a, eta_w):
    """(W0, A0) with Δ = δI, β0 = U diag(σ0) Vᵀ, hidden frame R (all Haar-random, h = k)."""
    R, U, V = (np.linalg.qr(rng.normal(size=(k, k)))[0] for _ in range(3))
    root = np.sqrt(delta**2 + 4 * eta_a * eta_w * sigma0**2)
    a_sq = np.where(delta >= 0, root + delta, 4 * eta_a * eta_w * sigma0**2 / (root - delta))
    a = np.sign(sigma0) * np.sqrt(a_sq / (2 * eta_w))  # η_w a² = (root + δ)/2
    w = np.sqrt(np.maximum(a_sq / 2 - delta, 0) / eta_a)  # η_a w² = η_w a² − δ
    return (R * w) @ U.T, (R * a) @ V.T, U, V


@pytest.mark.parametrize(
    ("delta", "eta_a", "eta_w"), [(-1.0, 1.0, 1.0), (0.0, 0.5, 2.0), (0.4, 2.0, 0.7)]
)
def test_aligned_interpolant_matches_long_parameter_flow(delta, eta_a, eta_w):
    """Matrix sensing with sensing matrices U diag(M_j) Vᵀ: (W, A) flow to convergence."""
    rng = np.random.default_rng(int(10 * delta) + 20)
    k, m = 4, 2
    sigma0 = rng.uniform(0.2, 0.8, size=k) * (np.array([1, 1, -1, 1]) if delta else 1)
    W0, A0, U, V = sensing_start(rng, k, sigma0, delta, eta_a, eta_w)
    M, b = rng.normal(size=(m, k)), rng.normal(size=m)
    if delta == 0:
        b = M @ rng.uniform(0.1, 1.0, size=k)  # reachable without sign changes
    S = np.einsum("dk,jk,ck->jdc", U, M, V)  # (m, d, c) sensing matrices

    def gradient(beta):
        return np.einsum("j,jdc->dc", np.einsum("jdc,dc->j", S, beta) - b, S)

    W, A = parameter_flow(W0, A0, gradient, np.array([0.0, 300.0]), eta_a=eta_a, eta_w=eta_w)
    beta = W[-1].T @ A[-1]
    assert np.abs(np.einsum("jdc,dc->j", S, beta) - b).max() < 1e-10  # converged
    expected = aligned_interpolant(M, b, sigma0, delta, eta_a=eta_a, eta_w=eta_w)
    np.testing.assert_allclose(beta, (U * expected) @ V.T, atol=1e-8 * np.abs(expected).max())


@pytest.mark.parametrize("delta", [1e-2, 0.3, 5.0, -1.0])
def test_aligned_interpolant_matches_long_mode_flow_from_zero(delta):
    """σ0 = 0 (the small-initialization limit): the mode flow's endpoint."""
    rng = np.random.default_rng(1)
    M, b = rng.normal(size=(3, 6)), rng.normal(size=3)
    sigma0 = np.zeros(6)

    def rhs(_, s):
        return -np.sqrt(delta**2 + 4 * s**2) * (M.T @ (M @ s - b))

    end = solve_ivp(rhs, (0, 2e3), sigma0, method="LSODA", rtol=1e-11, atol=1e-13).y[:, -1]
    assert np.abs(M @ end - b).max() < 1e-10
    np.testing.assert_allclose(aligned_interpolant(M, b, sigma0, delta), end, atol=1e-8)


def test_hyperbolic_entropy_passes_from_l1_to_l2():
    """δ → 0 approaches the sparse minimum-ℓ1 interpolant, |δ| → ∞ gives the minimum-ℓ2 one.

    From σ0 = 0 the potential is ½|σ|(ln(4|σ|/|δ|) − 1) + O(δ²) for |σ| ≫ |δ|: ℓ1 with a
    1/ln(1/|δ|) correction, so the approach is logarithmic; this problem's ℓ1 minimiser is
    well separated, which makes it visible by δ = 1e-12.
    """
    rng = np.random.default_rng(3)
    m, k = 6, 10
    M = rng.normal(size=(m, k))
    sparse = np.zeros(k)
    sparse[[2, 7]] = [1.5, -0.8]
    b = M @ sparse
    lp = linprog(np.ones(2 * k), A_eq=np.hstack([M, -M]), b_eq=b, bounds=(0, None))
    l1 = lp.x[:k] - lp.x[k:]  # min ‖σ‖₁ on Mσ = b
    l2 = np.linalg.pinv(M) @ b  # min ‖σ‖₂ on Mσ = b
    np.testing.assert_allclose(l1, sparse, atol=1e-9)  # ℓ1 recovers the sparse σ here
    deltas = np.logspace(-12, 8, 11)
    solutions = np.array([aligned_interpolant(M, b, np.zeros(k), d) for d in deltas])
    to_l1 = np.linalg.norm(solutions - l1, axis=1) / np.linalg.norm(l1)
    assert to_l1[0] <= 1e-6
    assert np.linalg.norm(solutions[-1] - l2) <= 1e-9 * np.linalg.norm(l2)
    assert np.all(np.diff(to_l1) >= 0)  # moves away from ℓ1 as δ grows ...
    assert np.all(np.diff(np.abs(solutions).sum(axis=1)) >= -1e-9)  # ... its ℓ1 norm grows
    assert np.count_nonzero(np.abs(solutions[0]) > 1e-6) == 2  # sparse at small δ
    assert np.count_nonzero(np.abs(solutions[-1]) > 1e-3) == k  # dense at large δ


def test_invalid_conditions_raise_and_say_which():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"h = d"):
        initial_parameters(2, 3, 2, -1.0, rng=rng)
    with pytest.raises(ValueError, match=r"h = c"):
        initial_parameters(3, 3, 2, 1.0, rng=rng)
    with pytest.raises(ValueError, match="h must be an integer >= 1"):
        initial_parameters(0, 3, 2, 0.0, rng=rng)
    with pytest.raises(TypeError, match="rng"):
        initial_parameters(3, 3, 2, 0.0, rng=None)
    X, Y, t = rng.normal(size=(4, 3)), rng.normal(size=(4, 2)), np.linspace(0, 1, 3)
    with pytest.raises(ValueError, match=r"Δ = η_w AAᵀ − η_a WWᵀ = δI"):
        function_space_flow_from_parameters(
            rng.normal(size=(3, 3)), rng.normal(size=(3, 2)), X, Y, t
        )
    # Δ = δI holds but the width condition fails: h < d with δ < 0, h < c with δ > 0.
    A = rng.normal(size=(2, 2))
    W = np.linalg.cholesky(A @ A.T + np.eye(2)) @ np.eye(3)[:2]  # Δ = −I, h = 2, d = 3
    with pytest.raises(ValueError, match=r"h = d"):
        function_space_flow_from_parameters(W, A, X, Y, t)
    W = rng.normal(size=(1, 3))
    A = np.sqrt(1 + W @ W.T) * np.array([[1.0, 0.0]])  # Δ = +1, h = 1, c = 2
    with pytest.raises(ValueError, match=r"h = c"):
        function_space_flow_from_parameters(W, A, X, Y, t)
    with pytest.raises(ValueError, match="same number of rows"):
        conserved_quantity(np.ones((3, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="X has 3 columns"):
        function_space_flow(np.zeros((2, 2)), X, Y, 0.0, t)
    with pytest.raises(ValueError, match="Y has 3 rows but X has 4"):
        function_space_flow(np.zeros((3, 2)), X, Y[:3], 0.0, t)
    with pytest.raises(ValueError, match="t must be sorted"):
        function_space_flow(np.zeros((3, 2)), X, Y, 0.0, t[::-1])
    with pytest.raises(ValueError, match="eta_a must be positive"):
        exact_singular_value_flow(1.0, 2.0, 0.0, t, eta_a=0.0)
    with pytest.raises(ValueError, match="sigma0 must be finite"):
        exact_singular_value_flow(np.nan, 2.0, 0.0, t)
    with pytest.raises(ValueError, match="full row rank"):
        aligned_interpolant(np.ones((2, 3)), np.ones(2), np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="no interpolant is reachable"):
        aligned_interpolant(np.array([[1.0, 1.0]]), np.array([-1.0]), np.array([0.5, 0.5]), 0.0)
