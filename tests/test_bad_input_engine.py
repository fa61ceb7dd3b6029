"""Bad and extreme input thrown at every public function of nets, train, metrics, data and
sweeps (issue 17): each case asserts the error type, that the message names the argument,
and that the call ends within a few seconds; never a raw torch or NumPy error, never a silent
wrong result (integer networks that do not train, 2 networks compared against 3)."""

import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from richlazy import data, metrics, nets, sweeps, train
from richlazy.sweeps import GridConfig, RunContext

BOUND = 5.0
pytestmark = pytest.mark.usefixtures("single_thread")


def batch(S=1, K=2, m=4, d=3, dtype=torch.float64, bias=False):
    rng = np.random.default_rng(0)
    W = torch.tensor(rng.normal(size=(S, K, m, d)), dtype=dtype)
    a = torch.tensor(rng.normal(size=(S, K, m)), dtype=dtype)
    b = torch.zeros((S, K, m), dtype=dtype) if bias else None
    return nets.TwoLayerNets(W, a, b)


NETS, OTHER = batch(), batch(K=3)
X = torch.tensor(np.random.default_rng(1).normal(size=(1, 5, 3)))
Y = torch.zeros((1, 5), dtype=torch.float64)
ONES = torch.ones((1, 2), dtype=torch.float64)
RNG = np.random.default_rng(2)
DIRECTIONS, SIGNS = np.ones((1, 2, 3)) / np.sqrt(3), np.ones((1, 2))
CONFIG = GridConfig(taus=(0.5, 1.0), deltas=(0.0,), seeds=(0,), width=4, steps=10)
TASK = data.teacher_student(0, d=2, n=4, n_test=4)


def int_nets():
    return nets.TwoLayerNets(torch.ones((1, 1, 2, 2), dtype=torch.int64), torch.ones((1, 1, 2)))


CASES = [
    # nets
    (int_nets, (), {}, TypeError, "W"),
    (nets.TwoLayerNets, (np.ones((1, 1, 2, 2)), torch.ones((1, 1, 2))), {}, TypeError, "W"),
    (
        nets.TwoLayerNets,
        (torch.ones((1, 1, 2, 2)), torch.ones((1, 1, 2), dtype=torch.int32)),
        {},
        TypeError,
        "a",
    ),
    (
        nets.TwoLayerNets,
        (torch.ones((1, 1, 2, 2), dtype=torch.complex128), torch.ones((1, 1, 2))),
        {},
        TypeError,
        "W",
    ),
    (
        nets.TwoLayerNets,
        (torch.ones((1, 1, 2, 2)), torch.ones((1, 1, 2), dtype=torch.float64)),
        {},
        ValueError,
        "a",
    ),
    (nets.TwoLayerNets, (torch.ones((1, 2, 2)), torch.ones((1, 2))), {}, ValueError, "W"),
    (
        nets.TwoLayerNets,
        (torch.ones((1, 1, 2, 2)), torch.ones((1, 1, 2))),
        {"leak": 2.0},
        ValueError,
        "leak",
    ),
    (nets.alpha_from, (0.0, 1.0), {}, ValueError, "tau"),
    (nets.alpha_from, (1.0, np.nan), {}, ValueError, "delta"),
    (nets.alpha_from, (1.0, 1.0), {"eta_w": -1.0}, ValueError, "eta_w"),
    (nets.alpha_from, (1j, 1.0), {}, TypeError, "tau"),
    (nets.delta_from, (1.0, 0.0), {}, ValueError, "alpha"),
    (nets.weight_scales, (1e-200, 1.0), {}, ValueError, "tau"),
    (nets.weight_scales, (1e-46, 0.0), {"dtype": "float32"}, ValueError, "tau"),
    (
        nets.symmetric_pairs,
        (np.ones((2, 3)), SIGNS, [[1.0]], [[0.0]]),
        {},
        ValueError,
        "directions",
    ),
    (
        nets.symmetric_pairs,
        (DIRECTIONS, np.ones((1, 3)), [[1.0]], [[0.0]]),
        {},
        ValueError,
        "signs",
    ),
    (
        nets.symmetric_pairs,
        (DIRECTIONS, SIGNS, [[1.0, 2.0]], [[0.0, 1.0, 2.0]]),
        {},
        ValueError,
        "tau",
    ),
    (nets.symmetric_pairs, (DIRECTIONS, SIGNS, [[1e-200]], [[1.0]]), {}, ValueError, "tau"),
    (
        nets.symmetric_pairs,
        (DIRECTIONS, SIGNS, [[1.0]], [[0.0]]),
        {"dtype": torch.int64},
        TypeError,
        "dtype",
    ),
    (nets.forward, (NETS, X[0]), {}, ValueError, "X"),
    (nets.forward, (NETS, X.float()), {}, ValueError, "X"),
    (nets.per_neuron_delta, (NETS, 1.0, ONES), {}, TypeError, "eta_a"),
    (
        nets.per_neuron_delta,
        (NETS, ONES, torch.ones(3, dtype=torch.float64)),
        {},
        ValueError,
        "eta_w",
    ),
    (nets.check_data, ("nets", X), {}, TypeError, "nets"),
    (nets.check_same_batch, (NETS, OTHER), {}, ValueError, "current"),
    # train
    (train.train, (int_nets, None, None), {"lr": 1.0, "checkpoints": [0, 1]}, TypeError, "W"),
    (train.train, (NETS, X.long(), Y.long()), {"lr": 1.0, "checkpoints": [0, 1]}, ValueError, "X"),
    (train.train, (NETS, X, Y), {"lr": 1e-3, "checkpoints": [0, 2**63]}, ValueError, "checkpoints"),
    (
        train.train,
        (NETS, X, Y),
        {"lr": 1e-3, "checkpoints": [0, 10**29]},
        ValueError,
        "checkpoints",
    ),
    (train.train, (NETS, X, Y), {"lr": 1e-3, "checkpoints": [0, 1e12]}, ValueError, "checkpoints"),
    (train.train, (NETS, X, Y), {"lr": 1e-3, "checkpoints": ["0", "1"]}, TypeError, "checkpoints"),
    (train.train, (NETS, X, Y), {"lr": 1e-3, "checkpoints": [0, 1 + 1j]}, TypeError, "checkpoints"),
    (train.train, (NETS, X, Y), {"lr": 1e308, "checkpoints": [0, 1]}, ValueError, "lr"),
    (train.train, (NETS, X, Y), {"lr": 1j, "checkpoints": [0, 1]}, TypeError, "lr"),
    (
        train.train,
        (NETS, X, Y),
        {"lr": 1e-3, "checkpoints": [0, 1], "progress": 3},
        TypeError,
        "progress",
    ),
    (
        train.train,
        (NETS, X, Y),
        {"lr": 1e-3, "checkpoints": [0, 1], "solver": "gd"},
        TypeError,
        "solver",
    ),
    (train.log_schedule, (2**63,), {}, ValueError, "max_steps"),
    (train.log_schedule, (100,), {"per_decade": 10**6}, ValueError, "per_decade"),
    (train.checked_schedule, ("0,1",), {}, TypeError, "checkpoints"),
    (train.solver_named, ("adam",), {}, ValueError, "method"),
    (train.GradientFlow, (), {"rtol": "small"}, ValueError, "rtol"),
    (train.GD, (), {"fuse": "yes"}, ValueError, "fuse"),
    (train.step_size, (-1.0, 10), {}, ValueError, "lr"),
    (train.check_device, ("tpu",), {}, ValueError, "device"),
    (train.GD().fuses, (NETS, "X"), {}, TypeError, "X"),
    # metrics
    (metrics.ntk, (NETS, X[0]), {}, ValueError, "X"),
    (metrics.ntk, (NETS, X), {"X2": X.float()}, ValueError, "X2"),
    (metrics.ntk, (NETS, X), {"eta_a": 1j}, TypeError, "eta_a"),
    (metrics.ntk, (NETS, X), {"eta_w": torch.ones(5)}, ValueError, "eta_w"),
    (metrics.kernel_distance, (NETS, OTHER, X), {}, ValueError, "current"),
    (metrics.kernel_distance, (NETS, NETS, X.float()), {}, ValueError, "X"),
    (metrics.kernel_distance, (NETS, "nets", X), {}, TypeError, "current"),
    (metrics.kernel_distances, (NETS, NETS, X), {}, TypeError, "snapshots"),
    (metrics.kernel_distances, (NETS, [NETS, OTHER], X), {}, ValueError, "snapshots"),
    (metrics.hamming_distance, (NETS, batch(m=6), X), {}, ValueError, "current"),
    (metrics.hamming_distance, (NETS, NETS, X[..., :2]), {}, ValueError, "X"),
    (metrics.parameter_distance, (NETS, batch(bias=True)), {}, ValueError, "current"),
    (metrics.parameter_distance, (NETS, OTHER), {}, ValueError, "current"),
    (metrics.conservation_drift, (NETS, batch(dtype=torch.float32)), {}, ValueError, "current"),
    (metrics.mean_squared_error, (NETS, X, Y[:, :3]), {}, ValueError, "y"),
    (metrics.mean_squared_error, (NETS, X, "y"), {}, TypeError, "y"),
    # data
    (data.sphere, (RNG, -1, 3), {}, ValueError, "count"),
    (data.sphere, (0, 2, 3), {}, TypeError, "rng"),
    (data.student_directions, (RNG, 3, 2), {}, ValueError, "width"),
    (data.teacher_student, (-1,), {"d": 2, "n": 4, "n_test": 4}, ValueError, "seed"),
    (data.reference_cell, (-1, 0.1, 0.0), {"d": 2, "n": 4, "n_test": 4}, ValueError, "seed"),
    (data.reference_cell, (0, 0.0, 0.0), {"d": 2, "n": 4, "n_test": 4}, ValueError, "tau"),
    (data.reference_cells, ([0], [0.1], [0.0]), {"d": 2, "n": 4, "m": 3}, ValueError, "m"),
    (data.reference_dataset, (0, (0.1,), (0.0,)), {"d": 0, "n": 4}, ValueError, "d"),
    (data.alpha_ref, (-1.0, 0.0), {}, ValueError, "tau"),
    (data.alpha_ref, (1.0, np.nan), {}, ValueError, "delta"),
    (data.digits, (-1,), {}, ValueError, "seed"),
    (data.digits, (0,), {"test_fraction": 1.5}, ValueError, "test_fraction"),
    (data.mnist5k, (-1,), {}, ValueError, "seed"),
    (data.mnist5k, (0,), {"n_train": 4995}, ValueError, "n_train"),
    (data.mnist5k, (0,), {"path": "/nonexistent-richlazy-file"}, ValueError, "path"),
    (data.mnist, ("/nonexistent-richlazy-dir",), {}, ValueError, "data_dir"),
    (data.cifar10, ("/nonexistent-richlazy-dir",), {}, ValueError, "data_dir"),
    (sweeps.TeacherStudentConfig, (), {"seeding": "torch"}, ValueError, "seeding"),
    (sweeps.TeacherStudentConfig, (), {"n_test": 0}, ValueError, "n_test"),
    (sweeps.trajectory_key, ("config",), {}, TypeError, "config"),
    (data.teacher_student, (0,), {"d": 0, "n": 4, "n_test": 4}, ValueError, "d"),
    (data.random_hierarchy, (1, 2, 1, 2, 2), {"seed": 0}, ValueError, "v"),
    (data.modular_arithmetic, (1,), {}, ValueError, "p"),
    (data.one_hot, (np.array([[0, 5]]), 3), {}, ValueError, "symbols"),
    (data.teacher_student, (0,), {"d": 2.5, "n": 4, "n_test": 4}, ValueError, "d"),
    # sweeps
    (GridConfig, (), {"seeds": (-1,)}, ValueError, "seeds"),
    (GridConfig, (), {"seeds": ()}, ValueError, "seeds"),
    (GridConfig, (), {"steps": 10**12}, ValueError, "steps"),
    (GridConfig, (), {"steps": 2**63}, ValueError, "steps"),
    (GridConfig, (), {"taus": (1e-200, 1.0)}, ValueError, "taus"),
    (GridConfig, (), {"taus": (1e-30, 1.0), "dtype": "float32"}, ValueError, "taus"),
    (GridConfig, (), {"taus": (1j,)}, TypeError, "taus"),
    (GridConfig, (), {"deltas": (1.0, 1.0)}, ValueError, "deltas"),
    (GridConfig, (), {"checkpoints_per_decade": 0}, ValueError, "checkpoints_per_decade"),
    (GridConfig, (), {"lr": float("inf")}, ValueError, "lr"),
    (GridConfig, (), {"width": True}, TypeError, "width"),
    (sweeps.initial_cells, ("config", TASK, 0), {}, TypeError, "config"),
    (sweeps.initial_cells, (CONFIG, "data", 0), {}, TypeError, "dataset"),
    (sweeps.initial_cells, (CONFIG, TASK, -1), {}, ValueError, "seed"),
    (sweeps.train_cells, (CONFIG, TASK, 0), {"progress": "bar"}, TypeError, "progress"),
    (sweeps.grid_metrics, ("trained",), {}, TypeError, "trained"),
    (sweeps.seed_results, (CONFIG, "trained", 0), {}, TypeError, "trained"),
    (sweeps.sweep, (CONFIG, "context", lambda seed: TASK, "x"), {}, TypeError, "context"),
    (sweeps.sweep, (CONFIG, RunContext(), "data", "x"), {}, TypeError, "make_dataset"),
]


def case_id(case) -> str:
    function, *_, name = case
    return f"{getattr(function, '__name__', 'call')}-{name}"


@pytest.mark.parametrize("case", CASES, ids=[f"{case_id(c)}-{i}" for i, c in enumerate(CASES)])
def test_bad_input_is_refused_naming_the_argument(case, within):
    function, args, kwargs, kind, name = case
    with within(BOUND), pytest.raises(kind) as error:
        function(*(a() if a is int_nets else a for a in args), **kwargs)
    message = str(error.value)
    assert re.search(rf"(^|\W){re.escape(name)}(\W|$)", message), message


def test_every_public_function_has_a_bad_input_case():
    tested = {getattr(c[0], "__name__", "") for c in CASES} | {"TwoLayerNets"}
    for module in (nets, train, metrics, data, sweeps):
        for name in module.__all__:
            member = getattr(module, name)
            if callable(member) and name not in (
                "Dataset",
                "ImageData",  # a frozen record of arrays, built by digits/mnist5k/mnist/cifar10
                "ReferenceCell",  # frozen records of arrays, built by reference_cell(s)
                "ReferenceGrid",
                "HierarchySplit",  # frozen records built by random_hierarchy / modular_arithmetic
                "ModularSplit",
                "RandomHierarchy",
                "TrainResult",
                "FlowSteps",
                "TrainedGrid",
                "SilentProgress",
                "RunContext",
                "Progress",
                "xor",
            ):
                assert name in tested, f"{module.__name__}.{name}"


def test_integer_networks_and_data_are_refused_before_anything_trains():
    with pytest.raises(TypeError, match=r"^W must be a real floating-point tensor"):
        int_nets()
    nets_ = batch()
    before = nets_.W.clone()
    with pytest.raises(ValueError, match=r"^X must have the networks' dtype"):
        train.train(nets_, X.long(), Y.long(), lr=1.0, checkpoints=[0, 5])
    assert torch.equal(nets_.W, before)


def test_a_schedule_of_2_to_the_63_is_refused_not_wrapped():
    with pytest.raises(
        ValueError, match=r"^checkpoints must be whole numbers .* 9223372036854775808"
    ):
        train.checked_schedule([0, 2**63])
    assert train.checked_schedule([0, train.MAX_STEPS])[-1] == 10**9


def test_kernel_distance_of_huge_and_tiny_kernels_is_finite():
    big = nets.TwoLayerNets(NETS.W * 1e100, NETS.a * 1e100)  # kernel entries ~1e400 / 1e200
    tiny = nets.TwoLayerNets(NETS.W * 1e-100, NETS.a * 1e-100)
    for other in (big, tiny):
        distance = metrics.kernel_distance(NETS, other, X)
        assert torch.all(torch.isfinite(distance)) and float(distance.abs().max()) < 1e-12


@settings(deadline=None, max_examples=40)
@given(
    shape=st.lists(st.integers(0, 4), min_size=1, max_size=4),
    dtype=st.sampled_from([torch.float64, torch.float32, torch.int64, torch.complex128]),
    which=st.sampled_from(["ntk", "mean_squared_error", "hamming_distance", "kernel_distance"]),
)
def test_metrics_name_X_for_any_wrong_shape_or_dtype(shape, dtype, which):
    candidate = torch.zeros(shape, dtype=dtype)
    if tuple(shape) == (1, 5, 3) and dtype == torch.float64:
        return  # the right one
    arguments = {
        "ntk": (NETS, candidate),
        "mean_squared_error": (NETS, candidate, Y),
        "hamming_distance": (NETS, NETS, candidate),
        "kernel_distance": (NETS, NETS, candidate),
    }[which]
    with pytest.raises(ValueError, match=r"^X must"):
        getattr(metrics, which)(*arguments)
