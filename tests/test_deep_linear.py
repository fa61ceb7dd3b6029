"""Deep linear networks (docs/theory.md §4): conservation, balanced closed form, learning speed."""

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from richlazy import wide_linear
from richlazy.deep_linear import (
    _velocities,
    conserved_quantity,
    exact_singular_value_flow,
    gradient_flow,
    initial_parameters,
    learning_speed_profile,
)


def loss(layers, X, Y):
    product = layers[0]
    for layer in layers[1:]:
        product = layer @ product
    return 0.5 * np.sum((X @ product.T - Y) ** 2)


def test_velocities_are_minus_rate_times_gradient():
    """The simulator's vector field against central finite differences of the loss."""
    rng = np.random.default_rng(0)
    widths = [3, 4, 2, 5]
    layers = [rng.normal(size=(widths[l + 1], widths[l])) for l in range(3)]
    X, Y = rng.normal(size=(6, 3)), rng.normal(size=(6, 5))
    etas = np.array([0.5, 2.0, 1.5])
    velocity = _velocities(layers, X.T @ X, Y.T @ X, etas)
    step = 1e-6
    for l, layer in enumerate(layers):
        numeric = np.zeros_like(layer)
        for index in np.ndindex(layer.shape):
            bump = np.zeros_like(layer)
            bump[index] = step
            up = [w + bump if i == l else w for i, w in enumerate(layers)]
            down = [w - bump if i == l else w for i, w in enumerate(layers)]
            numeric[index] = (loss(up, X, Y) - loss(down, X, Y)) / (2 * step)
        np.testing.assert_allclose(velocity[l], -etas[l] * numeric, rtol=1e-6, atol=1e-8)


def test_conserved_quantities_hold_along_the_flow_for_any_widths_and_rates():
    rng = np.random.default_rng(1)
    widths = [3, 5, 4, 2]
    layers = [0.7 * rng.normal(size=(widths[l + 1], widths[l])) for l in range(3)]
    X = rng.normal(size=(8, 3))
    Y = X @ rng.normal(size=(3, 2))  # realizable
    etas = [0.5, 2.0, 1.3]
    trajectory = gradient_flow(layers, X, Y, np.linspace(0, 3, 16), etas=etas, rtol=1e-11)
    assert trajectory.conservation_drift() <= 1e-8
    assert trajectory.loss[-1] < 0.5 * trajectory.loss[0]  # it did learn
    assert np.all(np.diff(trajectory.loss) <= 1e-12)  # gradient flow never increases the loss
    deltas = conserved_quantity(trajectory.weights, etas=etas)  # time axis: (T, n_l, n_l)
    assert [d.shape for d in deltas] == [(16, 5, 5), (16, 4, 4)]


def test_two_layer_case_is_the_wide_network():
    """L = 2 with W_1 = W, W_2 = Aᵀ: same Δ and same flow as richlazy.wide_linear."""
    rng = np.random.default_rng(2)
    W, A = wide_linear.initial_parameters(3, 3, 2, -0.8, eta_a=1.7, eta_w=0.6, rng=rng)
    np.testing.assert_allclose(
        conserved_quantity([W, A.T], etas=[0.6, 1.7])[0],
        wide_linear.conserved_quantity(W, A, eta_a=1.7, eta_w=0.6),
    )
    X, Y, t = rng.normal(size=(5, 3)), rng.normal(size=(5, 2)), np.linspace(0, 2, 11)
    deep = gradient_flow([W, A.T], X, Y, t, etas=[0.6, 1.7], rtol=1e-12).end_to_end  # (T, c, d)
    beta = wide_linear.function_space_flow_from_parameters(
        W, A, X, Y, t, eta_a=1.7, eta_w=0.6, rtol=1e-12
    )
    error = np.linalg.norm(deep - beta.transpose(0, 2, 1), axis=(1, 2))
    assert np.max(error / np.linalg.norm(beta, axis=(1, 2))) <= 1e-8


@pytest.mark.parametrize(
    ("widths", "deltas", "etas"),
    [
        ([4, 3, 3, 3, 5], [1.0, -0.5, 2.0], [1.0, 0.5, 2.0, 1.5]),
        ([3, 3, 3], [-2.0], None),
        ([2, 2, 2, 2], 0.7, [0.3, 1.0, 3.0]),
        ([5, 2, 4, 3], 0.0, [1.0, 2.0, 0.5]),  # balanced: any widths
    ],
)
def test_initial_parameters_have_the_requested_conserved_quantities(widths, deltas, etas):
    layers = initial_parameters(widths, deltas, etas=etas, scale=0.5, rng=3)
    assert [w.shape for w in layers] == [(widths[l + 1], widths[l]) for l in range(len(widths) - 1)]
    expected = np.broadcast_to(deltas, (len(widths) - 2,))
    for delta, value in zip(conserved_quantity(layers, etas=etas), expected, strict=True):
        np.testing.assert_allclose(delta, value * np.eye(delta.shape[0]), atol=1e-12)


def test_balanced_initial_parameters_are_reproducible_and_balanced():
    first = initial_parameters([3, 4, 2], 0.0, rng=5)
    second = initial_parameters([3, 4, 2], 0.0, rng=np.random.default_rng(5))
    for x, y in zip(first, second, strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_allclose(conserved_quantity(first)[0], 0.0, atol=1e-14)


def mode_ode(sigma0, sigma_star, depth, t, eta):
    """σ̇ = −ηLσ^{2−2/L}(σ − σ*) by DOP853 at rtol 1e-12 (relative control), shape (T,)."""
    solution = solve_ivp(
        lambda _, s: -eta * depth * np.abs(s) ** (2 - 2 / depth) * (s - sigma_star),
        (0, t[-1]),
        [sigma0],
        method="DOP853",
        t_eval=t,
        rtol=1e-12,
        atol=1e-300,
    )
    assert solution.success
    return solution.y[0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    depth=st.integers(1, 6),
    sigma0=st.floats(1e-4, 5.0),
    sigma_star=st.one_of(st.just(0.0), st.floats(-3.0, 5.0)),
    eta=st.floats(0.2, 3.0),
)
@example(depth=2, sigma0=1.0, sigma_star=5e-324, eta=1.0)  # subnormal σ*: once quantized
def test_balanced_singular_value_flow_matches_its_ode(depth, sigma0, sigma_star, eta):
    t = np.linspace(0, 4, 21)
    exact = exact_singular_value_flow(sigma0, sigma_star, depth, t, eta=eta)
    reference = mode_ode(sigma0, sigma_star, depth, t, eta)
    assert np.max(np.abs(exact - reference) / np.abs(reference)) <= 1e-9


def test_balanced_singular_value_flow_edge_cases_and_shapes():
    t = np.array([0.0, 0.5, 1e8])
    sigma = exact_singular_value_flow(np.array([[0.0], [2.0]]), np.array([0.0, 2.0, 3.0]), 3, t)
    assert sigma.shape == (3, 2, 3)
    np.testing.assert_array_equal(sigma[:, 0], 0.0)  # σ0 = 0 is a fixed point for L >= 2
    np.testing.assert_array_equal(sigma[:, 1, 1], 2.0)  # σ0 = σ*
    np.testing.assert_allclose(sigma[-1, 1], [0.0, 2.0, 3.0], atol=1e-3)
    np.testing.assert_array_equal(sigma[0], np.broadcast_to([[0.0], [2.0]], (2, 3)))
    small = exact_singular_value_flow(1e-3, 1.0, 4, np.array([0.0, 1e3, 1e4]))
    assert np.all(np.diff(small) > 0) and np.isclose(small[-1], 1.0)  # slow saddle escape


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_balanced_deep_network_follows_the_singular_value_flow(depth):
    """Balanced, equal rates, Σ = I and aligned singular vectors: gradient_flow the weights."""
    rng = np.random.default_rng(depth)
    n, eta = 3, 0.8
    frames = [np.linalg.qr(rng.normal(size=(n, n)))[0] for _ in range(depth + 1)]
    sigma0, sigma_star = np.array([0.05, 0.4, 1.5]), np.array([2.0, 0.3, 1.0])
    layers = [
        (frames[l + 1] * sigma0 ** (1 / depth)) @ frames[l].T for l in range(depth)
    ]  # W_l = R_l diag(σ0^{1/L}) R_{l−1}ᵀ: balanced, E(0) = R_L diag(σ0) R_0ᵀ
    target = (frames[-1] * sigma_star) @ frames[0].T  # (n, n)
    t = np.linspace(0, 6, 25)
    trajectory = gradient_flow(layers, np.eye(n), target.T, t, etas=[eta] * depth, rtol=1e-12)
    modes = np.einsum("ck,tcd,dk->tk", frames[-1], trajectory.end_to_end, frames[0])  # (T, k)
    expected = exact_singular_value_flow(sigma0, sigma_star, depth, t, eta=eta)
    np.testing.assert_allclose(modes, expected, rtol=1e-8)
    np.testing.assert_allclose(
        conserved_quantity([w[-1] for w in trajectory.weights])[0], 0, atol=1e-9
    )


@pytest.mark.parametrize("depth", [3, 4])
def test_learning_speed_profile_tells_upstream_from_downstream(depth):
    """δ_l > 0 (later layers larger): the first layer moves first, fastest and farthest;
    δ_l < 0 mirrors it; balanced layers all move by comparable relative amounts."""
    rng = np.random.default_rng(0)
    n = 3
    X = rng.normal(size=(20, n)) / np.sqrt(20)
    Y = X @ rng.normal(size=(n, n)).T
    t = np.concatenate([[0.0], np.logspace(-3, 2.5, 111)])
    profiles = {}
    for name, delta in [("upstream", 1.0), ("balanced", 0.0), ("downstream", -1.0)]:
        layers = initial_parameters([n] * (depth + 1), delta, scale=0.3, rng=1)
        trajectory = gradient_flow(layers, X, Y, t, rtol=1e-8)
        assert trajectory.loss[-1] < 1e-8 * trajectory.loss[0]  # every run has converged
        profiles[name] = learning_speed_profile(trajectory)
    up, balanced, down = profiles["upstream"], profiles["balanced"], profiles["downstream"]
    assert up.order[0] == 0 and down.order[0] == depth - 1  # who moves first
    assert np.all(np.diff(up.final_distance) < 0) and np.all(np.diff(up.initial_speed) < 0)
    assert np.all(np.diff(down.final_distance) > 0) and np.all(np.diff(down.initial_speed) > 0)
    assert up.final_distance[0] > 10 * up.final_distance[-1]
    assert down.final_distance[-1] > 10 * down.final_distance[0]
    assert balanced.final_distance.max() < 1.5 * balanced.final_distance.min()
    assert balanced.half_time.min() > 3 * max(up.half_time.max(), down.half_time.max())
    assert up.relative_distance.shape == (depth, t.size)


def test_invalid_inputs_raise_and_say_what_fails():
    with pytest.raises(ValueError, match="every hidden width equal to min"):
        initial_parameters([3, 4, 3], [1.0], rng=0)
    with pytest.raises(ValueError, match="every hidden width equal to min"):
        initial_parameters([2, 3, 3, 2], [1.0, 0.0], rng=0)
    with pytest.raises(ValueError, match="widths must list"):
        initial_parameters([3], [], rng=0)
    with pytest.raises(ValueError, match="widths\\[1\\] must be an integer >= 1"):
        initial_parameters([3, 0, 2], 0.0, rng=0)
    with pytest.raises(ValueError, match="etas must list one rate per layer"):
        initial_parameters([3, 3, 3], 0.0, etas=[1.0], rng=0)
    with pytest.raises(ValueError, match="etas must be positive"):
        initial_parameters([3, 3], 0.0, etas=[-1.0], rng=0)
    with pytest.raises(ValueError, match="deltas must be one number or 2"):
        initial_parameters([3, 3, 3, 3], [1.0, 2.0, 3.0], rng=0)
    with pytest.raises(TypeError, match="rng"):
        initial_parameters([3, 3], 0.0, rng=None)
    layers = initial_parameters([3, 2, 2], 0.0, rng=0)
    X, Y, t = np.ones((4, 3)), np.ones((4, 2)), np.linspace(0, 1, 3)
    with pytest.raises(ValueError, match=r"weights0\[1\] has shape"):
        gradient_flow([layers[0], np.ones((2, 3))], X, Y, t)
    with pytest.raises(ValueError, match="X has 2 columns"):
        gradient_flow(layers, X[:, :2], Y, t)
    with pytest.raises(ValueError, match="Y must have shape"):
        gradient_flow(layers, X, Y[:, :1], t)
    with pytest.raises(ValueError, match="sigma0 must be >= 0"):
        exact_singular_value_flow(-1.0, 1.0, 3, t)
    with pytest.raises(ValueError, match="depth must be an integer >= 1"):
        exact_singular_value_flow(1.0, 1.0, 0, t)
    zero_first = gradient_flow([np.zeros((2, 3)), layers[1], layers[1]], X, Y, t)
    with pytest.raises(ValueError, match="layer 0 starts at zero"):
        learning_speed_profile(zero_first)


def test_old_names_still_work_with_a_deprecation_warning():
    """Names renamed in 0.2 (docs/changelog.md) serve the new objects for one release."""
    import richlazy.deep_linear as dl
    import richlazy.wide_linear as wl

    renamed = {
        wl: {
            "conserved": "conserved_quantity",
            "isotropic_init": "initial_parameters",
            "flow": "function_space_flow",
            "flow_from_params": "function_space_flow_from_parameters",
            "singular_value_flow": "exact_singular_value_flow",
        },
        dl: {
            "conserved": "conserved_quantity",
            "imbalanced_init": "initial_parameters",
            "simulate": "gradient_flow",
            "balanced_singular_value_flow": "exact_singular_value_flow",
        },
    }
    for module, names in renamed.items():
        for old, new in names.items():
            with pytest.warns(DeprecationWarning, match=new):
                assert getattr(module, old) is getattr(module, new)
    with pytest.warns(DeprecationWarning, match="initial_parameters"):
        balanced = dl.balanced_init([3, 4, 2], rng=5)
    for got, expected in zip(balanced, initial_parameters([3, 4, 2], 0.0, rng=5), strict=True):
        np.testing.assert_array_equal(got, expected)
    with pytest.raises(AttributeError):
        dl.no_such_name  # noqa: B018
