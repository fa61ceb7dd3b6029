"""Closed form of docs/theory.md §2.1 against an independent integrator, limits, shapes, bad
input."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from richlazy.single_neuron import (
    Regime,
    asymptotic_preconditioner,
    conserved_quantity,
    exact_trajectory,
    gradient_flow,
    initial_parameters,
    kernel_distance,
    ntk,
    preconditioner,
    regime,
)


def state(trajectory):
    """(a, w) stacked as one vector per time: (..., T, 1 + d)."""
    return np.concatenate([trajectory.a[..., None], trajectory.w], axis=-1)


def relative_error(closed, reference):
    """max over time of ‖closed − reference‖ / ‖reference‖ on the full state (a, w)."""
    difference = np.linalg.norm(state(closed) - state(reference), axis=-1)
    return np.max(difference / np.linalg.norm(state(reference), axis=-1))


def orthonormal_inputs(rng, n, d):
    """X of shape (n, d), n ≥ d, with XᵀX = I: whitened data of docs/theory.md §2.1."""
    return np.linalg.qr(rng.normal(size=(n, d)))[0]


def reference(a0, w0, beta_star, t, **rates):
    """Gradient flow on the data X = I, y = β* (exact, so saddles are not perturbed)."""
    d = beta_star.shape[-1]
    return gradient_flow(a0, w0, np.eye(d), beta_star, t, rtol=1e-12, **rates)


# Exactly 0 or |x| ≥ 1e-9: smaller magnitudes underflow when the error norm squares them.
finite = st.floats(-3, 3, allow_nan=False).filter(lambda x: x == 0 or abs(x) >= 1e-9)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(d=st.integers(1, 3), data=st.data(), eta_a=st.floats(0.2, 4), eta_w=st.floats(0.2, 4))
def test_closed_form_matches_integrator_on_random_cases(d, data, eta_a, eta_w):
    a0 = data.draw(finite)
    w0 = np.array(data.draw(st.lists(finite, min_size=d, max_size=d)))
    beta_star = np.array(data.draw(st.lists(finite, min_size=d, max_size=d)))
    if a0 == 0 and not np.any(w0):
        return  # the origin is a fixed point; covered in test_origin_is_a_fixed_point
    t = np.linspace(0, 8, 41)
    closed = exact_trajectory(a0, w0, beta_star, t, eta_a=eta_a, eta_w=eta_w)
    # A trajectory on the stable manifold of the saddle at the origin (e.g. a0 = w0 = -1,
    # β* = -1: it shrinks like e^{-ct} while rounding errors off the manifold grow like e^{ct})
    # cannot be followed by any integrator; such cases are checked analytically in
    # test_stable_manifold_of_the_saddle_decays_at_the_analytic_rate.
    norms = np.linalg.norm(state(closed), axis=-1)
    assume(norms.min() >= 0.05 * norms[0])
    ref = reference(a0, w0, beta_star, t, eta_a=eta_a, eta_w=eta_w)
    assert relative_error(closed, ref) <= 1e-8


@pytest.mark.parametrize("eta", [0.5, 1.0, 3.0])
def test_stable_manifold_of_the_saddle_decays_at_the_analytic_rate(eta):
    """d = 1, a0 = w0, β* < 0: a = w stays balanced and β = a² can only shrink to the saddle 0.

    On a = w, ȧ = -η a(a² - β*), so x = a² solves ẋ = -2η x(x - β*) in closed form (logistic):
    x(t) = x0 |β*| e^{-2η|β*|t} / (|β*| + x0 (1 - e^{-2η|β*|t})).
    """
    a0, beta_star = -1.0, -1.5
    t = np.linspace(0, 8, 17)
    closed = exact_trajectory(a0, np.array([a0]), np.array([beta_star]), t, eta_a=eta, eta_w=eta)
    decay = np.exp(-2 * eta * abs(beta_star) * t)
    x = a0**2 * abs(beta_star) * decay / (abs(beta_star) + a0**2 * (1 - decay))
    expected = -np.sqrt(x)  # a keeps its sign
    np.testing.assert_allclose(closed.a, expected, rtol=1e-10, atol=0)
    np.testing.assert_allclose(closed.w[:, 0], expected, rtol=1e-10, atol=0)


def test_closed_form_matches_integrator_on_any_whitened_data():
    """Only XᵀX = I and β* = Xᵀy matter: random orthonormal X with n > d, generic inits."""
    rng = np.random.default_rng(7)
    t = np.linspace(0, 10, 51)
    for d in (1, 2, 4):
        X = orthonormal_inputs(rng, d + 3, d)
        y = rng.normal(size=d + 3)
        a0, w0 = rng.normal(size=3), rng.normal(size=(3, d))
        closed = exact_trajectory(a0, w0, X.T @ y, t, eta_a=0.6, eta_w=1.7)
        ref = gradient_flow(a0, w0, X, y, t, eta_a=0.6, eta_w=1.7, rtol=1e-12)
        assert relative_error(closed, ref) <= 1e-8


EDGE_CASES = {
    # name: (a0, w0, beta_star)
    "downstream": (0.3, [1.2, -0.4], [0.5, 1.0]),
    "balanced exactly": (1.0, [0.6, 0.8], [0.0, 1.0]),
    "upstream": (2.0, [0.3, 0.2], [1.0, -1.0]),
    "a0 zero": (0.0, [0.7, -0.2], [0.0, 1.0]),
    "a0 zero, w0 orthogonal": (0.0, [1.0, 0.0], [0.0, 1.0]),
    "target zero, downstream": (0.5, [1.0, 0.3], [0.0, 0.0]),
    "target zero, balanced": (0.5, [0.3, 0.4], [0.0, 0.0]),
    "target zero, upstream": (1.5, [0.3, 0.4], [0.0, 0.0]),
    "a crosses zero": (0.4, [-1.5, 0.1], [1.0, 0.0]),
    "paper fig3, delta=-4": (0.4859, [-(0.4859**-1), 0.0], [0.0, 1.0]),
}


@pytest.mark.parametrize("name", EDGE_CASES)
@pytest.mark.parametrize("rates", [(1.0, 1.0), (0.25, 3.0)])
def test_closed_form_matches_integrator_on_edge_cases(name, rates):
    a0, w0, beta_star = (np.asarray(x, dtype=float) for x in EDGE_CASES[name])
    t = np.concatenate([[0.0], np.logspace(-3, 1.5, 60)])
    eta_a, eta_w = rates
    closed = exact_trajectory(a0, w0, beta_star, t, eta_a=eta_a, eta_w=eta_w)
    ref = reference(a0, w0, beta_star, t, eta_a=eta_a, eta_w=eta_w)
    assert relative_error(closed, ref) <= 1e-8
    assert closed.conservation_drift() <= 1e-12
    assert ref.conservation_drift() <= 1e-8


def test_a_crosses_zero_exactly_once_downstream():
    closed = exact_trajectory(
        0.4, np.array([-1.5, 0.1]), np.array([1.0, 0.0]), np.linspace(0, 30, 3001)
    )
    assert closed.delta < 0
    assert np.count_nonzero(np.diff(np.sign(closed.a)) != 0) == 1


@pytest.mark.parametrize("delta", [-1e6, -1e3, -1.0, 0.0, 1.0, 1e3, 1e6])
@pytest.mark.parametrize("s", [0.0, 1e-6, 1.0])
def test_extreme_delta_and_time_stay_finite_and_conserve(delta, s):
    a0 = np.array([0.0, 0.7, -2.0, 5.0])
    keep = a0**2 - delta >= 0
    a0 = a0[keep]
    directions = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    w0 = np.sqrt(a0**2 - delta)[:, None, None] * directions[None]  # (k, 4, 2)
    a0 = np.broadcast_to(a0[:, None], w0.shape[:-1])
    t = np.concatenate([[0.0], np.logspace(-8, 6, 200)])
    closed = exact_trajectory(a0, w0, np.array([s, 0.0]), t)
    assert np.all(np.isfinite(closed.a)) and np.all(np.isfinite(closed.w))
    assert np.all(closed.conservation_drift() <= 1e-12)


def test_large_delta_against_integrator():
    t = np.linspace(0, 0.05, 11)
    for delta in (-1e3, 1e3):
        a0 = 1.0
        w0 = np.array([np.sqrt(a0**2 - delta), 0.0]) if delta < 0 else np.array([0.2, 0.1])
        if delta > 0:
            a0 = np.sqrt(delta + w0 @ w0)
        closed = exact_trajectory(a0, w0, np.array([0.3, 1.0]), t)
        ref = reference(a0, w0, np.array([0.3, 1.0]), t)
        assert relative_error(closed, ref) <= 1e-8


def test_continuous_through_balanced():
    t = np.linspace(0, 10, 101)
    w0, beta_star = np.array([0.6, 0.8]), np.array([0.0, 1.0])
    balanced = exact_trajectory(1.0, w0, beta_star, t)
    for eps in (1e-10, -1e-10):
        nearby = exact_trajectory(np.sqrt(1.0 + eps), w0, beta_star, t)
        assert np.max(np.abs(state(nearby) - state(balanced))) < 1e-8


def test_initial_condition_and_limit():
    a0, w0, beta_star = 0.5, np.array([-1.0, 0.3]), np.array([0.2, 1.0])
    closed = exact_trajectory(a0, w0, beta_star, np.array([0.0, 1e6]))
    np.testing.assert_allclose(closed.a[0], a0, rtol=2e-16)
    np.testing.assert_allclose(closed.w[0], w0, rtol=2e-16, atol=1e-16)
    np.testing.assert_allclose(closed.beta[-1], beta_star, rtol=1e-12)
    # At the minimum a² = κ/2 = (δ + √(δ² + 4s²))/2 (docs/theory.md §2.1).
    delta, s = closed.delta, np.linalg.norm(beta_star)
    np.testing.assert_allclose(closed.a[-1] ** 2, (delta + np.hypot(delta, 2 * s)) / 2)


def test_origin_is_a_fixed_point():
    closed = exact_trajectory(
        0.0, np.array([1.0, 0.0]), np.array([0.0, 2.0]), np.array([0.0, 1.0, 1e6])
    )
    np.testing.assert_array_equal(closed.a, 0.0)
    np.testing.assert_allclose(closed.w, [[1.0, 0.0]] * 3)


def test_signed_magnitude_and_alignment():
    closed = exact_trajectory(-2.0, np.array([0.0, 3.0]), np.array([0.0, 1.0]), np.array([0.0]))
    np.testing.assert_allclose(closed.mu, [-6.0])
    np.testing.assert_allclose(closed.phi, [1.0])
    zero_target = exact_trajectory(1.0, np.array([1.0, 0.0]), np.zeros(2), np.array([0.0]))
    np.testing.assert_array_equal(zero_target.phi, [0.0])


def test_broadcasting_and_shapes():
    rng = np.random.default_rng(0)
    a0 = rng.normal(size=(3, 1))
    w0 = rng.normal(size=(4, 2))
    beta_star = np.array([0.5, -1.0])
    t = np.linspace(0, 1, 5)
    eta_a = np.array([[0.5], [1.0], [2.0]])
    closed = exact_trajectory(a0, w0, beta_star, t, eta_a=eta_a)
    assert closed.a.shape == (3, 4, 5)
    assert closed.w.shape == (3, 4, 5, 2)
    assert closed.beta.shape == (3, 4, 5, 2)
    assert closed.mu.shape == closed.phi.shape == (3, 4, 5)
    assert closed.delta.shape == (3, 4)
    one = exact_trajectory(a0[2, 0], w0[1], beta_star, t, eta_a=2.0)
    np.testing.assert_allclose(closed.a[2, 1], one.a, rtol=1e-13)
    np.testing.assert_allclose(closed.w[2, 1], one.w, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"a0": np.nan}, "a0"),
        ({"w0": [np.inf, 0.0]}, "w0"),
        ({"beta_star": [0.0, 1.0, 2.0]}, "beta_star"),
        ({"t": [0.0, -1.0]}, "t"),
        ({"t": [0.0, 2.0, 1.0]}, "t"),
        ({"eta_a": 0.0}, "eta_a"),
        ({"eta_w": -1.0}, "eta_w"),
    ],
)
def test_bad_input_names_the_argument(kwargs, argument):
    arguments = {"a0": 1.0, "w0": [0.5, 0.5], "beta_star": [0.0, 1.0], "t": [0.0, 1.0]}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=argument):
        exact_trajectory(**arguments)
    if argument in ("a0", "w0", "t", "eta_a", "eta_w"):
        with pytest.raises(ValueError, match=argument):
            arguments.pop("beta_star")
            gradient_flow(X=np.eye(2), y=np.array([0.0, 1.0]), **arguments)


def test_conserved_quantity_and_preconditioner_match_parameters():
    rng = np.random.default_rng(3)
    a, w = rng.normal(size=5), rng.normal(size=(5, 3))
    eta_a, eta_w = 0.7, 1.9
    delta = conserved_quantity(a, w, eta_a=eta_a, eta_w=eta_w)
    np.testing.assert_allclose(delta, eta_w * a**2 - eta_a * np.sum(w**2, axis=1))
    from_parameters = eta_w * a[:, None, None] ** 2 * np.eye(3) + eta_a * w[:, :, None] * w[:, None]
    M = preconditioner(a[:, None] * w, delta, eta_a=eta_a, eta_w=eta_w)
    np.testing.assert_allclose(M, from_parameters, rtol=1e-12, atol=1e-14)


def test_ntk_is_X_M_Xt():
    rng = np.random.default_rng(4)
    X, a, w = rng.normal(size=(6, 3)), rng.normal(size=(2,)), rng.normal(size=(2, 3))
    K = ntk(X, a, w, eta_a=0.5, eta_w=2.0)
    M = preconditioner(
        a[:, None] * w, conserved_quantity(a, w, eta_a=0.5, eta_w=2.0), eta_a=0.5, eta_w=2.0
    )
    np.testing.assert_allclose(K, X @ M @ X.T, rtol=1e-12, atol=1e-13)


def test_kernel_distance_hand_made_cases():
    K = np.array([[2.0, 1.0], [1.0, 3.0]])
    assert kernel_distance(K, K) == pytest.approx(0.0, abs=1e-15)
    assert kernel_distance(K, 7.0 * K) == pytest.approx(0.0, abs=1e-15)
    e1, e2 = np.diag([1.0, 0.0]), np.diag([0.0, 1.0])
    assert kernel_distance(e1, e2) == pytest.approx(1.0)
    assert kernel_distance(np.eye(2), e1) == pytest.approx(1 - 1 / np.sqrt(2))
    batch = kernel_distance(np.stack([K, e1]), np.stack([K, e2]))
    np.testing.assert_allclose(batch, [0.0, 1.0], atol=1e-15)
    assert np.isnan(kernel_distance(np.zeros((2, 2)), K))
    with pytest.raises(ValueError, match="K0"):
        kernel_distance(np.ones((2, 3)), K)


def test_regime_names_and_limits():
    assert regime(2.0) is Regime.UPSTREAM
    assert regime(0.0) is Regime.BALANCED
    assert regime(-0.1) is Regime.DOWNSTREAM
    assert regime(0.05, tol=0.1) is Regime.BALANCED
    assert list(regime(np.array([-1.0, 0.0, 1.0]))) == [
        Regime.DOWNSTREAM,
        Regime.BALANCED,
        Regime.UPSTREAM,
    ]
    assert "lazy" in Regime.UPSTREAM.limit and "rich" in Regime.BALANCED.limit
    beta = np.array([0.3, -1.2])
    for delta in (1e2, 1e4, 1e6):
        for sign in (1, -1):
            exact = preconditioner(beta, sign * delta)
            limit = asymptotic_preconditioner(beta, sign * delta)
            assert np.linalg.norm(exact - limit) / np.linalg.norm(exact) < 10 / delta
    np.testing.assert_allclose(asymptotic_preconditioner(beta, 0.0), preconditioner(beta, 0.0))


def test_kernel_distance_falls_from_downstream_to_upstream():
    """Fig. 3 setting: S(0, t) is large downstream/balanced and vanishes upstream
    (docs/theory.md §2)."""
    t = np.linspace(0, 20, 201)
    beta0, beta_star = np.array([-1.0, 0.0]), np.array([0.0, 1.0])
    distances = []
    for delta in (-4.0, -1.0, 0.0, 1.0, 100.0):
        a0 = np.sqrt((delta + np.hypot(delta, 2 * np.linalg.norm(beta0))) / 2)
        closed = exact_trajectory(a0, beta0 / a0, beta_star, t)
        K = ntk(np.eye(2), closed.a, closed.w)  # (T, 2, 2)
        distances.append(float(kernel_distance(K[0], K[-1])))
    assert np.all(np.diff(distances) < 0), distances
    assert distances[0] > 0.5 and distances[-1] < 1e-6


def test_initial_parameters_have_the_requested_beta_and_delta():
    beta0 = np.array([[-1.0, 0.0], [0.3, 0.4]])
    for delta, rates in ((-4.0, (1.0, 1.0)), (0.0, (0.5, 2.0)), (2.5, (3.0, 0.2))):
        a0, w0 = initial_parameters(beta0, delta, eta_a=rates[0], eta_w=rates[1])
        assert np.all(a0 > 0)
        np.testing.assert_allclose(a0[:, None] * w0, beta0, rtol=1e-14)
        np.testing.assert_allclose(
            conserved_quantity(a0, w0, eta_a=rates[0], eta_w=rates[1]), delta, atol=1e-13
        )
    with pytest.raises(ValueError, match="beta0 = 0"):
        initial_parameters(np.zeros(2), -1.0)
