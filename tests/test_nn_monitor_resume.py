"""FeatureMonitor.scalars, state_dict/load_state_dict, and S(0, 0) = 0 exactly."""

import io

import numpy as np
import pytest
import torch
from torch import nn

from richlazy.nn import FeatureMonitor, kernel_distance
from richlazy.single_neuron import kernel_distance as numpy_kernel_distance

pytestmark = pytest.mark.usefixtures("single_thread")
D = torch.float64


def model_and_data(seed: int):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1))
    x = torch.randn(12, 3, generator=torch.Generator().manual_seed(1), dtype=D)
    y = torch.randn(12, 1, generator=torch.Generator().manual_seed(2), dtype=D)
    return model.to(D), x, y


def train(model, monitor, optimizer, x, y, steps):
    for step in steps:
        monitor.maybe_log(step)
        loss = ((model(x) - y) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def test_a_resumed_monitor_goes_on_as_one_that_never_stopped():
    model, x, y = model_and_data(0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2)
    monitor = FeatureMonitor(model, x, optimizer=optimizer, every=7)
    train(model, monitor, optimizer, x, y, range(30))
    buffer = io.BytesIO()  # what a checkpoint file holds
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "monitor": monitor.state_dict()}, buffer)  # fmt: skip
    train(model, monitor, optimizer, x, y, range(30, 60))

    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    again, _, _ = model_and_data(5)  # a new process: other initial weights, then the checkpoint
    again.load_state_dict(saved["model"])
    optimizer2 = torch.optim.SGD(again.parameters(), lr=0.2)
    optimizer2.load_state_dict(saved["optimizer"])
    resumed = FeatureMonitor(again, x, optimizer=optimizer2, every=7)
    resumed.load_state_dict(saved["monitor"])
    train(again, resumed, optimizer2, x, y, range(30, 60))

    assert [r["step"] for r in resumed.records] == [0, 7, 14, 21, 28, 35, 42, 49, 56]
    # same code path, same thread count, float64: agreement to rounding (1e-12 relative)
    for key in ("kernel_distance", "parameter_distance", "kernel_velocity"):
        np.testing.assert_allclose(resumed.to_xarray()[key], monitor.to_xarray()[key],
                                   rtol=1e-12, atol=1e-14)  # fmt: skip
    assert resumed.scalars(56) == pytest.approx(monitor.scalars(56), rel=1e-12, nan_ok=True)
    # a monitor without the state measures from the checkpoint, not from the start
    fresh = FeatureMonitor(again, x, optimizer=optimizer2)
    assert fresh.scalars(60)["parameter_distance"] == 0.0
    assert monitor.scalars(60)["parameter_distance"] > 0.1


def test_scalars_are_flat_and_match_the_dataset():
    model, x, y = model_and_data(0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2)
    monitor = FeatureMonitor(model, x, optimizer=optimizer, every=5)
    train(model, monitor, optimizer, x, y, range(11))
    flat = monitor.scalars(10)
    assert all(isinstance(v, float) for v in flat.values())
    ds = monitor.to_xarray().sel(step=10)
    assert flat["kernel_distance"] == float(ds.kernel_distance) > 0
    for layer in ("0", "2", "4"):
        assert flat[f"parameter_distance/{layer}"] == float(
            ds.layer_parameter_distance.sel(param_layer=layer)
        )
    for layer in ("1", "3"):
        assert flat[f"hamming_fraction/{layer}"] == float(ds.hamming_fraction.sel(layer=layer))
    assert sum(k.startswith("conserved_drift/") for k in flat) == 2
    # a step not yet recorded is recorded by scalars
    assert "kernel_distance" in monitor.scalars(12)
    assert monitor.records[-1]["step"] == 12
    with pytest.raises(ValueError, match="step"):
        monitor.scalars(11)


def test_the_step_zero_kernel_distance_is_exactly_zero():
    model, x, _ = model_and_data(3)
    monitor = FeatureMonitor(model, x)
    assert monitor.scalars(0)["kernel_distance"] == 0.0
    # the class: S(K, K) = 0 for any kernel, in both implementations, where 1 − ⟨K,K⟩/‖K‖² is not
    rng = np.random.default_rng(0)
    A = rng.normal(size=(50, 9, 9))
    K = A @ A.transpose(0, 2, 1) * 10.0 ** rng.uniform(-5, 5, size=(50, 1, 1))
    unit = K.reshape(50, -1) / np.abs(K).reshape(50, -1).max(1, keepdims=True)
    plain = 1 - (unit**2).sum(1) / np.linalg.norm(unit, axis=1) ** 2
    assert np.any(plain != 0)  # the rounding this guards against
    assert np.all(kernel_distance(K, K) == 0)
    assert np.all(numpy_kernel_distance(K, K) == 0)
    other = K.copy()
    other[:, 0, 0] *= 3.0  # a kernel that differs in one entry is not at distance 0
    assert np.all(kernel_distance(K, other) > 1e-6)


def test_a_state_from_another_model_is_refused():
    model, x, _ = model_and_data(0)
    state = FeatureMonitor(model, x).state_dict()
    with pytest.raises(ValueError, match="K0"):
        FeatureMonitor(model, x[:5]).load_state_dict(state)
    with pytest.raises(ValueError, match="kernel"):
        FeatureMonitor(model, x, kernel="trace").load_state_dict(state)
    other = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).to(D)
    with pytest.raises(ValueError, match="parameters"):
        FeatureMonitor(other, x).load_state_dict(state)
    with pytest.raises(TypeError, match="state"):
        FeatureMonitor(model, x).load_state_dict([state])
