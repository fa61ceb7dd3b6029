"""The closed form's private evaluation machinery (``richlazy._closed_form``, docs/theory.md §2.1):
blocks shared among threads, the fast exponential, the thread count."""

import numpy as np
import pytest

from richlazy import _closed_form
from richlazy.single_neuron import exact_trajectory, gradient_flow


@pytest.mark.parametrize("per_row_rates", [False, True])
def test_blocks_shared_among_cores_equal_the_serial_evaluation(monkeypatch, per_row_rates):
    """Large batches are split into blocks evaluated by several threads; rows whose N² underflows
    (the saddle's stable manifold, at long times) are redone in the log domain in either case."""

    rng = np.random.default_rng(11)
    a0, w0, beta_star = rng.normal(size=300), rng.normal(size=(300, 2)), rng.normal(size=(300, 2))
    a0[::50], w0[::50], beta_star[::50] = -1.0, [-1.0, 0.0], [-1.5, 0.0]  # on the saddle's manifold
    rates = rng.uniform(0.5, 2.0, size=300) if per_row_rates else 1.0  # per-row times: (B, T)
    t = np.concatenate([[0.0], np.logspace(-3, 3, 99)])
    log_rows = []
    log_domain = _closed_form._log_domain
    monkeypatch.setattr(
        _closed_form, "_log_domain", lambda c, t: log_rows.append(c.A.shape[0]) or log_domain(c, t)
    )
    monkeypatch.setattr(_closed_form, "_BLOCK", 700)  # 7 rows per block, 43 blocks
    monkeypatch.setattr(_closed_form, "threads", lambda: 3)
    monkeypatch.setattr(_closed_form, "_THREADED_FROM", 10**12)
    serial = exact_trajectory(a0, w0, beta_star, t, eta_a=rates, eta_w=rates)
    assert sum(log_rows) == 6  # the six rows on the manifold
    monkeypatch.setattr(_closed_form, "_THREADED_FROM", 1)
    threaded = exact_trajectory(a0, w0, beta_star, t, eta_a=rates, eta_w=rates)
    assert sum(log_rows) == 12
    np.testing.assert_array_equal(threaded.a, serial.a)
    np.testing.assert_array_equal(threaded.w, serial.w)
    for row in (1, 299):  # two generic rows against the integrator, to t = 10
        eta = rates[row] if per_row_rates else 1.0
        ref = gradient_flow(
            a0[row], w0[row], np.eye(2), beta_star[row], t[:67], rtol=1e-12, eta_a=eta, eta_w=eta
        )
        closed = np.c_[threaded.a[row, :67], threaded.w[row, :67]]  # (T, 1 + d)
        expected = np.c_[ref.a, ref.w]
        error = np.linalg.norm(closed - expected, axis=-1) / np.linalg.norm(expected, axis=-1)
        assert error.max() <= 1e-8


def test_exponential_of_long_times_equals_numpy_exp():
    """Rows reaching below −708 (where exp's results are subnormal or 0) are taken as squares."""
    x = -np.array([np.linspace(0, 20, 501), np.linspace(0, 2000, 501), np.linspace(0, 1e6, 501)])
    expected = np.exp(x)
    got = _closed_form._exp_of_negative(x.copy(), np.empty_like(x))
    normal = expected >= np.finfo(float).tiny
    np.testing.assert_allclose(got[normal], expected[normal], rtol=4e-16, atol=0)
    assert np.all(np.abs(got - expected)[~normal] <= 4e-323)  # a few subnormal units
    assert np.all(got[expected == 0] == 0) and (~normal).sum() > 500


@pytest.mark.parametrize(("setting", "expected"), [("1", 1), ("2", 2), ("999", None), ("", None)])
def test_closed_form_threads_follow_omp_num_threads(monkeypatch, setting, expected):

    monkeypatch.setattr(_closed_form.os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.setenv("OMP_NUM_THREADS", setting)
    assert _closed_form.threads() == (8 if expected is None else expected)
