"""Bad and extreme input thrown at every public function of the theory modules (issue 17).

Each case asserts the error type, that the message names the argument, and that the call ends
within a few seconds (the ``within`` fixture of conftest.py); extreme but valid input must give
a correct finite answer instead (the δ → ±∞ limits, rates of 1e300, kernels of 1e±200, α of
τ = 1e-80).
"""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from richlazy import deep_linear as dl
from richlazy import single_neuron as sn
from richlazy import wide_linear as wl
from richlazy.nets import alpha_from, delta_from

BOUND = 5.0  # seconds any single bad-input call may take

X1, Y1, B0 = np.array([[0.5, 1.0]]), np.array([1.1]), np.array([0.4, 0.05])
T = np.array([0.0, 0.5, 1.0])
W_DEEP = dl.initial_parameters([2, 2, 2], 0.5, rng=0)
W_WIDE, A_WIDE = wl.initial_parameters(2, 2, 2, 0.0, rng=0)
EYE = np.eye(2)


def deep_trajectory():
    return dl.gradient_flow(W_DEEP, EYE, EYE, T)


# (function, positional arguments, keyword arguments, error type, argument named)
CASES = [
    # single_neuron
    (sn.regime, (np.nan,), {}, ValueError, "delta"),
    (sn.regime, (1.0,), {"tol": -1.0}, ValueError, "tol"),
    (sn.regime, (1j,), {}, TypeError, "delta"),
    (sn.initial_parameters, ([0.0, 0.0], -1.0), {}, ValueError, "beta0"),
    (sn.initial_parameters, ([1.0, 0.0], 1.0), {"eta_a": 0.0}, ValueError, "eta_a"),
    (sn.initial_parameters, ([1.0, 1j], 1.0), {}, TypeError, "beta0"),
    (sn.initial_parameters, ("ab", 1.0), {}, TypeError, "beta0"),
    (sn.conserved_quantity, (1.0, [np.inf, 0.0]), {}, ValueError, "w"),
    (sn.conserved_quantity, (1.0, 2.0), {}, ValueError, "w"),
    (sn.conserved_quantity, ([[1, 2], [3]], [1.0]), {}, TypeError, "a"),
    (sn.preconditioner, ([1.0, 0.0], np.nan), {}, ValueError, "delta"),
    (sn.preconditioner, ([1.0, 0.0], 1.0), {"eta_w": -1.0}, ValueError, "eta_w"),
    (sn.asymptotic_preconditioner, ([1.0, 0.0], [1.0, 2.0]), {}, ValueError, "delta"),
    (sn.ntk, (EYE, 1.0, [1.0, 0.0, 0.0]), {}, ValueError, "w"),
    (sn.ntk, (np.ones(2), 1.0, [1.0, 0.0]), {}, ValueError, "X"),
    (sn.exact_trajectory, (1.0, [0.5, 0.5], [0.0, 1.0], []), {}, ValueError, "t"),
    (sn.exact_trajectory, (1.0, [0.5, 0.5], [0.0, 1.0], [1.0, 0.0]), {}, ValueError, "t"),
    (sn.exact_trajectory, (1.0, [0.5, 0.5], [0.0, 1.0], [-1.0]), {}, ValueError, "t"),
    (sn.exact_trajectory, (1.0, [0.5, 0.5], [0.0, 1.0, 0.0], T), {}, ValueError, "beta_star"),
    (sn.exact_trajectory, (1.0 + 1j, [0.5, 0.5], [0.0, 1.0], T), {}, TypeError, "a0"),
    (sn.exact_trajectory, ([1.0, 2.0, 3.0], [[0.5, 0.5]] * 2, [0.0, 1.0], T), {}, ValueError, "a0"),
    (
        sn.exact_trajectory,
        (1.0, [0.5, 0.5], [0.0, 1.0], [0.0, 1e10]),
        {"eta_a": 1e300, "eta_w": 1e300},
        ValueError,
        "eta_a",
    ),
    (sn.exact_trajectory, (1e200, [1e200, 0.5], [0.0, 1.0], T), {}, ValueError, "a0"),
    (sn.gradient_flow, (1.0, [0.5, 0.2], X1, Y1, []), {}, ValueError, "t"),
    (sn.gradient_flow, (1.0, [0.5, 0.2], X1, [1.0, 2.0], T), {}, ValueError, "y"),
    (sn.gradient_flow, (1.0, [0.5, 0.2], X1, Y1, T), {"rtol": 0.0}, ValueError, "rtol"),
    (sn.gradient_flow, (1.0, [0.5, 0.2], X1, Y1, [0.0, 1e12]), {}, ValueError, "t"),
    (sn.gradient_flow, (1e200, [1e200, 0.2], X1, Y1, T), {}, ValueError, "a0"),
    (sn.gradient_flow, (1.0, [0.5, 0.2], X1, Y1, T), {"eta_a": 1e300}, ValueError, "a0"),
    (sn.interpolant, (X1, Y1, B0, np.nan), {}, ValueError, "delta"),
    (sn.interpolant, (X1, Y1, B0, 1j), {}, TypeError, "delta"),
    (sn.interpolant, (X1, Y1, B0, "big"), {}, TypeError, "delta"),
    (sn.interpolant, (np.eye(2), [1.0, 1.0], B0, 1.0), {}, ValueError, "X"),
    (sn.interpolant, (X1, [1.0, 2.0], B0, 1.0), {}, ValueError, "y"),
    (
        sn.interpolant,
        ([[0.5, 1.0, 0.0], [0.0, 1.0, 1.0]], [1.1, 1.0], [0.4, 0.05, 0.1], -1e300),
        {},
        ValueError,
        "delta",
    ),
    (sn.potential, ([1.0, 0.0], np.inf), {}, ValueError, "delta"),
    (sn.potential_gradient, (np.ones(()), 1.0), {}, ValueError, "beta"),
    (sn.kernel_distance, (np.ones((2, 3)), np.ones((2, 3))), {}, ValueError, "K0"),
    (sn.kernel_distance, (EYE, np.full((2, 2), np.nan)), {}, ValueError, "Kt"),
    (sn.kernel_distance, (np.ones((3, 2, 2)), np.ones((4, 2, 2))), {}, ValueError, "K0"),
    (sn.kernel_distance, (EYE * 1j, EYE), {}, TypeError, "K0"),
    (sn.kernel_distance, (np.ones((0, 0)), np.ones((0, 0))), {}, ValueError, "K0"),
    # wide_linear
    (wl.conserved_quantity, (np.ones((2, 2)), np.ones((3, 2))), {}, ValueError, "W"),
    (
        wl.conserved_quantity,
        (np.ones((2, 2)), np.ones((2, 2))),
        {"eta_a": np.inf},
        ValueError,
        "eta_a",
    ),
    (wl.initial_parameters, (3, 2, 2, -1.0), {"rng": 0}, ValueError, "h"),
    (wl.initial_parameters, (2, 2, 2, 0.0), {"rng": None}, TypeError, "rng"),
    (wl.initial_parameters, (2.5, 2, 2, 0.0), {"rng": 0}, ValueError, "h"),
    (wl.initial_parameters, (True, 2, 2, 0.0), {"rng": 0}, TypeError, "h"),
    (wl.preconditioners, (np.ones(2), 1.0), {}, ValueError, "beta"),
    (wl.function_space_flow, (np.ones((2, 2)), EYE, EYE, 0.5, [0.0, 1e12]), {}, ValueError, "t"),
    (wl.function_space_flow, (np.ones((2, 2)), EYE, np.ones((3, 2)), 0.5, T), {}, ValueError, "Y"),
    (wl.function_space_flow, (np.ones((2, 2)) * 1e200, EYE, EYE, 0.5, T), {}, ValueError, "beta0"),
    (wl.function_space_flow, (np.ones((2, 2)), EYE, EYE, 1e250, T), {}, ValueError, "delta"),
    (wl.function_space_flow, (np.ones((2, 2)), EYE, EYE, -1e250, T), {}, ValueError, "delta"),
    (
        wl.function_space_flow_from_parameters,
        (W_WIDE, A_WIDE, EYE, EYE, T),
        {"tol": 0.0},
        ValueError,
        "tol",
    ),
    (
        wl.exact_singular_value_flow,
        (1e10, 2.0, 0.5, T),
        {"eta_a": 1e300, "eta_w": 1e300},
        ValueError,
        "sigma0",
    ),
    (wl.exact_singular_value_flow, ([1.0, 2.0], [1.0, 2.0, 3.0], 0.5, T), {}, ValueError, "sigma0"),
    (wl.exact_singular_value_flow, (1.0, 2.0, 0.5, [[0.0, 1.0]]), {}, ValueError, "t"),
    (wl.hyperbolic_entropy, ([1.0, np.nan], 1.0), {}, ValueError, "sigma"),
    (wl.aligned_interpolant, (np.ones((2, 2)), [1.0, 1.0], [1.0, 1.0], 1.0), {}, ValueError, "M"),
    (wl.aligned_interpolant, (EYE, [1.0], [1.0, 1.0], 1.0), {}, ValueError, "b"),
    # deep_linear
    (dl.conserved_quantity, ([np.ones((2, 2)), np.ones((3, 3))],), {}, ValueError, "weights"),
    (dl.conserved_quantity, (np.ones((2, 2, 2)),), {}, ValueError, "weights"),
    (dl.conserved_quantity, (W_DEEP,), {"etas": [1.0]}, ValueError, "etas"),
    (dl.initial_parameters, ([2, 3, 2], 1.0), {"rng": 0}, ValueError, "widths"),
    (dl.initial_parameters, ([2, 0, 2], 0.0), {"rng": 0}, ValueError, "widths"),
    (dl.initial_parameters, ([2, 2, 2], [1.0, 2.0, 3.0]), {"rng": 0}, ValueError, "deltas"),
    (dl.initial_parameters, ([2, 2, 2], 0.0), {"rng": 0, "scale": -1.0}, ValueError, "scale"),
    (dl.exact_singular_value_flow, (-1.0, 1.0, 3, T), {}, ValueError, "sigma0"),
    (dl.exact_singular_value_flow, (1.0, 1.0, 0, T), {}, ValueError, "depth"),
    (dl.exact_singular_value_flow, (1.0, 1.0, 3, T), {"eta": 0.0}, ValueError, "eta"),
    (dl.exact_singular_value_flow, (1.0, 1.0, 3, []), {}, ValueError, "t"),
    (dl.gradient_flow, ([w * 1e100 for w in W_DEEP], EYE, EYE, T), {}, ValueError, "weights0"),
    (dl.gradient_flow, (W_DEEP, EYE, EYE, [0.0, 1e12]), {}, ValueError, "t"),
    (dl.gradient_flow, (W_DEEP, np.ones((2, 3)), EYE, T), {}, ValueError, "X"),
    (dl.gradient_flow, (W_DEEP, EYE, np.ones((2, 3)), T), {}, ValueError, "Y"),
    (dl.gradient_flow, (W_DEEP, EYE, EYE, T), {"rtol": -1.0}, ValueError, "rtol"),
    (dl.learning_speed_profile, ("not a trajectory",), {}, TypeError, "trajectory"),
]


def case_id(case) -> str:
    function, *_, name = case
    return f"{function.__module__.rsplit('.', 1)[-1]}.{function.__name__}-{name}"


@pytest.mark.parametrize("case", CASES, ids=[f"{case_id(c)}-{i}" for i, c in enumerate(CASES)])
def test_bad_input_is_refused_naming_the_argument(case, within):
    function, args, kwargs, kind, name = case
    with within(BOUND), pytest.raises(kind) as error:
        function(*args, **kwargs)
    message = str(error.value)
    assert re.search(rf"(^|\W){re.escape(name)}(\W|$)", message), message
    assert "\n" not in message


def test_every_public_function_has_a_bad_input_case():
    tested = {(c[0].__module__, c[0].__name__) for c in CASES}
    for module in (sn, wl, dl):
        for name in module.__all__:
            member = getattr(module, name)
            if callable(member) and not isinstance(member, type) and name != "closed_form_threads":
                assert (member.__module__, member.__name__) in tested, f"{module.__name__}.{name}"


# ---- extreme but valid input: correct finite answers, within seconds -------------------------


def test_alpha_from_tiny_tau_is_finite_and_exact(within):
    with within(BOUND):
        alpha = alpha_from(1e-80, 1.0)
        assert np.isfinite(alpha) and alpha == pytest.approx(1e80, rel=1e-13)
        assert alpha_from(1e-200, -1.0) == pytest.approx(1e-200, rel=1e-12)
        assert alpha_from(1e-80, 1.0, eta_a=2.0, eta_w=3.0) == pytest.approx(
            1e80 / np.sqrt(3.0), rel=1e-13
        )


@settings(deadline=None, max_examples=60)
@given(
    log_tau=st.floats(-150, 150),
    delta=st.floats(-1e3, 1e3, allow_nan=False),
    log_rates=st.tuples(st.floats(-3, 3), st.floats(-3, 3)),
)
def test_alpha_from_inverts_delta_from_over_300_decades(log_tau, delta, log_rates):
    tau, (eta_a, eta_w) = 10.0**log_tau, 10.0 ** np.array(log_rates)
    alpha = alpha_from(tau, delta, eta_a=eta_a, eta_w=eta_w)
    assert np.isfinite(alpha) and alpha > 0
    with np.errstate(under="ignore", over="ignore"):
        back = delta_from(tau, alpha, eta_a=eta_a, eta_w=eta_w)
    scale = tau**2 * (eta_w * alpha**2 + eta_a / alpha**2)  # the size of the two terms
    if np.isfinite(scale):
        assert abs(back - delta) <= 1e-9 * scale + 1e-300


@settings(deadline=None, max_examples=40)
@given(
    log_scales=st.tuples(st.floats(-300, 300), st.floats(-300, 300)),
    seed=st.integers(0, 2**16),
)
def test_kernel_distance_is_scale_invariant_from_1e_minus_300_to_1e300(log_scales, seed):
    rng = np.random.default_rng(seed)
    A, B = rng.normal(size=(2, 3, 3))
    K0, Kt = A @ A.T, B @ B.T  # PSD kernels
    expected = sn.kernel_distance(K0, Kt)
    scaled = sn.kernel_distance(K0 * 10.0 ** log_scales[0], Kt * 10.0 ** log_scales[1])
    assert np.isfinite(scaled) and scaled == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_kernel_distance_of_a_zero_kernel_is_nan():
    assert np.isnan(sn.kernel_distance(np.zeros((2, 2)), np.eye(2)))
    assert sn.kernel_distance(np.eye(2) * 1e200, np.eye(2) * 1e-200) == pytest.approx(0.0)


@pytest.mark.parametrize("delta", [-1e300, -1e20, 1e20, 1e300])
def test_interpolant_beyond_resolution_is_the_limit_at_once(delta, within):
    limit = sn.interpolant(X1, Y1, B0, np.sign(delta) * np.inf)
    with within(BOUND):
        np.testing.assert_allclose(sn.interpolant(X1, Y1, B0, delta), limit, rtol=1e-12)


def test_huge_learning_rates_give_finite_results(within):
    with within(BOUND):
        flow = sn.exact_trajectory(1.0, [0.5, 0.5], [0.0, 1.0], T, eta_a=1e300, eta_w=1e300)
        assert np.all(np.isfinite(flow.a)) and np.all(np.isfinite(flow.w))
        np.testing.assert_allclose(flow.beta[-1], [0.0, 1.0], atol=1e-12)  # converged
        modes = wl.exact_singular_value_flow(1.0, 2.0, 0.5, T, eta_a=1e300, eta_w=1e300)
        np.testing.assert_allclose(modes[1:], 2.0)
        deep = dl.exact_singular_value_flow(
            [1.0, 0.5], [2.0, -1.0], 2, [0.0, 1.0, 1e300], eta=1e300
        )
        np.testing.assert_allclose(deep[1:], [[2.0, 0.0], [2.0, 0.0]])


@settings(deadline=None, max_examples=30)
@given(
    value=st.sampled_from([np.nan, np.inf, -np.inf, 1j, "x", None, [], [[1.0], [1.0, 2.0]]]),
    position=st.integers(0, 3),
)
def test_exact_trajectory_names_any_bad_argument(value, position):
    arguments = [1.0, [0.5, 0.5], [0.0, 1.0], T]
    names = ["a0", "w0", "beta_star", "t"]
    arguments[position] = value
    if position == 0 and isinstance(value, list) and not value:  # an empty batch: empty answer
        assert sn.exact_trajectory(*arguments).a.shape == (0, T.size)
        return
    with pytest.raises((TypeError, ValueError)) as error:
        sn.exact_trajectory(*arguments)
    assert names[position] in str(error.value)


@pytest.mark.parametrize("delta", [-1e300, -1e250, 1e250, 1e300])
def test_preconditioners_of_a_huge_delta_are_finite_and_exact(delta):
    """√(δ² + 4x) must not square δ (OverflowError past |δ| ≈ 1.3e154): the limits are exact."""
    beta = np.array([[1.0, 0.0], [0.0, 2.0]])
    P, Q = wl.preconditioners(beta, delta)  # δ > 0: P → ββᵀ/δ, Q → δI; δ < 0 mirrored
    small, large = (P, Q) if delta > 0 else (Q, P)
    np.testing.assert_allclose(large, abs(delta) * np.eye(2), rtol=1e-15)
    np.testing.assert_allclose(small * abs(delta), beta @ beta.T, rtol=1e-12)
    M = sn.preconditioner(np.array([0.6, 0.8]), delta)  # δ > 0: ≈ δI; δ < 0: ≈ |δ|β̂β̂ᵀ
    expected = delta * np.eye(2) if delta > 0 else abs(delta) * np.outer([0.6, 0.8], [0.6, 0.8])
    np.testing.assert_allclose(M, expected, rtol=1e-12, atol=1e-12)


def test_the_initial_velocity_bound_is_decided_before_integrating():
    """Velocities past 1e150 are refused from their size, not from where the solver fails (so
    the same argument is named on every CPU); just below, integration is attempted."""
    with pytest.raises(ValueError, match=r"a0, w0: the velocity .* beyond 1e\+150"):
        sn.gradient_flow(1.0, [0.5, 0.2], X1, Y1, T, eta_a=1e300)
