"""The bounded reference integration every theory integrator uses (richlazy._ode)."""

import time

import numpy as np
import pytest

from richlazy import _ode
from richlazy import single_neuron as sn


def decay(_, state):
    return -state


def test_a_solution_within_the_budget_is_the_plain_solve_ivp_one():
    solution = _ode.integrate(
        decay,
        1.0,
        np.ones(2),
        what="a decay",
        state_name="x0",
        method="DOP853",
        rtol=1e-10,
        atol=1e-14,
    )
    np.testing.assert_allclose(solution.y[:, -1], np.exp(-1.0), rtol=1e-9)


def test_the_hard_limit_stops_an_integration_and_names_the_horizon(monkeypatch):
    monkeypatch.setattr(_ode, "MAX_EVALUATIONS", 500)
    monkeypatch.setattr(_ode, "CHECK_EVERY", 10**9)  # no projection: the limit itself
    with pytest.raises(ValueError, match=r"^t: integrating a decay to t = 1e\+04 needs more"):
        _ode.integrate(decay, 1e4, np.ones(2), what="a decay", state_name="x0", rtol=1e-10)


def test_a_hopeless_horizon_is_refused_early_by_its_projection():
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"^t: .* needs about .* evaluations"):
        sn.gradient_flow(1.0, [0.5, 0.2], np.array([[1.0, 0.3]]), np.array([1.0]), [0.0, 1e12])
    assert time.perf_counter() - start < 5  # refused at a projection, not at the hard limit


def test_a_shared_budget_bounds_a_loop_of_integrations(monkeypatch):
    budget = _ode.Budget(limit=3000)
    monkeypatch.setattr(_ode, "CHECK_EVERY", 10**9)
    with pytest.raises(ValueError, match=r"^delta:"):
        for _ in range(100):
            _ode.integrate(
                decay,
                50.0,
                np.ones(2),
                what="a decay",
                state_name="x0",
                horizon_name="delta",
                budget=budget,
                rtol=1e-12,
                atol=1e-14,
            )
    assert budget.used == budget.limit + 1


def test_a_velocity_that_is_not_finite_at_the_start_names_the_state():
    with pytest.raises(ValueError, match=r"^x0: the velocity of a blow-up is not finite"):
        _ode.integrate(lambda _, s: s * np.inf, 1.0, np.ones(2), what="a blow-up", state_name="x0")


def test_a_failed_integration_names_the_state_and_the_fix():
    with pytest.raises(ValueError, match=r"^x0: integrating a blow-up failed .* rescale"):
        _ode.integrate(
            lambda _, s: s**3,
            10.0,
            np.ones(1),
            what="a blow-up",
            state_name="x0",
            method="DOP853",
        )
