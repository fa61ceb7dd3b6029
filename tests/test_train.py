"""The batched two-layer engine (docs/theory.md §5): GD against the per-network NumPy reference,
gradient flow against its conservation laws and scipy's DOP853, divergence isolation, the time
convention, checkpoint schedules, bad input; the paired initialization and the data tasks."""

from contextlib import contextmanager

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from richlazy.data import teacher_student, xor
from richlazy.metrics import hamming_distance
from richlazy.nets import (
    TwoLayerNets,
    alpha_from,
    delta_from,
    forward,
    per_neuron_delta,
    symmetric_pairs,
)
from richlazy.nets.two_layer import loss
from richlazy.runtime import torch_threads
from richlazy.train import (
    GD,
    GradientFlow,
    checked_schedule,
    log_schedule,
    solver_named,
    step_size,
    train,
)
from richlazy.train.reference import gradient_descent

# Per-network rates for a (S=2, K=2) batch: unequal across networks and between the layers.
ETA_A = np.array([[2.0, 0.5], [1.0, 3.0]])
ETA_W = np.array([[0.5, 1.5], [1.0, 0.25]])
LR_SPREAD = np.array([[1.0, 2.0], [0.5, 1.0]])


pytestmark = pytest.mark.usefixtures("single_thread")


def tensor(x, device: str = "cpu") -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float64), device=device)


def random_batch(seed, *, S, K, m, d, n, leak, bias, device="cpu"):
    """Random networks (S, K, m, d) and random data X (S, n, d), y (S, n), all float64."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(S, K, m, d)) / np.sqrt(d)
    a = rng.normal(size=(S, K, m)) / np.sqrt(m)
    b = tensor(0.3 * rng.normal(size=(S, K, m)), device) if bias else None
    X = rng.normal(size=(S, n, d))
    y = rng.normal(size=(S, n))
    nets = TwoLayerNets(tensor(W, device), tensor(a, device), b, leak=leak)
    return nets, tensor(X, device), tensor(y, device)


def network(nets: TwoLayerNets, s: int, k: int) -> tuple[np.ndarray, ...]:
    """The parameters (W, a[, b]) of network (s, k) as NumPy arrays."""
    return tuple(t[s, k].cpu().numpy() for t in nets.tensors)


def flat(nets: TwoLayerNets, s: int, k: int) -> np.ndarray:
    return np.concatenate([p.ravel() for p in network(nets, s, k)])


def max_relative_error(got, expected) -> float:
    """max |got − expected| / max(1, |expected|), elementwise."""
    return float(np.max(np.abs(got - expected) / np.maximum(1.0, np.abs(expected))))


# --------------------------------------------------------------------------------------------
# 1. Gradient descent equals the per-network NumPy reference loop.


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("leak", [0.0, 0.1, 1.0])
def test_gd_matches_numpy_reference(leak, bias, device):
    S, K, steps = 2, 3, 200
    nets, X, y = random_batch(
        int(10 * leak) + bias, S=S, K=K, m=5, d=3, n=12, leak=leak, bias=bias, device=device
    )
    rng = np.random.default_rng(1)
    lr = rng.uniform(0.01, 0.05, size=(S, K))
    eta_a = rng.uniform(0.5, 2.0, size=(S, K))
    eta_w = rng.uniform(0.5, 2.0, size=(S, K))
    checkpoints = [0, 1, 7, 60, steps]
    initial = nets.clone()
    result = train(nets, X, y, lr=lr, checkpoints=checkpoints, eta_a=eta_a, eta_w=eta_w)

    assert len(result.snapshots) == len(checkpoints)
    assert result.gradient_evaluations == steps
    assert not result.diverged.any()
    for s in range(S):
        for k in range(K):
            W0, a0, *b0 = network(initial, s, k)
            expected = gradient_descent(
                W0,
                a0,
                X[s].cpu().numpy(),
                y[s].cpu().numpy(),
                lr=lr[s, k],
                steps=steps,
                leak=leak,
                eta_a=eta_a[s, k],
                eta_w=eta_w[s, k],
                b=b0[0] if bias else None,
                checkpoints=np.array(checkpoints),
            )
            assert len(expected) == len(checkpoints)
            for snapshot, reference in zip(result.snapshots, expected, strict=True):
                got = network(snapshot, s, k)
                assert len(got) == len(reference)
                for g, r in zip(got, reference, strict=True):
                    assert max_relative_error(g, r) <= 1e-12
    # The comparison is not vacuous: every network learned, and the last snapshot is `nets`.
    assert torch.all(loss(nets, X, y) < 0.9 * loss(initial, X, y))
    for final, current in zip(result.snapshots[-1].tensors, nets.tensors, strict=True):
        assert torch.equal(final, current)
    if leak < 1:  # kinks were crossed, so the σ'(0) convention and the masks were exercised
        assert float(hamming_distance(initial, nets, X).max()) > 0


def test_gd_float32_follows_float64():
    nets, X, y = random_batch(3, S=2, K=2, m=4, d=3, n=10, leak=0.1, bias=True)
    single = nets.with_tensors(tuple(t.float() for t in nets.tensors))
    options = {"lr": 0.02 * LR_SPREAD, "checkpoints": [0, 50], "eta_a": ETA_A, "eta_w": ETA_W}
    double = train(nets, X, y, **options)
    single_result = train(single, X.float(), y.float(), **options)
    assert single_result.snapshots[-1].W.dtype == torch.float32
    for d64, d32 in zip(
        double.snapshots[-1].tensors, single_result.snapshots[-1].tensors, strict=True
    ):
        # Tolerance: float32 rounds each step at u = 2⁻²⁴ ≈ 6e-8 relative; over 50 contracting
        # steps the error stays below ~50·u·|θ| ≈ 3e-6·|θ| (|θ| ≤ 2 here) on any CPU kernel, and
        # this machine measured 3.4e-7: the bound below is ≥ 3× the worst case, ≥ 30× measured.
        assert torch.allclose(d32.double(), d64, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------------------------
# 2. Gradient flow: conserved quantities, and agreement with an independent DOP853 integration.


@pytest.mark.parametrize(("leak", "bias"), [(0.0, False), (0.1, True), (1.0, True)])
def test_gradient_flow_conserves_per_neuron_delta(leak, bias, device):
    nets, X, y = random_batch(0, S=2, K=2, m=4, d=3, n=8, leak=leak, bias=bias, device=device)
    initial = nets.clone()
    eta_a, eta_w = tensor(ETA_A, device), tensor(ETA_W, device)
    delta0 = per_neuron_delta(initial, eta_a, eta_w)
    result = train(
        nets,
        X,
        y,
        lr=1e-5 * LR_SPREAD,
        checkpoints=np.linspace(0, 10_000, 6),
        eta_a=ETA_A,
        eta_w=ETA_W,
        solver=GradientFlow(rtol=1e-9),
    )
    assert not result.diverged.any()
    for snapshot in result.snapshots:
        assert float((per_neuron_delta(snapshot, eta_a, eta_w) - delta0).abs().max()) <= 1e-8
    # Not vacuous: each layer's own term moved by far more than the drift allowed...
    assert float((nets.a**2 - initial.a**2).abs().max()) > 1e-3
    # ...and for the piecewise-linear networks the flow crossed kinks on the way.
    if leak < 1:
        assert float(hamming_distance(initial, nets, X).max()) > 0


def vector_field(_t, theta, X, y, m, leak, bias, eta_a, eta_w):
    """θ̇ = −η ∇L for one network, L = ½ Σ (f − y)², written from docs/theory.md §5 in NumPy."""
    d = X.shape[1]
    W = theta[: m * d].reshape(m, d)
    a = theta[m * d : m * d + m]
    pre = X @ W.T + (theta[m * d + m :] if bias else 0.0)  # (n, m)
    act = np.where(pre >= 0, pre, leak * pre)
    slope = np.where(pre >= 0, 1.0, leak)
    residual = act @ a - y  # f − y
    back = residual[:, None] * a * slope  # ∂L/∂pre: (n, m)
    parts = [-eta_w * (back.T @ X).ravel(), -eta_a * (act.T @ residual)]
    if bias:
        parts.append(-eta_w * back.sum(0))
    return np.concatenate(parts)


@pytest.mark.parametrize(
    ("seed", "leak", "bias", "lr", "steps"),
    [
        (0, 1.0, True, 1e-4, 20_000),  # linear: a smooth flow
        (1, 0.1, True, 1e-5, 10_000),  # leaky ReLU with one isolated kink crossing
    ],
)
def test_gradient_flow_matches_dop853(seed, leak, bias, lr, steps, device):
    S, K, m = 2, 2, 3
    nets, X, y = random_batch(seed, S=S, K=K, m=m, d=2, n=6, leak=leak, bias=bias, device=device)
    initial = nets.clone()
    result = train(
        nets,
        X,
        y,
        lr=lr * LR_SPREAD,
        checkpoints=np.linspace(0, steps, 5),
        eta_a=ETA_A,
        eta_w=ETA_W,
        solver=GradientFlow(rtol=1e-9),
    )
    for s in range(S):
        for k in range(K):
            times = result.time[s, k]
            oracle = solve_ivp(
                vector_field,
                (0.0, times[-1]),
                flat(initial, s, k),
                method="DOP853",
                t_eval=times,
                rtol=1e-12,
                atol=1e-14,
                args=(
                    X[s].cpu().numpy(),
                    y[s].cpu().numpy(),
                    m,
                    leak,
                    bias,
                    ETA_A[s, k],
                    ETA_W[s, k],
                ),
            )
            assert oracle.success
            got = np.stack([flat(snapshot, s, k) for snapshot in result.snapshots], axis=1)
            assert np.abs(got - oracle.y).max() <= 1e-6 * np.abs(oracle.y).max()
            # the trajectory moved by far more than the tolerance
            assert np.abs(oracle.y[:, -1] - oracle.y[:, 0]).max() > 1e-3
    if leak < 1:
        assert float(hamming_distance(initial, nets, X).max()) > 0


def test_gradient_flow_takes_long_steps_where_smooth():
    nets, X, y = random_batch(2, S=2, K=2, m=3, d=2, n=6, leak=1.0, bias=False)
    steps = 100_000
    result = train(nets, X, y, lr=1e-5, checkpoints=[0, steps], solver=GradientFlow(rtol=1e-6))
    assert result.gradient_evaluations < steps / 10
    flow_steps = result.flow_steps
    assert np.all(flow_steps.at_gd_step <= 1)  # only the first trial step, of size h_GD
    fraction = flow_steps.at_gd_step.sum() / flow_steps.accepted.sum()
    assert flow_steps.at_gd_step_fraction == pytest.approx(fraction) and fraction < 0.05
    assert train(nets, X, y, lr=1e-5, checkpoints=[0, 10]).flow_steps is None  # GD


def test_gradient_flow_steps_never_below_the_gd_step():
    """A tolerance no step can meet: the stepper falls back to the GD step, ≤ 3 evaluations each."""
    nets, X, y = random_batch(4, S=2, K=2, m=4, d=3, n=8, leak=0.0, bias=False)
    steps = 60
    result = train(
        nets, X, y, lr=0.02 * LR_SPREAD, checkpoints=[0, 30, steps], solver=GradientFlow(rtol=1e-14)
    )
    assert not result.diverged.any()
    assert result.gradient_evaluations <= 3 * steps + 1
    assert np.all(np.isfinite(result.snapshots[-1].W.numpy()))
    # every step is a GD step; the two that land on the checkpoints are not counted as floor steps
    assert np.all(result.flow_steps.accepted == steps)
    assert np.all(result.flow_steps.at_gd_step >= steps - 2)


def test_gradient_descent_converges_to_gradient_flow_at_first_order():
    """GD at rate lr and lr/2 against the flow at the same times t = 2·lr/n·steps: the error
    halves, which also pins down the time convention shared by "gd" and "gf"."""
    nets, X, y = random_batch(5, S=1, K=2, m=3, d=2, n=6, leak=1.0, bias=True)
    lr, steps = 2e-3, 500
    flow = train(
        nets.clone(), X, y, lr=lr, checkpoints=[0, steps], solver=GradientFlow(rtol=1e-10)
    ).snapshots[-1]
    errors = []
    for factor in (1, 2):
        descent = train(nets.clone(), X, y, lr=lr / factor, checkpoints=[0, steps * factor])
        final = descent.snapshots[-1]
        errors.append(
            max(
                float((g - f).abs().max()) for g, f in zip(final.tensors, flow.tensors, strict=True)
            )
        )
    assert errors[0] > 1e-6  # a visible finite-step effect
    assert 1.8 < errors[0] / errors[1] < 2.2


def test_gradient_flow_integrates_a_given_vector_field():
    """integrate(gradient=...) follows θ̇ = −η·gradient: twice ∇L to time t is the gradient flow
    to time 2t."""
    from richlazy.nets.two_layer import Gradient
    from richlazy.train.flow import integrate

    nets, X, y = random_batch(7, S=1, K=2, m=3, d=2, n=6, leak=1.0, bias=False)
    steps, lr = 5_000, 1e-4
    plain = train(
        nets.clone(), X, y, lr=lr, checkpoints=[0, 2 * steps], solver=GradientFlow(rtol=1e-10)
    )
    gradient = Gradient()

    def doubled(nets, X, y):
        losses, grads = gradient(nets, X, y)
        return losses, tuple(2 * g for g in grads)

    h = np.full((1, 2), step_size(lr, X.shape[1]))
    rates = tuple(torch.ones((1, 2) + (1,) * (t.ndim - 2), dtype=t.dtype) for t in nets.tensors)
    snapshots, alive, _, _ = integrate(
        nets.clone(), X, y, rates, h, h[..., None] * np.array([0, steps]), 1e-10, None, doubled
    )
    assert alive.all()
    for got, expected in zip(snapshots[-1].tensors, plain.snapshots[-1].tensors, strict=True):
        assert float((got - expected).abs().max()) <= 1e-7 * float(expected.abs().max())
    moved = plain.snapshots[-1].W - nets.W
    assert float(moved.abs().max()) > 1e-3  # the flow went somewhere


def test_gradient_flow_without_checkpoint_zero_and_in_place():
    nets, X, y = random_batch(6, S=2, K=2, m=3, d=2, n=6, leak=0.0, bias=True)
    result = train(nets, X, y, lr=1e-3, checkpoints=[100, 400], solver=GradientFlow(rtol=1e-6))
    assert len(result.snapshots) == 2
    for final, current in zip(result.snapshots[-1].tensors, nets.tensors, strict=True):
        assert torch.equal(final, current)
    descent = train(nets.clone(), X, y, lr=1e-3, checkpoints=[5, 9])
    assert len(descent.snapshots) == 2


@pytest.mark.parametrize("method", ["gd", "gf"])
def test_progress_counts_all_units(method):
    nets, X, y = random_batch(7, S=2, K=3, m=3, d=2, n=6, leak=0.0, bias=False)
    counts: list[int] = []
    checkpoints = [0, 10, 2500]
    train(
        nets,
        X,
        y,
        lr=1e-3,
        checkpoints=checkpoints,
        solver=solver_named(method),
        progress=counts.append,
    )
    expected = 2500 if method == "gd" else 2 * 3 * len(checkpoints)
    assert sum(counts) == expected
    tasks = []  # a richlazy.runtime.Progress: one task of the same units

    class Bars:
        @contextmanager
        def task(self, description, total):
            tasks.append((description, total, []))
            yield tasks[-1][2].append

    train(nets, X, y, lr=1e-3, checkpoints=checkpoints, solver=solver_named(method),
          progress=Bars())  # fmt: skip
    [(description, total, advanced)] = tasks
    assert total == expected and sum(advanced) == expected
    units = "GD steps" if method == "gd" else "checkpoints"
    assert description == f"training 2×3 networks: {units}"


def test_a_run_reports_the_threads_and_the_step_it_used():
    small = random_batch(3, S=1, K=2, m=3, d=2, n=6, leak=0.0, bias=False)
    result = train(small[0], *small[1:], lr=1e-3, checkpoints=[0, 3])
    assert result.threads == 1 and result.fused is False  # small batches: one thread, eager
    assert GD(fuse=True).fuses(*small[:2]) and not GD().fuses(*small[:2])
    large = random_batch(3, S=1, K=64, m=128, d=2, n=256, leak=0.0, bias=False)
    with torch_threads(2):
        result = train(large[0], *large[1:], lr=1e-3, checkpoints=[0, 1])
    assert result.threads == 2  # from 2^20 activations per step: torch's count


# --------------------------------------------------------------------------------------------
# 5. A diverging network is flagged, NaN from then on, and leaves the others untouched.


@pytest.mark.parametrize("method", ["gd", "gf"])
def test_divergence_is_isolated(method, device):
    S, K = 2, 3
    nets, X, y = random_batch(8, S=S, K=K, m=4, d=3, n=8, leak=0.1, bias=True, device=device)
    lr = 1e-3 * np.arange(1, S * K + 1).reshape(S, K)
    bad = (1, 1)
    huge = lr.copy()
    huge[bad] = 1e4
    checkpoints = [0, 5, 50, 400]
    options = {
        "checkpoints": checkpoints,
        "solver": solver_named(method),
        "eta_a": 1.5,
        "eta_w": 0.75,
    }
    initial = nets.clone()
    result = train(nets, X, y, lr=huge, **options)

    expected = np.zeros((S, K), dtype=bool)
    expected[bad] = True
    np.testing.assert_array_equal(result.diverged, expected)
    # Its snapshots: the initial values at step 0, NaN once it has diverged, NaN at the end.
    for t0, t in zip(result.snapshots[0].tensors, initial.tensors, strict=True):
        assert torch.equal(t0[bad], t[bad])
    nan = [
        bool(torch.isnan(torch.cat([t[bad].ravel() for t in snap.tensors])).all())
        for snap in result.snapshots
    ]
    assert nan[-1]
    assert nan == sorted(nan)  # once NaN, NaN at every later checkpoint

    # The same batch with a sane rate for that network: every other network is unchanged.
    sane = train(initial.clone(), X, y, lr=lr, **options)
    others = torch.ones((S, K), dtype=torch.bool, device=device)
    others[bad] = False
    assert not sane.diverged.any()
    for snap, reference in zip(result.snapshots, sane.snapshots, strict=True):
        for t, r in zip(snap.tensors, reference.tensors, strict=True):
            assert torch.allclose(t[others], r[others], rtol=1e-14, atol=1e-14)
    # The batch without the bad network's column: the networks left are unchanged too.
    keep = [0, 2]
    without = train(initial.take(keep), X, y, lr=lr[:, keep], **options)
    assert not without.diverged.any()
    for snap, reference in zip(result.snapshots, without.snapshots, strict=True):
        for t, r in zip(snap.tensors, reference.tensors, strict=True):
            assert torch.allclose(t[:, keep], r, rtol=1e-14, atol=1e-14)
    # and the network sharing the bad one's column, in the other dataset, too
    for t, r in zip(result.snapshots[-1].tensors, sane.snapshots[-1].tensors, strict=True):
        assert torch.all(torch.isfinite(t[0, 1]))
        assert torch.allclose(t[0, 1], r[0, 1], rtol=1e-14, atol=1e-14)


# --------------------------------------------------------------------------------------------
# 6. Time convention, schedules, bad input.


@pytest.mark.parametrize("method", ["gd", "gf"])
def test_time_is_two_lr_over_n_per_step(method):
    S, K, n = 2, 2, 6
    nets, X, y = random_batch(9, S=S, K=K, m=3, d=2, n=n, leak=0.0, bias=False)
    checkpoints = np.array([0, 3, 20, 100])
    lr = 1e-3 * LR_SPREAD
    result = train(nets, X, y, lr=lr, checkpoints=checkpoints, solver=solver_named(method))
    assert result.time.shape == (S, K, len(checkpoints))
    np.testing.assert_allclose(result.time, 2 * lr[..., None] / n * checkpoints, rtol=1e-15)
    np.testing.assert_array_equal(result.steps, checkpoints)
    scalar = train(
        nets.clone(), X, y, lr=1e-3, checkpoints=checkpoints, solver=solver_named(method)
    )
    np.testing.assert_allclose(scalar.time, np.broadcast_to(2e-3 / n * checkpoints, (S, K, 4)))
    np.testing.assert_allclose(step_size(0.5, 10), 0.1)


def test_log_schedule():
    np.testing.assert_array_equal(log_schedule(1000), [0, 10, 100, 1000])
    np.testing.assert_array_equal(log_schedule(10**6), [0, *(10**p for p in range(1, 7))])
    np.testing.assert_array_equal(log_schedule(1), [0, 1])
    for max_steps, per_decade in [(7, 1), (1500, 1), (1000, 3), (12345, 4)]:
        schedule = log_schedule(max_steps, per_decade=per_decade)
        assert schedule.dtype.kind == "i"
        assert schedule[0] == 0 and schedule[-1] == max_steps
        assert np.all(np.diff(schedule) > 0)
        np.testing.assert_array_equal(checked_schedule(schedule), schedule)
    dense = log_schedule(1000, per_decade=3)
    assert {1, 10, 100, 1000} <= set(dense.tolist())
    assert len(dense) == 11  # 0 and 3 per decade over three decades, from 1
    for bad, name in [(0, "max_steps"), (2.5, "max_steps"), (-10, "max_steps")]:
        with pytest.raises(ValueError, match=f"^{name}"):
            log_schedule(bad)
    with pytest.raises(ValueError, match=r"^per_decade"):
        log_schedule(100, per_decade=0)


def test_checked_schedule():
    result = checked_schedule([0, 1.0, 10])
    assert result.dtype == np.int64
    np.testing.assert_array_equal(result, [0, 1, 10])
    for bad in ([], [[0, 1]], [0, 10, 10], [10, 5], [-1, 3], [0, 1.5], [0, np.inf], [np.nan]):
        with pytest.raises(ValueError, match=r"^checkpoints"):
            checked_schedule(bad)


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"checkpoints": [0, 10, 5]}, "checkpoints"),
        ({"checkpoints": [0, 10, 10]}, "checkpoints"),
        ({"checkpoints": [-5, 10]}, "checkpoints"),
        ({"checkpoints": []}, "checkpoints"),
        ({"lr": 0.0}, "lr"),
        ({"lr": -1e-3}, "lr"),
        ({"lr": np.nan}, "lr"),
        ({"lr": np.inf}, "lr"),
        ({"lr": np.array([[1e-3, 0.0, 1e-3]])}, "lr"),
        ({"eta_a": 0.0}, "eta_a"),
        ({"eta_a": -1.0}, "eta_a"),
        ({"eta_a": np.inf}, "eta_a"),
        ({"eta_w": np.nan}, "eta_w"),
        ({"eta_w": np.array([[1.0, 1.0, -2.0]])}, "eta_w"),
    ],
)
def test_train_rejects_bad_options(options, name):
    nets, X, y = random_batch(11, S=2, K=3, m=3, d=2, n=5, leak=0.0, bias=False)
    initial = nets.clone()
    arguments = {"lr": 1e-3, "checkpoints": [0, 10], **options}
    with pytest.raises(ValueError, match=f"^{name} must"):
        train(nets, X, y, **arguments)
    for t, t0 in zip(nets.tensors, initial.tensors, strict=True):
        assert torch.equal(t, t0)  # nothing trained before the error


@pytest.mark.parametrize(
    ("build", "name"),
    [
        (lambda: GradientFlow(rtol=0.0), "rtol"),
        (lambda: GradientFlow(rtol=1.5), "rtol"),
        (lambda: GradientFlow(vector_field=3), "vector_field"),
        (lambda: GD(fuse="yes"), "fuse"),
        (lambda: solver_named("adam"), "method"),
        (lambda: solver_named("gf", fuse=True), "fuse"),
        (lambda: solver_named("gd", rtol=1e-3), "rtol"),
    ],
)
def test_solvers_reject_bad_options(build, name):
    with pytest.raises(ValueError, match=f"^{name} "):
        build()


def test_options_of_one_solver_cannot_be_given_to_the_other():
    with pytest.raises(TypeError):
        GradientFlow(fuse=True)  # the fused step is a GD step
    with pytest.raises(TypeError):
        GD(vector_field=lambda nets, X, y: None)  # GD steps along ∇L
    with pytest.raises(TypeError):
        GD(rtol=1e-3)
    nets, X, y = random_batch(11, S=2, K=3, m=3, d=2, n=5, leak=0.0, bias=False)
    with pytest.raises(TypeError, match="solver must be"):
        train(nets, X, y, lr=1e-3, checkpoints=[0, 10], solver="gd")
    assert solver_named("gf", rtol=1e-3) == GradientFlow(rtol=1e-3)
    assert solver_named("gd") == GD()


@pytest.mark.parametrize(
    "shapes",
    [
        ((2, 5, 2), (2, 4)),  # y has the wrong number of samples
        ((2, 5, 3), (2, 5)),  # wrong input dimension
        ((1, 5, 2), (1, 5)),  # wrong number of datasets
        ((2, 5, 2), (2, 5, 1)),  # y with an extra axis
        ((10, 2), (10,)),  # X without the dataset axis
    ],
)
def test_train_rejects_mismatched_data(shapes):
    nets, _, _ = random_batch(12, S=2, K=3, m=3, d=2, n=5, leak=0.0, bias=False)
    X, y = torch.zeros(shapes[0], dtype=torch.float64), torch.zeros(shapes[1], dtype=torch.float64)
    with pytest.raises(ValueError, match="X must be"):
        train(nets, X, y, lr=1e-3, checkpoints=[0, 1])


def test_train_rejects_data_of_another_dtype():
    nets, X, y = random_batch(12, S=2, K=3, m=3, d=2, n=5, leak=0.0, bias=False)
    with pytest.raises(ValueError, match="X must have the networks' dtype"):
        train(nets, X.float(), y, lr=1e-3, checkpoints=[0, 1])
    with pytest.raises(ValueError, match="y must have the networks' dtype"):
        train(nets, X, y.float(), lr=1e-3, checkpoints=[0, 1])


# --------------------------------------------------------------------------------------------
# 7. The paired initialization and the (τ, δ) <-> α geometry.


def test_alpha_and_delta_invert_each_other():
    tau = np.logspace(-3, 2, 11)[:, None]
    ratio = np.concatenate([-np.logspace(12, -6, 10), [0.0], np.logspace(-6, 12, 10)])
    for eta_a, eta_w in [(1.0, 1.0), (3.0, 0.2), (0.1, 7.0)]:
        delta = ratio * tau**2  # (11, 21): δ/τ² from −1e12 to 1e12
        alpha = alpha_from(tau, delta, eta_a=eta_a, eta_w=eta_w)
        assert np.all(np.isfinite(alpha)) and np.all(alpha > 0)
        terms = tau**2 * (eta_w * alpha**2 + eta_a / alpha**2)  # the scale of δ's two terms
        back = delta_from(tau, alpha, eta_a=eta_a, eta_w=eta_w)
        assert np.all(np.abs(back - delta) <= 1e-13 * terms)
        again = alpha_from(tau, back, eta_a=eta_a, eta_w=eta_w)
        np.testing.assert_allclose(again, alpha, rtol=1e-13)
        # Large negative δ/τ²: α² → η_a/|δ/τ²| (no cancellation to 0); large positive: δ/(τ²η_w).
        np.testing.assert_allclose(alpha[:, 0] ** 2, eta_a / 1e12, rtol=1e-9)
        np.testing.assert_allclose(alpha[:, -1] ** 2, 1e12 / eta_w, rtol=1e-9)
        # balanced δ = 0: α⁴ = η_a/η_w
        np.testing.assert_allclose(alpha[:, 10] ** 4, eta_a / eta_w, rtol=1e-14)
    # the paper's unit-rate formula α² = (δ/τ² + √(δ²/τ⁴ + 4))/2
    tau, delta = 0.1, 0.9999
    np.testing.assert_allclose(
        alpha_from(tau, delta) ** 2, (delta / tau**2 + np.sqrt(delta**2 / tau**4 + 4)) / 2
    )


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: alpha_from(0.0, 1.0), "tau"),
        (lambda: alpha_from(-1.0, 1.0), "tau"),
        (lambda: alpha_from(np.inf, 1.0), "tau"),
        (lambda: alpha_from([1.0, np.nan], 1.0), "tau"),
        (lambda: alpha_from(1.0, np.nan), "delta"),
        (lambda: alpha_from(1.0, -np.inf), "delta"),
        (lambda: alpha_from(1.0, 0.0, eta_a=0.0), "eta_a"),
        (lambda: alpha_from(1.0, 0.0, eta_w=-1.0), "eta_w"),
        (lambda: delta_from(1.0, 0.0), "alpha"),
        (lambda: delta_from(1.0, np.inf), "alpha"),
        (lambda: delta_from(0.0, 1.0), "tau"),
    ],
)
def test_geometry_rejects_bad_input(call, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        call()


def pair_inputs(seed, S, half, d):
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(S, half, d))
    directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
    signs = rng.choice([-1.0, 1.0], size=(S, half))
    return directions, signs, rng


@pytest.mark.parametrize("bias", [False, True])
def test_symmetric_pairs_start_at_zero_output_with_the_requested_delta(bias):
    S, K, half, d = 2, 4, 5, 3
    directions, signs, rng = pair_inputs(13, S, half, d)
    tau = np.array([[0.1, 2.0, 0.1, 0.5], [1.0, 0.1, 0.03, 3.0]])
    delta = np.array([[0.0, 0.0, 0.9999, -0.9999], [-50.0, 1e-3, -1e-3, 8.0]])
    eta_a = rng.uniform(0.2, 3.0, size=(S, K))
    eta_w = rng.uniform(0.2, 3.0, size=(S, K))
    nets = symmetric_pairs(
        directions, signs, tau, delta, eta_a=eta_a, eta_w=eta_w, leak=0.1, bias=bias
    )
    assert nets.W.shape == (S, K, 2 * half, d) and nets.a.shape == (S, K, 2 * half)
    assert nets.leak == 0.1 and nets.W.dtype == torch.float64
    if bias:
        assert torch.equal(nets.b, torch.zeros_like(nets.a))
    else:
        assert nets.b is None
    X = tensor(rng.normal(size=(S, 20, d)))
    scale = float(nets.a.abs().max() * nets.W.norm(dim=-1).max()) * np.sqrt(d)
    assert float(forward(nets, X).abs().max()) <= 1e-14 * 2 * half * scale
    # every neuron has δ_k = δ of its network, to rounding of its two terms
    deltas = per_neuron_delta(nets, tensor(eta_a), tensor(eta_w)).numpy()
    terms = eta_w[..., None] * nets.a.numpy() ** 2 + eta_a[..., None] * (nets.W.numpy() ** 2).sum(
        -1
    )
    assert np.all(np.abs(deltas - delta[..., None]) <= 1e-13 * terms)
    # and the layout of docs/theory.md §5.1: w_k = (τ/α)u_k, a_k = ±ατ, pairs (u, +a), (u, −a)
    alpha = alpha_from(tau, delta, eta_a=eta_a, eta_w=eta_w)
    W, a = nets.W.numpy(), nets.a.numpy()
    np.testing.assert_allclose(W[:, :, :half], W[:, :, half:], rtol=0, atol=0)
    np.testing.assert_allclose(a[:, :, :half], -a[:, :, half:], rtol=0, atol=0)
    np.testing.assert_allclose(
        W[:, :, :half], (tau / alpha)[..., None, None] * directions[:, None], rtol=1e-15
    )
    np.testing.assert_allclose(a[:, :, :half], (tau * alpha)[..., None] * signs[:, None])


def test_symmetric_pairs_broadcasts_and_rejects_bad_input():
    directions, signs, _ = pair_inputs(14, 3, 2, 2)
    nets = symmetric_pairs(directions, signs, np.array([[0.5, 1.0]]), 0.25)
    assert nets.a.shape == (3, 2, 4)
    for tau, delta, name in [
        ([[0.0, 1.0]], 0.0, "tau"),
        ([[-0.1, 1.0]], 0.0, "tau"),
        ([[np.nan, 1.0]], 0.0, "tau"),
        ([[1.0, 1.0]], [[0.0, np.inf]], "delta"),
        ([[1.0, 1.0]], [[np.nan, 0.0]], "delta"),
        ([1.0, 1.0], 0.0, "tau"),  # not (S, K)
        (np.ones((2, 2)), 0.0, "tau"),  # S = 2 for 3 datasets
    ]:
        with pytest.raises(ValueError, match=f"^{name}"):
            symmetric_pairs(directions, signs, np.array(tau), np.array(delta))


def test_symmetric_pairs_train_from_zero_output():
    """The paired init trained by GD matches the reference (a start at f = 0, no kinks hit)."""
    directions, signs, rng = pair_inputs(15, 1, 3, 2)
    nets = symmetric_pairs(directions, signs, np.array([[0.1, 2.0]]), np.array([[0.9999, 0.0]]))
    X = tensor(rng.normal(size=(1, 8, 2)))
    y = tensor(rng.normal(size=(1, 8)))
    initial = nets.clone()
    result = train(nets, X, y, lr=0.05, checkpoints=[0, 40])
    for k in range(2):
        W0, a0 = network(initial, 0, k)
        ((W, a),) = gradient_descent(W0, a0, X[0].numpy(), y[0].numpy(), lr=0.05, steps=40)[-1:]
        assert max_relative_error(result.snapshots[-1].W[0, k].numpy(), W) <= 1e-12
        assert max_relative_error(result.snapshots[-1].a[0, k].numpy(), a) <= 1e-12


# --------------------------------------------------------------------------------------------
# 8. Data.


def test_teacher_student_is_reproducible_and_on_the_sphere():
    data = teacher_student(3, d=5, n=40, n_test=30)
    again = teacher_student(3, d=5, n=40, n_test=30)
    other = teacher_student(4, d=5, n=40, n_test=30)
    for field in ("X", "y", "X_test", "y_test", "teacher"):
        np.testing.assert_array_equal(getattr(data, field), getattr(again, field))
        assert not np.array_equal(getattr(data, field), getattr(other, field))
    assert data.X.shape == (40, 5) and data.y.shape == (40,)
    assert data.X_test.shape == (30, 5) and data.y_test.shape == (30,)
    assert data.teacher.shape == (3, 5)
    for X in (data.X, data.X_test):
        np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-15)
    # independent streams: the teacher and the test set do not depend on n
    bigger = teacher_student(3, d=5, n=80, n_test=30)
    np.testing.assert_array_equal(bigger.teacher, data.teacher)
    np.testing.assert_array_equal(bigger.X_test, data.X_test)


def test_teacher_student_labels_are_the_teachers_outputs():
    data = teacher_student(7, d=4, n=200, n_test=100, teacher_width=3)
    # teacher rows are s_j u_j with unit u_j and readouts s_j = ±1: some choice of the signs
    # reproduces every label as Σ_j s_j relu(u_jᵀx), on training and test inputs alike.
    np.testing.assert_allclose(np.linalg.norm(data.teacher, axis=1), 1.0, rtol=1e-15)
    matches = []
    choices = np.array(np.meshgrid(*[[-1.0, 1.0]] * 3)).reshape(3, -1).T  # (8, 3)
    for signs in choices:
        units = signs[:, None] * data.teacher
        outputs = [np.maximum(X @ units.T, 0) @ signs for X in (data.X, data.X_test)]
        matches.append(
            np.allclose(outputs[0], data.y, rtol=0, atol=1e-14)
            and np.allclose(outputs[1], data.y_test, rtol=0, atol=1e-14)
        )
    assert sum(matches) == 1
    # ... and that choice is the one the dataset reports.
    np.testing.assert_array_equal(data.teacher_readouts, choices[np.argmax(matches)])
    assert np.std(data.y) > 0.1  # non-trivial labels


def test_teacher_student_inputs_are_uniform_on_the_sphere():
    data = teacher_student(0, d=3, n=20_000, n_test=1)
    # mean 0 and second moment I/d for the uniform distribution on S^{d−1}
    assert np.abs(data.X.mean(0)).max() < 0.02
    np.testing.assert_allclose(data.X.T @ data.X / len(data.X), np.eye(3) / 3, atol=0.01)


@pytest.mark.parametrize("name", ["d", "n", "n_test", "teacher_width"])
@pytest.mark.parametrize("value", [0, -1, 2.5])
def test_teacher_student_rejects_bad_sizes(name, value):
    sizes = {"d": 3, "n": 4, "n_test": 4, "teacher_width": 2, name: value}
    with pytest.raises(ValueError, match=f"^{name} must"):
        teacher_student(0, **sizes)


def test_xor():
    data = xor()
    assert data.X.shape == (4, 2)
    assert {tuple(x) for x in data.X} == {(1, 1), (1, -1), (-1, 1), (-1, -1)}
    np.testing.assert_array_equal(data.y, data.X[:, 0] * data.X[:, 1])
    np.testing.assert_array_equal(data.X_test, data.X)
    np.testing.assert_array_equal(data.y_test, data.y)
    assert data.teacher is None
