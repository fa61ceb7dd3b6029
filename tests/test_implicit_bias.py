"""Implicit bias at interpolation (docs/theory.md §2.2) against long gradient flows."""

import numpy as np
import pytest

from richlazy.single_neuron import (
    CrossingError,
    gradient_flow,
    initial_parameters,
    interpolant,
    potential,
    potential_gradient,
    preconditioner,
)


def flow_endpoint(X, y, beta0, delta, *, eta_a=1.0, eta_w=1.0):
    """β at the end of a long gradient flow from a0 > 0 with the given β0 and δ."""
    a0, w0 = initial_parameters(beta0, delta, eta_a=eta_a, eta_w=eta_w)
    flow = gradient_flow(a0, w0, X, y, np.array([0.0, 3e3]), eta_a=eta_a, eta_w=eta_w, rtol=1e-11)
    assert np.linalg.norm(X @ flow.beta[-1] - y) < 1e-9, "the reference flow did not converge"
    return flow.beta[-1], flow.a[-1]


def random_problem(seed, n, d):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=n), rng.normal(size=d)


@pytest.mark.parametrize("delta", [-3.0, -0.5, 0.0, 0.5, 3.0])
@pytest.mark.parametrize(("seed", "n", "d"), [(0, 1, 2), (1, 1, 3), (2, 2, 4), (3, 2, 3)])
def test_interpolant_matches_long_gradient_flow(delta, seed, n, d):
    X, y, beta0 = random_problem(seed, n, d)
    end, a_end = flow_endpoint(X, y, beta0, delta)
    try:
        predicted = interpolant(X, y, beta0, delta)
        assert a_end > 0
    except CrossingError as crossing:  # the flow changed basin: the error says where it went
        assert a_end < 0
        predicted = crossing.flipped_interpolant
    np.testing.assert_allclose(predicted, end, rtol=0, atol=1e-8 * np.linalg.norm(end))


def test_crossing_is_detected_and_flipped_branch_is_where_the_flow_goes():
    X = np.array([[1.0, 0.2, -0.3]])
    y = np.array([1.0])
    beta0 = np.array([-1.0, 0.1, 0.2])  # Xβ0 < 0 < y: β must pass through 0 downstream
    end, a_end = flow_endpoint(X, y, beta0, -2.0)
    assert a_end < 0
    with pytest.raises(CrossingError, match="crosses a = 0") as info:
        interpolant(X, y, beta0, -2.0)
    np.testing.assert_allclose(info.value.flipped_interpolant, end, atol=1e-8)
    unchecked = interpolant(X, y, beta0, -2.0, check_crossing=False)
    assert np.linalg.norm(unchecked - end) > 1e-3  # the wrong branch is really different


def test_unequal_learning_rates_enter_through_delta_over_c():
    X, y, beta0 = random_problem(5, 1, 3)
    end, _ = flow_endpoint(X, y, beta0, 0.8, eta_a=0.3, eta_w=2.0)
    np.testing.assert_allclose(interpolant(X, y, beta0, 0.8, eta_a=0.3, eta_w=2.0), end, atol=1e-8)


def test_lazy_limit_is_minimum_distance_to_beta0():
    X, y, beta0 = random_problem(6, 2, 5)
    lazy = interpolant(X, y, beta0, np.inf)
    np.testing.assert_allclose(X @ lazy, y, atol=1e-12)
    assert (
        abs(
            (lazy - beta0) @ (np.linalg.pinv(X) @ X @ (lazy - beta0))
            - (lazy - beta0) @ (lazy - beta0)
        )
        < 1e-12
    )  # β − β0 lies in the row space of X
    np.testing.assert_allclose(interpolant(X, y, beta0, 1e8), lazy, atol=1e-6)


def test_downstream_limit_is_along_beta0_for_one_sample():
    X = np.array([[0.5, 1.0]])
    y = np.array([1.1])
    beta0 = 0.5 * (0.6 * np.array([1.0, -0.5]) + 0.4 * np.array([0.5, 1.0]))
    limit = interpolant(X, y, beta0, -np.inf)
    np.testing.assert_allclose(limit, (1.1 / (X @ beta0)) * beta0)
    np.testing.assert_allclose(interpolant(X, y, beta0, -1e5), limit, atol=1e-4)
    with pytest.raises(CrossingError):
        interpolant(X, -y, beta0, -np.inf)


def test_potential_gradient_matches_finite_differences_and_hessian_is_mirror():
    rng = np.random.default_rng(8)
    for delta in (-2.0, 0.0, 1.5):
        beta = rng.normal(size=3)
        h = 1e-6
        numeric = np.array(
            [
                (potential(beta + h * e, delta) - potential(beta - h * e, delta)) / (2 * h)
                for e in np.eye(3)
            ]
        )
        np.testing.assert_allclose(potential_gradient(beta, delta), numeric, rtol=1e-7)
        # ∇²Q_δ = μ M⁻¹ for a scalar μ (docs/theory.md §2.2): ∇²Q · M is a multiple of I.
        hessian = np.array(
            [
                (potential_gradient(beta + h * e, delta) - potential_gradient(beta - h * e, delta))
                / (2 * h)
                for e in np.eye(3)
            ]
        )
        product = hessian @ preconditioner(beta, delta)
        np.testing.assert_allclose(product, product[0, 0] * np.eye(3), atol=1e-6)
    assert potential(np.zeros(2), -1.0) == 0.0


@pytest.mark.parametrize(
    ("X", "y", "beta0", "delta", "match"),
    [
        (np.eye(2), np.ones(2), np.ones(2), 0.0, "n < d"),
        (np.ones((2, 3)), np.ones(2), np.ones(3), 0.0, "full row rank"),
        (np.ones((1, 3)), np.ones(2), np.ones(3), 0.0, "y has 2 entries"),
        (np.ones((1, 3)), np.ones(1), np.ones(2), 0.0, "beta0"),
        (np.ones((1, 3)), np.ones(1), np.zeros(3), -1.0, "stationary"),
        (np.ones((1, 3)), np.ones(1), np.ones(3), np.nan, "delta"),
        (np.eye(2, 3), np.ones(2), np.ones(3), -np.inf, "single sample"),
        (np.ones((1, 3)), np.ones(1), np.ones(3) * np.nan, 0.0, "beta0"),
    ],
)
def test_bad_input_raises_value_error(X, y, beta0, delta, match):
    with pytest.raises(ValueError, match=match):
        interpolant(X, y, beta0, delta)
