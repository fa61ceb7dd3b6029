"""alpha_sweep: the monitor's measures at several α as one (alpha, seed, step) Dataset."""

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

from richlazy.nn import SGD, FeatureMonitor, fit
from richlazy.nn.alpha_sweep import alpha_sweep, plot_alpha_sweep

matplotlib.use("Agg")
pytestmark = pytest.mark.usefixtures("single_thread")
D = torch.float64
X = torch.randn(32, 4, generator=torch.Generator().manual_seed(0), dtype=D)
Y = torch.randn(32, 1, generator=torch.Generator().manual_seed(1), dtype=D)
STEPS = [0, 2, 5, 10]


def tiny():
    return nn.Sequential(nn.Linear(4, 16, bias=False), nn.ReLU(),
                         nn.Linear(16, 1, bias=False)).to(D)  # fmt: skip


def sweep(alphas, seeds=(0, 1)):
    return alpha_sweep(tiny, alphas, (X, Y), optimizer=SGD(0.1), steps=10, seeds=seeds,
                       probe=X[:8], eval_steps=STEPS)  # fmt: skip


def test_shapes_and_determinism_per_seed():
    ds = sweep([0.5, 2.0])
    assert ds.kernel_distance.dims == ("alpha", "seed", "step")
    assert ds.kernel_distance.shape == (2, 2, 4)
    assert ds.hamming_fraction.dims == ("alpha", "seed", "step", "layer")
    assert list(ds.step.values) == STEPS and list(ds.alpha.values) == [0.5, 2.0]
    assert (ds.kernel_distance.sel(step=0) == 0).all()
    assert (ds.kernel_distance.sel(step=10) > 0).all()
    again = sweep([2.0], seeds=[1])  # one (α, seed) alone gives the same run
    np.testing.assert_array_equal(again.kernel_distance.sel(alpha=2.0, seed=1),
                                  ds.kernel_distance.sel(alpha=2.0, seed=1))  # fmt: skip
    # the seeds differ
    assert not np.array_equal(ds.train_loss.sel(seed=0), ds.train_loss.sel(seed=1))
    figure = plot_alpha_sweep(ds)
    assert len(figure.axes[0].lines) == 2


def test_alpha_one_is_the_plain_model():
    ds = sweep([1.0], seeds=[3])
    torch.manual_seed(3)
    model = tiny()
    monitor = FeatureMonitor(model, X[:8], optimizer=torch.optim.SGD(model.parameters(), lr=0.1))

    def evaluate(step, run, trained):
        monitor.log(step)
        return {}

    history = fit(model, X, Y, optimizer=SGD(0.1), steps=10, seed=3, loss="mse",
                  eval_steps=STEPS, evaluate=evaluate)  # fmt: skip
    plain = monitor.to_xarray()
    np.testing.assert_array_equal(ds.kernel_distance.sel(alpha=1.0, seed=3), plain.kernel_distance)
    np.testing.assert_array_equal(ds.train_loss.sel(alpha=1.0, seed=3), history.train_loss[0])


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="alphas"):
        sweep([0.0])
    with pytest.raises(ValueError, match="alphas"):
        sweep([2.0, 2.0])
    with pytest.raises(TypeError, match="make_model"):
        alpha_sweep(3, [1.0], (X, Y), optimizer=SGD(0.1), steps=1)
    with pytest.raises(TypeError, match="data"):
        alpha_sweep(tiny, [1.0], X, optimizer=SGD(0.1), steps=1)
    with pytest.raises(ValueError, match="variable"):
        plot_alpha_sweep(sweep([1.0], seeds=[0]), "nothing")


def test_a_diverged_run_has_nan_measures_from_then_on():
    ds = alpha_sweep(tiny, [1.0], (X, 1e3 * Y), optimizer=SGD(10.0), steps=10, seeds=[0],
                     probe=X[:8], eval_steps=STEPS)  # fmt: skip
    distance = ds.kernel_distance.sel(alpha=1.0, seed=0).values
    assert distance[0] == 0.0 and np.isnan(distance[-1])
