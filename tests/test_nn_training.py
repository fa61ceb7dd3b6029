"""The Section 5 training loop: both paths agree, it is seeded, it measures on its schedule, and it
refuses bad input by name."""

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn

from richlazy.nn.models import MLP, SmallCNN
from richlazy.nn.training import Optimizer, fit


def _mlps(seeds, **kwargs):
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(MLP(6, 16, 3, 3, **kwargs).double())
    return models


def _data(seed=0, n=40):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 6, generator=g, dtype=torch.float64), torch.randint(
        0, 3, (n,), generator=g
    )


def _max_difference(a, b):
    return max(
        (p - q).abs().max().item()
        for ma, mb in zip(a, b, strict=True)
        for p, q in zip(ma.parameters(), mb.parameters(), strict=True)
    )


@pytest.mark.parametrize(
    "optimizer",
    [
        Optimizer("sgd", lr=0.1, momentum=0.9, weight_decay=1e-3),
        Optimizer("adamw", lr=1e-2, weight_decay=0.5),
    ],
)
def test_the_vectorized_path_trains_each_run_as_the_sequential_path_does(optimizer):
    X, y = _data()
    per_run = [_data(seed)[0] for seed in (1, 2, 3)]  # inputs: one dataset per run
    runs = {}
    for vectorize in (True, False):
        models = _mlps([0, 1, 2])
        history = fit(
            models, per_run, y, optimizer=optimizer, steps=25, batch_size=8, seed=[4, 5, 6],
            x_test=X, y_test=y, vectorize=vectorize, lr_scales={"layers.0.weight": 0.5},
        )  # fmt: skip
        runs[vectorize] = models, history
    assert _max_difference(runs[True][0], runs[False][0]) < 1e-12
    assert abs(runs[True][1].train_loss - runs[False][1].train_loss).max() < 1e-12
    assert runs[True][1].attrs["vectorized"] == 1 and runs[False][1].attrs["vectorized"] == 0
    # the runs differ from each other and training moved them
    start = _mlps([0])[0]
    assert _max_difference([runs[True][0][0]], [start]) > 1e-3
    assert _max_difference([runs[True][0][0]], [runs[True][0][1]]) > 1e-3


def test_one_sgd_step_is_the_update_by_hand_with_per_parameter_rates():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2, bias=False), nn.Linear(2, 1, bias=False)).double()
    before = [p.detach().clone() for p in model.parameters()]
    X, y = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    loss = ((model(X).squeeze(-1) - y) ** 2).mean()
    grads = torch.autograd.grad(loss, list(model.parameters()))
    fit(
        model,
        X,
        y,
        optimizer=Optimizer("sgd", lr=0.3),
        steps=1,
        loss="mse",
        lr_scales={"1.weight": 2.0},
    )
    expected = [before[0] - 0.3 * grads[0], before[1] - 0.6 * grads[1]]
    for p, e in zip(model.parameters(), expected, strict=True):
        torch.testing.assert_close(p.detach(), e, rtol=0, atol=1e-14)


def test_training_is_deterministic_for_a_seed_and_the_seed_orders_the_minibatches():
    X, y = _data()
    results = []
    for seed in (0, 0, 1):
        models = _mlps([3])
        fit(models, X, y, optimizer=Optimizer("sgd", lr=0.1), steps=12, batch_size=8, seed=seed)
        results.append(models)
    assert _max_difference(results[0], results[1]) == 0
    assert _max_difference(results[0], results[2]) > 1e-6


def test_measurements_follow_the_schedule_and_until_stops_early():
    X, y = _data()
    norms = []

    def evaluate(step, run, model):
        norm = float(model.layers[0].weight.detach().norm())
        norms.append((step, norm))
        return {"first_norm": norm, "pair": torch.tensor([step, run], dtype=torch.float64).numpy()}

    models = _mlps([0, 1])
    start_norm = float(models[0].layers[0].weight.detach().norm())
    history = fit(
        models, X, y, optimizer=Optimizer("sgd", lr=0.5), epochs=10, batch_size=10,
        eval_steps=[0, 4, 8, 20], evaluate=evaluate,
        until=lambda h: bool((h.train_accuracy.isel(step=-1) >= 0.0).all() and h.step[-1] >= 8),
    )  # fmt: skip
    assert history.step.values.tolist() == [0, 4, 8]  # stopped after step 8's measurement
    assert history.epoch.values.tolist() == [0, 1, 2]  # 4 steps per epoch
    assert history.first_norm.sel(run=0, step=0) == start_norm
    assert history.pair.dims == ("run", "step", "pair_dim_0")
    assert history.pair.sel(run=1, step=4).values.tolist() == [4, 1]
    assert set(history) >= {"train_loss", "train_accuracy", "first_norm"}
    assert isinstance(history, xr.Dataset)


def test_models_with_running_statistics_train_one_after_the_other():
    models = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        models.append(
            nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.LazyLinear(3))
        )
    X = torch.randn(8, 1, 5, 5)
    for m in models:
        m(X)  # materialise the lazy layer
    history = fit(models, X, torch.arange(8) % 3, optimizer=Optimizer("adamw", lr=1e-2), steps=3)
    assert history.attrs["vectorized"] == 0 and history.train_loss.shape == (2, 4)
    with pytest.raises(ValueError, match="vectorize=True"):
        fit(models, X, torch.arange(8) % 3, optimizer=Optimizer(), steps=1, vectorize=True)


def test_a_cnn_ensemble_trains_vectorized():
    torch.manual_seed(0)
    models = [SmallCNN(8, width=4).double() for _ in range(2)]
    X = torch.randn(16, 1, 8, 8, dtype=torch.float64)
    history = fit(models, X, torch.arange(16) % 10, optimizer=Optimizer(lr=0.05), steps=4)
    assert history.attrs["vectorized"] == 1
    assert (history.train_loss.isel(step=-1) < history.train_loss.isel(step=0)).all()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"steps": 3, "epochs": 2}, "exactly one of steps and epochs"),
        ({"steps": None}, "exactly one of steps and epochs"),
        ({"loss": "hinge"}, "loss must be one of cross_entropy, mse"),
        ({"batch_size": 41}, "batch_size"),
        ({"eval_steps": [0, 99]}, r"eval_steps must be whole steps in \[0, 5\]"),
        ({"seed": [1, 2, 3]}, "seed: one per run expected"),
        ({"lr_scales": {"nope": 2.0}}, "lr_scales names no parameter nope"),
        ({"x_test": torch.zeros(3, 6)}, "x_test and y_test go together"),
        ({"y_train": torch.zeros(7, dtype=torch.long)}, "same positive number of samples"),
    ],
)
def test_bad_arguments_are_refused_by_name(change, message):
    X, y = _data()
    arguments = {"x_train": X, "y_train": y, "optimizer": Optimizer(), "steps": 5} | change
    with pytest.raises(ValueError, match=message):
        fit(_mlps([0, 1]), **arguments)


def test_bad_optimizers_and_models_are_refused_by_name():
    with pytest.raises(ValueError, match="kind must be one of sgd, adamw"):
        Optimizer("adam")
    with pytest.raises(ValueError, match="momentum must be below 1"):
        Optimizer(momentum=1.0)
    with pytest.raises(ValueError, match="betas"):
        Optimizer("adamw", betas=(0.9, 1.5))
    X, y = _data()
    with pytest.raises(ValueError, match="share one architecture"):
        fit([_mlps([0])[0], MLP(6, 8, 3, 3).double()], X, y, optimizer=Optimizer(), steps=1)
    with pytest.raises(TypeError, match="optimizer must be"):
        fit(_mlps([0]), X, y, optimizer="sgd", steps=1)


def test_a_loss_of_ones_own_keeps_the_accuracies_when_asked():
    X, y = _data()

    def float64_cross_entropy(out, target):
        return torch.nn.functional.cross_entropy(out.double(), target)

    history = fit(_mlps([0]), X, y, optimizer=Optimizer(), steps=2, loss=float64_cross_entropy,
                  accuracy=True)  # fmt: skip
    assert "train_accuracy" in history and 0 <= float(history.train_accuracy.max()) <= 1
    plain = fit(_mlps([0]), X, y, optimizer=Optimizer(), steps=2, loss=float64_cross_entropy)
    assert "train_accuracy" not in plain


@pytest.mark.parametrize("vectorize", [True, False])
def test_until_stops_each_run_at_its_own_step(vectorize):
    X, y = _data()
    optimizer = Optimizer("adamw", lr=1e-2, weight_decay=0.1)
    models = _mlps([0, 1, 2])
    history = fit(
        models, X, y, optimizer=optimizer, steps=16, batch_size=8, seed=[3, 4, 5],
        eval_steps=[0, 4, 8, 12, 16], vectorize=vectorize,
        until=lambda h: np.array([h.step[-1] >= 4, h.step[-1] >= 8, False]),
    )  # fmt: skip
    assert history.stopped_step.values.tolist() == [4, 8, -1]
    assert history.step.values.tolist() == [0, 4, 8, 12, 16]  # run 2 trains to the end
    loss = history.train_loss.sel(run=0)
    assert float(loss.sel(step=16)) == float(loss.sel(step=4))  # run 0 kept its step-4 weights
    for run, steps in ((0, 4), (1, 8), (2, 16)):
        alone = _mlps([run])
        fit(alone, X, y, optimizer=optimizer, steps=steps, batch_size=8, seed=3 + run)
        assert _max_difference([models[run]], alone) < 1e-12
    ended = fit(_mlps([0, 1]), X, y, optimizer=optimizer, steps=8, eval_steps=[0, 4, 8],
                until=lambda h: np.array([h.step[-1] >= 4] * 2), vectorize=vectorize)  # fmt: skip
    assert ended.step.values.tolist() == [0, 4]  # every run stopped: training ends
    with pytest.raises(ValueError, match="until must return one bool or one per run"):
        fit(_mlps([0, 1]), X, y, optimizer=optimizer, steps=2, until=lambda h: np.ones(3, bool))
