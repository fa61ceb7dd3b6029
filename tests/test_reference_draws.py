"""The reference code's random streams (docs/theory.md §5.1): bitwise against a literal torch
replay of the paper's sequence, the paired init's invariants, training on the draws, bad input."""

import numpy as np
import pytest
import torch
from torch import nn

from richlazy.data.reference_draws import alpha_ref, reference_cell, reference_cells
from richlazy.nets.two_layer import forward, per_neuron_delta
from richlazy.train import GD, step_size, train

# The paper's Figure-1b axes, as float64 NumPy scalars like the reference's loops.
TAUS = np.logspace(-1, 0.3, 17)
DELTAS = np.linspace(-1, 1, 17)
SMALL = {"d": 7, "n": 12, "m": 10, "n_test": 30}
FIELDS = ("teacher_w", "teacher_a", "W", "a", "X", "y", "X_test", "y_test")


def _symmetric_student(d, m, scale, alpha):
    """The notebooks' student, drawn from torch's global stream in their order: m/2 unit
    directions × scale·α, readout signs × scale/α, each pair mirrored with the readout negated."""
    student_1, student_2 = nn.Linear(d, m, bias=False), nn.Linear(m, 1, bias=False)
    half = m // 2
    w = torch.randn(half, d)
    w = w / torch.norm(w, dim=1, keepdim=True) * scale * alpha
    w = w.repeat(2, 1)
    a = torch.sign(torch.randn(half)) * scale / alpha
    a = a.repeat(2)
    a[half:] *= -1
    with torch.no_grad():
        student_1.weight.copy_(w)
        student_2.weight.copy_(a)
    return student_1, student_2


def literal_reference(seed, tau, delta, *, d, n, m, n_test, test_seed=201):
    """The paper's sequence of plain torch calls on the global generator, module by module."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        # Teacher: constructing its layers consumes the stream before the directions are drawn.
        teacher_1, teacher_2 = nn.Linear(d, 3, bias=False), nn.Linear(3, 1, bias=False)
        directions = torch.randn(3, d)
        directions = directions / torch.norm(directions, dim=1, keepdim=True)
        readouts = torch.sign(torch.randn(3))
        with torch.no_grad():
            teacher_1.weight.copy_(directions)
            teacher_2.weight.copy_(readouts)
        teacher = nn.Sequential(teacher_1, nn.ReLU(), teacher_2)
        # Student: same again, then the symmetrised scaled init.
        alpha = np.sqrt((np.sqrt(4 + (delta / tau**2) ** 2) - delta / tau**2) / 2)
        student_1, student_2 = _symmetric_student(d, m, tau, alpha)
        X = torch.randn(n, d)
        X = X / torch.norm(X, dim=1, keepdim=True)
        with torch.no_grad():
            y = teacher(X)
        torch.manual_seed(test_seed)
        X_test = torch.randn(n_test, d)
        X_test = X_test / torch.norm(X_test, dim=1, keepdim=True)
        with torch.no_grad():
            y_test = teacher(X_test)
    values = {
        "teacher_w": teacher_1.weight,
        "teacher_a": teacher_2.weight[0],
        "W": student_1.weight,
        "a": student_2.weight[0],
        "X": X,
        "y": y[:, 0],
        "X_test": X_test,
        "y_test": y_test[:, 0],
    }
    return {k: np.float64(v.detach().numpy()) for k, v in values.items()}


def assert_bitwise(cell, expected):
    for field in FIELDS:
        got = getattr(cell, field)
        assert got.dtype == np.float64, field
        assert got.shape == expected[field].shape, field
        assert np.array_equal(got, expected[field]), field


@pytest.mark.parametrize(
    ("seed", "tau", "delta", "sizes"),
    [
        (100, TAUS[0], DELTAS[16], SMALL),
        (115, TAUS[16], DELTAS[0], SMALL),
        (7, TAUS[5], DELTAS[11], {"d": 3, "n": 5, "m": 2, "n_test": 4}),  # randn's short path
        (103, TAUS[9], DELTAS[3], {"d": 100, "n": 1000, "m": 50, "n_test": 10_000}),  # paper size
    ],
)
def test_cell_is_the_reference_sequence_bitwise(seed, tau, delta, sizes):
    assert_bitwise(
        reference_cell(seed, tau, delta, **sizes), literal_reference(seed, tau, delta, **sizes)
    )


def test_grid_draws_once_per_seed_and_equals_drawing_each_cell():
    # The whole Figure-1b grid: in float32, s·τ/α_ref and s·τ·(1/α_ref) differ in 72 of its
    # 289 cells, so the order of the float32 operations is checked too.
    taus, deltas = np.meshgrid(TAUS, DELTAS, indexing="ij")  # 17 × 17 cells
    grid = reference_cells([3, 100], taus, deltas, **SMALL)
    S, K, m, d = 2, 289, SMALL["m"], SMALL["d"]
    assert grid.W.shape == (S, K, m, d) and grid.a.shape == (S, K, m)
    assert grid.X.shape == (S, SMALL["n"], d) and grid.y_test.shape == (S, SMALL["n_test"])
    assert np.array_equal(grid.taus, taus.ravel()) and np.array_equal(grid.deltas, deltas.ravel())
    for i, seed in enumerate(grid.seeds):
        for k, (tau, delta) in enumerate(zip(grid.taus, grid.deltas, strict=True)):
            expected = literal_reference(seed, tau, delta, **SMALL)
            for field in FIELDS:
                got = getattr(grid, field)[i]
                got = got[k] if field in ("W", "a") else got
                assert np.array_equal(got, expected[field]), (seed, tau, delta, field)


def test_draws_leave_the_global_generator_alone():
    torch.manual_seed(0)
    expected = torch.randn(5)
    torch.manual_seed(0)
    reference_cell(1, 0.5, 0.2, **SMALL)
    assert torch.equal(torch.randn(5), expected)


@pytest.mark.parametrize(
    ("tau", "delta"), [(TAUS[0], DELTAS[16]), (TAUS[0], DELTAS[0]), (1.7, 0.0)]
)
def test_paired_init_has_zero_output_and_the_cells_delta(tau, delta):
    cell = reference_cell(11, tau, delta, **SMALL)
    half = SMALL["m"] // 2
    # Concatenated pairs (u, +s), (u, −s): [U; U] and [s; −s].
    assert np.array_equal(cell.W[half:], cell.W[:half])
    assert np.array_equal(cell.a[half:], -cell.a[:half])
    act = np.maximum(cell.X_test @ cell.W.T, 0)  # (n_test, m)
    assert np.array_equal(act[:, :half] @ cell.a[:half], -(act[:, half:] @ cell.a[half:]))
    assert np.abs(act @ cell.a).max() <= 1e-14 * np.abs(act).sum(1).max() * np.abs(cell.a).max()
    # δ_k = a_k² − ‖w_k‖² = τ²(α² − α⁻²) with α = 1/α_ref, to float32 rounding of the weights.
    alpha = 1 / alpha_ref(tau, delta)
    assert np.isclose(tau**2 * (alpha**2 - alpha**-2), delta, rtol=1e-12, atol=1e-14)
    delta_k = cell.a**2 - (cell.W**2).sum(1)
    scale = tau**2 * (alpha**2 + alpha**-2)
    assert np.abs(delta_k - delta).max() <= 32 * np.finfo(np.float32).eps * scale
    # In float64, whatever the weights' dtype: a float32 norm's sum of 100 squares would round
    # up to 100·2⁻²⁴ = 6e-6 in a SIMD kernel's order. Tolerance: each weight is a float32
    # rounding of τ/α·u_k after a few float32 products (≤ 4·2⁻²⁴ = 2.4e-7 relative), so is its norm.
    norms = np.linalg.norm(np.asarray(cell.W, dtype=np.float64), axis=1)
    assert np.allclose(norms, tau / alpha, rtol=1e-6)
    assert np.allclose(np.abs(cell.a), tau * alpha, rtol=1e-6)


def numpy_reference_gd(W, a, X, y, *, lr, steps):
    """One network, float64: steps of θ ← θ − lr·∇_θ (1/n)Σ(f − y)², both layers from the same θ."""
    n = X.shape[0]
    W, a = W.copy(), a.copy()
    for _ in range(steps):
        pre = X @ W.T  # (n, m)
        act = np.maximum(pre, 0)
        residual = act @ a - y  # f − y: (n,)
        grad_a = 2 / n * act.T @ residual  # (m,)
        grad_W = 2 / n * ((residual[:, None] * a) * (pre >= 0)).T @ X  # (m, d)
        W, a = W - lr * grad_W, a - lr * grad_a
    return W, a


def test_engine_on_reference_draws_equals_the_reference_update(single_thread):
    taus, deltas = np.array([TAUS[0], TAUS[8], TAUS[16]]), np.array([DELTAS[16], DELTAS[0], 0.0])
    grid = reference_cells([100, 101], taus, deltas, **SMALL)
    nets = grid.nets()
    X, y, X_test, y_test = grid.data()
    assert X_test.shape == (2, SMALL["n_test"], SMALL["d"]) and y_test.shape == (2, SMALL["n_test"])
    assert forward(nets, X).abs().max() <= 1e-14  # f(x; θ0) = 0: (S, n, K)
    ones = torch.ones(2, 3, dtype=torch.float64)
    delta_k = per_neuron_delta(nets, ones, ones)  # (S, K, m)
    assert (delta_k - torch.tensor(deltas)[None, :, None]).abs().max() <= 1e-4
    # The reference's rate on the MSE, 5e-3/τ²; the engine takes lr in that convention and steps
    # h = 2·lr/n on L = ½Σ(f − y)², so one reference step is gradient-flow time 2·lr/n.
    lr = 5e-3 / taus**2  # (K,)
    steps = 20
    n = SMALL["n"]
    result = train(nets, X, y, lr=lr[None], checkpoints=[0, steps], solver=GD(fuse=False))
    assert np.allclose(step_size(lr, n), 2 * lr / n, rtol=0, atol=0)
    assert np.array_equal(result.time[..., -1], np.broadcast_to(steps * 2 * lr / n, (2, 3)))
    final = result.snapshots[-1]
    for i in range(2):
        for k in range(3):
            W0, a0 = grid.W[i, k], grid.a[i, k]
            W, a = numpy_reference_gd(W0, a0, grid.X[i], grid.y[i], lr=lr[k], steps=steps)
            assert np.abs(W - W0).max() > 1e-6  # the steps moved the network
            # The displacement, to float64 rounding of the gradient's summation order.
            got_W, got_a = final.W[i, k].numpy(), final.a[i, k].numpy()
            np.testing.assert_allclose(got_W - W0, W - W0, rtol=1e-9, atol=1e-15)
            np.testing.assert_allclose(got_a - a0, a - a0, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"seed": True}, "seed"),
        ({"seed": 2**64}, "seed"),
        ({"test_seed": -3}, "test_seed"),
        ({"tau": 0.0}, "tau"),
        ({"tau": -1.0}, "tau"),
        ({"tau": np.inf}, "tau"),
        ({"tau": np.nan}, "tau"),
        ({"delta": np.nan}, "delta"),
        ({"delta": -np.inf}, "delta"),
        ({"m": 7}, "m"),
        ({"m": 0}, "m"),
        ({"m": 2.0}, "m"),
        ({"d": 0}, "d"),
        ({"n": 0}, "n"),
        ({"n_test": 0}, "n_test"),
        ({"tau": 1e-3, "delta": 1e4}, "delta / tau"),  # α_ref cancels to 0: weights overflow
    ],
)
def test_bad_input_raises_naming_the_argument(kwargs, name):
    args = {"seed": 0, "tau": 0.5, "delta": 0.0, **SMALL, **kwargs}
    with pytest.raises(ValueError, match=rf"^{name}"):
        reference_cell(**args)


def test_bad_grid_input():
    with pytest.raises(ValueError, match=r"^seeds"):
        reference_cells([], 0.5, 0.0, **SMALL)
    with pytest.raises(ValueError, match=r"^seeds"):
        reference_cells([1, -2], 0.5, 0.0, **SMALL)
    with pytest.raises(ValueError, match="broadcast"):
        reference_cells([1], [0.5, 1.0], [0.0, 0.1, 0.2], **SMALL)


# Figure 1a's notebook: its cells as (scale, its layer ratio α_ref), the lazy scale an int.
FIG1A_CELLS = ((0.1, 1), (2, 1), (0.1, 0.1), (0.1, 10))


def literal_figure1a(scale, ratio, *, d=2, m=50, n=20, teacher_seed=15, seed=100):
    """Figure 1a's notebook, call by call on the global generator: one teacher after
    manual_seed(teacher_seed), then per cell manual_seed(seed), the student and the data."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(teacher_seed)
        teacher_1, teacher_2 = nn.Linear(d, 3, bias=False), nn.Linear(3, 1, bias=False)
        directions = torch.randn(3, d)
        directions = directions / torch.norm(directions, dim=1, keepdim=True)
        with torch.no_grad():
            teacher_1.weight.copy_(directions)
        readouts = torch.randn(3)
        with torch.no_grad():
            teacher_2.weight.copy_(torch.sign(readouts))
        teacher = nn.Sequential(teacher_1, nn.ReLU(), teacher_2)
        # The notebook names a cell by (scale, α_ref), turns it into δ, and δ back into α_ref.
        delta = scale**2 * (1 / ratio**2 - ratio**2)
        alpha = np.sqrt((np.sqrt(4 + (delta / scale**2) ** 2) - delta / scale**2) / 2)
        torch.manual_seed(seed)
        student_1, student_2 = _symmetric_student(d, m, scale, alpha)
        X = torch.randn(n, d)
        X = X / torch.norm(X, dim=1, keepdim=True)
        with torch.no_grad():
            y = teacher(X)
    values = {
        "teacher_w": teacher_1.weight,
        "teacher_a": teacher_2.weight[0],
        "W": student_1.weight,
        "a": student_2.weight[0],
        "X": X,
        "y": y[:, 0],
    }
    return delta, {k: np.float64(v.detach().numpy()) for k, v in values.items()}


def test_figure1a_preset_replays_the_notebook_draw_bitwise():
    from richlazy.experiments.two_layer import fig1a

    config = fig1a.PRESETS["paper"]
    dataset = config.dataset(100)
    W, a = dataset.students  # (K, m, d), (K, m), τ-major
    for scale, ratio in FIG1A_CELLS:
        delta, expected = literal_figure1a(scale, ratio)
        # The notebook's downstream δ is −0.9999000000000001: the preset's −0.9999 is that cell.
        i = config.taus.index(float(scale))
        j = int(np.argmin(np.abs(np.array(config.deltas) - delta)))
        assert abs(config.deltas[j] - delta) <= 1e-15
        k = i * len(config.deltas) + j
        assert np.array_equal(W[k], expected["W"]), (scale, ratio)
        assert np.array_equal(a[k], expected["a"]), (scale, ratio)
        assert np.array_equal(dataset.X, expected["X"])
        assert np.array_equal(dataset.y, expected["y"])
        assert np.array_equal(dataset.teacher_readouts, expected["teacher_a"])
        neurons = expected["teacher_a"][:, None] * expected["teacher_w"]
        assert np.array_equal(dataset.teacher, neurons)
    # The draw the notebook printed: teacher readouts (−1, −1, +1).
    assert dataset.teacher_readouts.tolist() == [-1.0, -1.0, 1.0]
    # The test set (not in the notebook) is the grid runs' one, labelled by this teacher.
    grid = reference_cells([100], 0.1, 0.0, d=2, n=20, n_test=1000, teacher_seed=15)
    assert np.array_equal(dataset.X_test, grid.X_test[0])
    assert np.array_equal(dataset.y_test, grid.y_test[0])
    expected_test = np.maximum(grid.X_test[0] @ grid.teacher_w[0].T, 0) @ grid.teacher_a[0]
    np.testing.assert_allclose(dataset.y_test, expected_test, rtol=0, atol=1e-6)


def test_teacher_seed_draws_one_teacher_and_starts_each_seed_at_the_student():
    sizes = {"d": 5, "n": 9, "m": 6}
    grid = reference_cells([100, 3], 0.3, 0.0, teacher_seed=15, n_test=7, **sizes)
    for i, seed in enumerate((100, 3)):
        _, expected = literal_figure1a(0.3, 1, seed=seed, **sizes)
        for field in ("teacher_w", "teacher_a", "X", "y"):
            assert np.array_equal(getattr(grid, field)[i], expected[field]), (seed, field)
        assert np.array_equal(grid.W[i, 0], expected["W"]) and np.array_equal(
            grid.a[i, 0], expected["a"]
        )
    # Without teacher_seed the teacher opens the seed's stream (the grid runs): another draw.
    other = reference_cells([100], 0.3, 0.0, n_test=7, **sizes)
    assert not np.array_equal(other.teacher_w[0], grid.teacher_w[0])
    assert not np.array_equal(other.X[0], grid.X[0])
    with pytest.raises(ValueError, match=r"^teacher_seed"):
        reference_cells([1], 0.3, 0.2, teacher_seed=-1, n_test=7, **sizes)


def test_figure1a_paper_preset_trains_the_notebook_draw_as_the_notebook_steps(single_thread):
    from richlazy.experiments import runner

    steps = 40
    results = runner.run("fig1a", preset="paper", overrides={"steps": steps}).results
    assert results.seed.values.tolist() == [100]
    assert results.teacher_readout.sel(seed=100).values.tolist() == [-1.0, -1.0, 1.0]
    for scale, ratio in FIG1A_CELLS:
        delta, draw = literal_figure1a(scale, ratio)
        cell = results.sel(tau=scale, delta=delta, method="nearest").sel(seed=100)
        assert float(cell.delta) == pytest.approx(delta, abs=1e-15)
        # Step 0 is the notebook's draw, bitwise.
        start = np.abs(draw["a"])[:, None] * draw["W"]  # (m, 2)
        assert np.array_equal(cell.scaled_weight.sel(step=0).values, start)
        assert np.array_equal(cell.readout.sel(step=0).values, draw["a"])
        # The notebook's update (θ ← θ − lr·∇MSE, float64): the displacement after 40 steps, to
        # float64 rounding of the gradient's summation order (as the test above).
        W, a = numpy_reference_gd(draw["W"], draw["a"], draw["X"], draw["y"], lr=1e-4, steps=steps)
        assert np.abs(a - draw["a"]).max() > 1e-9  # the steps moved the network
        got_a = cell.readout.sel(step=steps).values
        np.testing.assert_allclose(got_a - draw["a"], a - draw["a"], rtol=1e-9, atol=1e-15)
        got = cell.scaled_weight.sel(step=steps).values
        np.testing.assert_allclose(
            got - start, np.abs(a)[:, None] * W - start, rtol=1e-9, atol=1e-15
        )
