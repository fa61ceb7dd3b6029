"""The Section 5 training loop: both paths agree (with every learning-rate schedule), it is seeded,
it measures on its schedule, its optimizers and schedules are the updates and rates computed by
hand (and torch's schedulers), and it refuses bad input by name."""

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn

from richlazy.nn import (
    SGD,
    AdamW,
    Constant,
    CosineAnnealing,
    LinearWarmUp,
    Optimizer,
    PiecewiseLinear,
    optimizer_named,
)
from richlazy.nn.models import MLP, SmallCNN
from richlazy.nn.training import fit


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
        SGD(0.1, momentum=0.9, weight_decay=1e-3),
        SGD(0.1, momentum=0.9, nesterov=True),
        AdamW(1e-2, weight_decay=0.5),
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
        optimizer=SGD(0.3),
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
        fit(models, X, y, optimizer=SGD(0.1), steps=12, batch_size=8, seed=seed)
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
        models, X, y, optimizer=SGD(0.5), epochs=10, batch_size=10,
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
    history = fit(models, X, torch.arange(8) % 3, optimizer=AdamW(1e-2), steps=3)
    assert history.attrs["vectorized"] == 0 and history.train_loss.shape == (2, 4)
    with pytest.raises(ValueError, match="vectorize=True"):
        fit(models, X, torch.arange(8) % 3, optimizer=SGD(0.1), steps=1, vectorize=True)


def test_a_cnn_ensemble_trains_vectorized():
    torch.manual_seed(0)
    models = [SmallCNN(8, width=4).double() for _ in range(2)]
    X = torch.randn(16, 1, 8, 8, dtype=torch.float64)
    history = fit(models, X, torch.arange(16) % 10, optimizer=SGD(0.05), steps=4)
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
        ({"lr_scales": {"nope": 2.0}}, "lr_scales key 'nope' matches no parameter"),
        ({"x_test": torch.zeros(3, 6)}, "x_test and y_test go together"),
        ({"y_train": torch.zeros(7, dtype=torch.long)}, "same positive number of samples"),
    ],
)
def test_bad_arguments_are_refused_by_name(change, message):
    X, y = _data()
    arguments = {"x_train": X, "y_train": y, "optimizer": SGD(0.1), "steps": 5} | change
    with pytest.raises(ValueError, match=message):
        fit(_mlps([0, 1]), **arguments)


def test_bad_models_and_optimizers_given_to_fit_are_refused_by_name():
    X, y = _data()
    with pytest.raises(ValueError, match="share one architecture"):
        fit([_mlps([0])[0], MLP(6, 8, 3, 3).double()], X, y, optimizer=SGD(0.1), steps=1)
    with pytest.raises(TypeError, match="optimizer must be"):
        fit(_mlps([0]), X, y, optimizer="sgd", steps=1)
    with pytest.raises(TypeError, match="schedule must be None or one of"):
        fit(_mlps([0]), X, y, optimizer=SGD(0.1), steps=1, schedule="cosine")
    with pytest.raises(TypeError, match="progress must be None, a Progress"):
        fit(_mlps([0]), X, y, optimizer=SGD(0.1), steps=1, progress=3)


def test_a_loss_of_ones_own_keeps_the_accuracies_when_asked():
    X, y = _data()

    def float64_cross_entropy(out, target):
        return torch.nn.functional.cross_entropy(out.double(), target)

    history = fit(_mlps([0]), X, y, optimizer=SGD(0.1), steps=2, loss=float64_cross_entropy,
                  accuracy=True)  # fmt: skip
    assert "train_accuracy" in history and 0 <= float(history.train_accuracy.max()) <= 1
    plain = fit(_mlps([0]), X, y, optimizer=SGD(0.1), steps=2, loss=float64_cross_entropy)
    assert "train_accuracy" not in plain


@pytest.mark.parametrize("optimizer", [AdamW(1e-2, weight_decay=0.1), SGD(0.1, momentum=0.9)])
@pytest.mark.parametrize("vectorize", [True, False])
def test_until_stops_each_run_at_its_own_step(vectorize, optimizer):
    """The survivors of a vectorized batch carry their momenta when stopped runs leave it:
    each run ends where it would have alone (float64, so 1e-12 is rounding)."""
    X, y = _data()
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


# --------------------------------------------------------------------------------------------
# Optimizer objects


def test_one_adamw_step_is_the_update_by_hand():
    """AdamW's first step: m̂ = g, v̂ = g², so θ ← θ(1 − lr·λ) − lr·g/(|g| + eps)."""
    torch.manual_seed(1)
    model = nn.Linear(3, 1, bias=False).double()
    before = model.weight.detach().clone()
    X, y = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    (grad,) = torch.autograd.grad(((model(X).squeeze(-1) - y) ** 2).mean(), [model.weight])
    lr, decay, eps = 0.01, 0.5, 1e-3
    fit(model, X, y, optimizer=AdamW(lr, eps=eps, weight_decay=decay), steps=1, loss="mse")
    expected = before * (1 - lr * decay) - lr * grad / (grad.abs() + eps)
    torch.testing.assert_close(model.weight.detach(), expected, rtol=0, atol=1e-15)


def test_optimizers_build_torchs_and_record_their_settings():
    params = [nn.Parameter(torch.zeros(2))]
    nesterov = SGD(0.1, momentum=0.9, nesterov=True, weight_decay=1e-4).build([{"params": params}])
    assert isinstance(nesterov, torch.optim.SGD)
    assert nesterov.defaults["nesterov"] and nesterov.defaults["momentum"] == 0.9
    adamw = AdamW(1e-3, betas=[0.9, 0.98], weight_decay=1.0)
    assert adamw.betas == (0.9, 0.98)  # a list is kept as a tuple
    assert adamw.build([{"params": params}]).defaults["betas"] == (0.9, 0.98)
    assert SGD(0.05).attrs() == {
        "optimizer": "sgd", "lr": 0.05, "momentum": 0.0, "weight_decay": 0.0
    }  # fmt: skip
    assert SGD(0.05, momentum=0.5, nesterov=True).attrs()["nesterov"] == 1
    assert "momentum" not in adamw.attrs() and adamw.attrs()["betas"] == [0.9, 0.98]
    X, y = _data()
    history = fit(_mlps([0]), X, y, optimizer=adamw, steps=2, schedule=LinearWarmUp(2))
    assert history.attrs["optimizer"] == "adamw" and history.attrs["weight_decay"] == 1.0
    assert history.attrs["lr_schedule"] == "LinearWarmUp(length=2, unit='step')"


def test_optimizer_named_maps_names_at_the_edge():
    assert optimizer_named("sgd", lr=0.1, momentum=0.9) == SGD(0.1, momentum=0.9)
    assert optimizer_named("adamw", lr=1e-3, betas=(0.9, 0.98)) == AdamW(1e-3, betas=(0.9, 0.98))
    with pytest.raises(ValueError, match=r"^optimizer must be one of sgd, adamw, got 'adam'"):
        optimizer_named("adam", lr=0.1)
    with pytest.raises(ValueError, match=r"^momentum applies to optimizer 'sgd' only"):
        optimizer_named("adamw", lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"^nesterov applies to optimizer 'sgd' only"):
        optimizer_named("adamw", lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"^betas applies to optimizer 'adamw' only"):
        optimizer_named("sgd", lr=0.1, betas=(0.9, 0.9))
    with pytest.raises(ValueError, match=r"^dampening is not an option"):
        optimizer_named("sgd", lr=0.1, dampening=0.1)
    with pytest.raises(ValueError, match="needs a learning rate"):
        optimizer_named("sgd", momentum=0.9)


@pytest.mark.parametrize(
    "build, kind, message",
    [
        (lambda: SGD(True), TypeError, r"^lr must be a finite number > 0, got True"),
        (lambda: SGD(0.0), ValueError, r"^lr must be a finite number > 0"),
        (lambda: SGD("0.1"), TypeError, r"^lr must be a real number"),
        (lambda: SGD(float("inf")), ValueError, r"^lr must be a finite number"),
        (lambda: SGD(0.1, momentum=1.0), ValueError, r"^momentum must be a number in \[0, 1\)"),
        (lambda: SGD(0.1, momentum=-0.1), ValueError, r"^momentum"),
        (lambda: SGD(0.1, nesterov=True), ValueError, r"^nesterov=True needs momentum > 0"),
        (lambda: SGD(0.1, momentum=0.9, nesterov=1), TypeError, r"^nesterov must be True or"),
        (lambda: SGD(0.1, weight_decay=-1e-3), ValueError, r"^weight_decay must be"),
        (lambda: SGD(0.1, weight_decay=True), TypeError, r"^weight_decay must be"),
        (lambda: SGD(0.1, 0.9), TypeError, r"positional argument"),  # options are keywords
        (lambda: AdamW(np.True_), TypeError, r"^lr must be"),
        (lambda: AdamW(1e-3, betas=(0.9, 1.5)), ValueError, r"^betas must be a number in \[0"),
        (lambda: AdamW(1e-3, betas=(0.9,)), ValueError, r"^betas must be two numbers"),
        (lambda: AdamW(1e-3, eps=0.0), ValueError, r"^eps must be a finite number > 0"),
        (lambda: AdamW(1e-3, momentum=0.9), TypeError, r"'momentum'"),  # AdamW has none
    ],
)
def test_bad_optimizer_options_are_refused_by_name(build, kind, message):
    with pytest.raises(kind, match=message):
        build()


def test_the_old_optimizer_class_builds_the_new_objects_and_warns():
    with pytest.warns(DeprecationWarning, match=r"use richlazy\.nn\.SGD"):
        old = Optimizer("sgd", lr=0.1, momentum=0.9, weight_decay=1e-3)
    assert old == SGD(0.1, momentum=0.9, weight_decay=1e-3)
    with pytest.warns(DeprecationWarning):
        old = Optimizer("adamw", 1e-3, momentum=0.9, betas=(0.9, 0.98))  # momentum: ignored
    assert old == AdamW(1e-3, betas=(0.9, 0.98))
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match=r"^kind must be one"):
        Optimizer("adam")
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match=r"^momentum"):
        Optimizer(momentum=1.0)
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match=r"^lr must be"):
        Optimizer(lr=True)


# --------------------------------------------------------------------------------------------
# Learning-rate schedules


def test_schedules_give_the_rates_computed_by_hand():
    cosine = CosineAnnealing(8)
    factors = [cosine.factor(t) for t in (0, 2, 4, 6, 8, 12, 16)]
    half = 0.5 + 0.5 * np.sqrt(0.5)  # (1 + cos(π/4))/2
    np.testing.assert_allclose(factors, [1, half, 0.5, 1 - half, 0, 0.5, 1], rtol=0, atol=1e-15)
    floor = CosineAnnealing(8, minimum=0.2)
    assert floor.factor(8) == pytest.approx(0.2, abs=1e-15)
    assert floor.factor(4) == pytest.approx(0.6, abs=1e-15)
    warm = LinearWarmUp(10)
    assert [warm.factor(t) for t in range(12)] == pytest.approx(
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.0, 1.0], abs=1e-15
    )
    assert LinearWarmUp(1).factor(0) == 1.0
    dawn = PiecewiseLinear(((0, 0.0), (5, 0.4), (24, 0.0)))
    assert [dawn.factor(t) for t in (0, 2.5, 5, 14.5, 24, 30)] == pytest.approx(
        [0.0, 0.2, 0.4, 0.2, 0.0, 0.0], abs=1e-15
    )
    assert PiecewiseLinear(((2, 0.5), (4, 1.0))).factor(0) == 0.5  # before the first knot
    assert Constant().factor(123) == 1.0


def _torch_rates(make_scheduler, updates: int) -> list[float]:
    """The rate torch's scheduler gives each of ``updates`` updates (base rate 1)."""
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = make_scheduler(optimizer)
    rates = []
    for _ in range(updates):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize("T_max", [8, 5.6, 200.0])  # 5.6 and 200: 80% of 7 and of 250 epochs
def test_cosine_annealing_follows_torchs_scheduler_after_T_max_too(T_max):
    """torch's CosineAnnealingLR updates its rate recursively, so the two differ by rounding
    only: 1e-12 is ~1e4 ulp of rates of order 1 over 2.5·T_max recursive steps."""
    cosine = CosineAnnealing(T_max)
    updates = int(2.5 * T_max) + 1  # past T_max, and past 2·T_max, where it is back up to 1
    expected = _torch_rates(
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=T_max), updates
    )
    ours = [cosine.factor(t) for t in range(updates)]
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12)
    after = [cosine.factor(t) for t in range(int(T_max) + 1, min(updates, int(2 * T_max)))]
    assert np.all(np.diff(after) > 0)  # after T_max the rate climbs back


def test_linear_warm_up_is_torchs_linear_lr():
    expected = _torch_rates(
        lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=9), 15
    )
    warm = LinearWarmUp(10)
    np.testing.assert_allclose([warm.factor(t) for t in range(15)], expected, rtol=0, atol=1e-14)


@pytest.mark.parametrize("unit", ["step", "epoch"])
def test_fit_applies_the_schedule_before_each_update(unit):
    """Plain SGD on one repeated point, so that every minibatch has the same gradient: the
    weight after each update is computed by hand with rate lr·factor(t), t the update or its
    epoch (4 points in batches of 2: 2 updates per epoch)."""
    schedule = PiecewiseLinear(((0, 0.25), (3, 1.0), (5, 0.5)), unit=unit)
    x = torch.tensor([[1.0, -2.0]], dtype=torch.float64).repeat(4, 1)  # (4, 2)
    y = torch.full((4,), 0.5, dtype=torch.float64)
    model = nn.Linear(2, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.3, 0.1]]))
    w = model.weight.detach().clone()
    history = fit(model, x, y, optimizer=SGD(0.05), steps=7, batch_size=2, loss="mse",
                  schedule=schedule, eval_steps=[0, 7])  # fmt: skip
    for update in range(7):
        t = update if unit == "step" else update // 2
        grad = 2 * ((x[:1] @ w.T).squeeze() - 0.5) * x[:1]  # (1, 2): d/dw (w·x − y)²
        w = w - 0.05 * schedule.factor(t) * grad
    torch.testing.assert_close(model.weight.detach(), w, rtol=0, atol=1e-15)
    assert history.attrs["steps_per_epoch"] == 2


CASES = [  # each schedule with one optimizer (both optimizers appear with both units)
    (CosineAnnealing(10), SGD(0.2, momentum=0.9)),
    (CosineAnnealing(2.4, minimum=0.1, unit="epoch"), AdamW(2e-2, weight_decay=0.1)),
    (LinearWarmUp(10), AdamW(2e-2)),
    (PiecewiseLinear(((0, 0.0), (5, 1.0), (15, 0.1))), SGD(0.2, momentum=0.9, nesterov=True)),
    (Constant(unit="epoch"), SGD(0.2, weight_decay=1e-2)),
]


@pytest.mark.parametrize("schedule, optimizer", CASES, ids=lambda c: type(c).__name__)
def test_both_paths_agree_under_every_schedule(schedule, optimizer):
    y = _data()[1]
    per_run = [_data(seed)[0] for seed in (1, 2, 3)]
    options = {"steps": 15, "batch_size": 8, "seed": [4, 5, 6], "eval_steps": [0, 15],
               "lr_scales": {"layers.0.weight": 0.5}}  # fmt: skip
    runs = {}
    for vectorize in (True, False):
        models = _mlps([0, 1, 2])
        fit(models, per_run, y, optimizer=optimizer, schedule=schedule, vectorize=vectorize,
            **options)  # fmt: skip
        runs[vectorize] = models
    assert _max_difference(runs[True], runs[False]) < 1e-12  # float64, the same arithmetic
    plain = _mlps([0, 1, 2])
    fit(plain, per_run, y, optimizer=optimizer, **options)
    moved = _max_difference(runs[True], plain)
    assert (moved == 0) if isinstance(schedule, Constant) else (moved > 1e-6)


@pytest.mark.parametrize(
    "build, kind, message",
    [
        (lambda: CosineAnnealing(0), ValueError, r"^T_max must be > 0"),
        (lambda: CosineAnnealing(True), TypeError, r"^T_max must be a number"),
        (lambda: CosineAnnealing(10, minimum=-0.1), ValueError, r"^minimum must be ≥ 0"),
        (lambda: CosineAnnealing(10, unit="batch"), ValueError, r"^unit must be one of step"),
        (lambda: LinearWarmUp(0), ValueError, r"^length"),
        (lambda: LinearWarmUp(2.5), ValueError, r"^length"),
        (lambda: LinearWarmUp(True), TypeError, r"^length must be a positive integer"),
        (lambda: PiecewiseLinear(()), ValueError, r"^knots must be a non-empty"),
        (lambda: PiecewiseLinear("01"), TypeError, r"^knots must be a non-empty"),
        (lambda: PiecewiseLinear(((0, 1), (0, 2))), ValueError, r"^knots: times must be strictly"),
        (lambda: PiecewiseLinear(((-1, 1),)), ValueError, r"^knots: times must be ≥ 0"),
        (lambda: PiecewiseLinear(((0, -1),)), ValueError, r"^knots: factors must be ≥ 0"),
        (lambda: PiecewiseLinear(((0, 1, 2),)), ValueError, r"^knots must be a non-empty"),
        (lambda: Constant(unit=None), ValueError, r"^unit must be one of"),
    ],
)
def test_bad_schedules_are_refused_by_name(build, kind, message):
    with pytest.raises(kind, match=message):
        build()


def test_fit_reports_progress_to_a_callable_or_a_progress():
    from richlazy.runtime import SilentProgress

    counts = []
    X, y = _data()
    fit(_mlps([0]), X, y, optimizer=SGD(0.1), steps=30, eval_steps=[0, 7, 30],
        progress=counts.append)  # fmt: skip
    assert counts == [7, 23]
    history = fit(_mlps([0]), X, y, optimizer=SGD(0.1), steps=3, progress=SilentProgress())
    assert history.step.values[-1] == 3


def test_the_guides_training_loop_example_runs(capsys):
    from pathlib import Path

    guide = Path(__file__).resolve().parents[1] / "docs" / "nn.md"
    section = guide.read_text().split("## Training loop", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert "SGD(" in code and "schedule=" in code
    exec(compile(code, str(guide), "exec"), {"__name__": "guide"})
    assert len(capsys.readouterr().out.split()) >= 3  # one accuracy per run


def _dropout_mlps(seeds):
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(nn.Sequential(nn.Linear(6, 8), nn.Dropout(0.5), nn.ReLU(),
                                    nn.Linear(8, 3)).double())  # fmt: skip
    return models


def _tied_mlps(seeds):
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 6), nn.ReLU(),
                              nn.Linear(6, 3)).double()  # fmt: skip
        model[2].weight = model[0].weight  # tied
        models.append(model)
    return models


@pytest.mark.parametrize("make", [_dropout_mlps, _tied_mlps])
def test_dropout_and_tied_models_train_one_after_the_other(make):
    """The sequential path, as if each model were trained alone (same dropout draws)."""
    X, y = _data()
    models = make([0, 1])
    history = fit(models, X, y, optimizer=SGD(0.1), steps=3, seed=[4, 5])
    assert history.attrs["vectorized"] == 0
    for r, seed in enumerate((4, 5)):
        alone = make([r])
        torch.manual_seed(0)
        fit(alone, X, y, optimizer=SGD(0.1), steps=3, seed=seed)
    with pytest.raises(ValueError, match=r"vectorize=True: these models (draw random|have tied)"):
        fit(make([0, 1]), X, y, optimizer=SGD(0.1), steps=1, vectorize=True)
    if make is _tied_mlps:  # deterministic: each run equals its run alone, bitwise in float64
        alone = make([0])
        fit(alone, X, y, optimizer=SGD(0.1), steps=3, seed=4)
        assert _max_difference(alone, models[:1]) == 0
    assert bool(np.isfinite(history.train_loss).all())


def test_evaluate_may_not_return_what_fit_measures():
    X, y = _data()
    for name in ("train_loss", "test_accuracy", "epoch", "step"):
        with pytest.raises(ValueError, match=rf"evaluate returned the name '{name}'"):
            fit(_mlps([0]), X, y, optimizer=SGD(0.1), steps=1,
                evaluate=lambda s, r, m, name=name: {name: 1.0})  # fmt: skip
    with pytest.raises(TypeError, match=r"evaluate must return a mapping"):
        fit(_mlps([0]), X, y, optimizer=SGD(0.1), steps=1, evaluate=lambda s, r, m: 1.0)


@pytest.mark.parametrize(
    "change, error, message",
    [
        ({"y_train": torch.zeros(40)}, TypeError, r"y_train must be integer class labels of "
                                                   r"shape \(N,\) for the cross-entropy loss"),
        ({"y_train": torch.zeros(40, 1, dtype=torch.long)}, TypeError, r"y_train must be integer"),
        ({"y_train": torch.full((40,), -1)}, ValueError, r"y_train must hold class labels ≥ 0"),
        ({"y_train": torch.full((40,), 3)}, ValueError,
         r"y_train must hold class labels in \[0, 3\) for outputs of shape \(40, 3\), got "
         r"labels up to 3"),
        ({"x_test": torch.zeros(2, 6, dtype=torch.float64), "y_test": torch.tensor([0, 7])},
         ValueError, r"y_test must hold class labels in \[0, 3\)"),
        ({"x_train": torch.zeros(40, 6)}, TypeError,
         r"x_train is torch.float32, the models are torch.float64"),
        ({"x_train": torch.zeros(40, 6, dtype=torch.complex128)}, TypeError,
         r"x_train must be a real tensor"),
        ({"loss": "mse"}, TypeError, r"y_train must be float targets for the mse loss"),
        ({"loss": "mse", "y_train": torch.zeros(40, 2, dtype=torch.float64)}, ValueError,
         r"y_train must have the outputs' shape \(40, 3\) for the mse loss, got \(40, 2\)"),
        ({"lr_scales": {"layers.0.weight": True}}, TypeError,
         r"lr_scales\['layers.0.weight'\] must be a real number, got bool"),
        ({"vectorize": "yes"}, TypeError, r"vectorize must be True, False or None"),
    ],
)  # fmt: skip
def test_labels_dtypes_and_options_are_checked_by_name(change, error, message):
    X, y = _data()
    arguments = {"x_train": X, "y_train": y, "optimizer": SGD(0.1), "steps": 2} | change
    models = _mlps([0, 1])
    before = [p.detach().clone() for p in models[0].parameters()]
    with pytest.raises(error, match=message):
        fit(models, **arguments)
    assert all(torch.equal(p, q) for p, q in zip(models[0].parameters(), before, strict=True))


def test_wrapped_models_train_their_own_tensors_with_lr_scales_of_their_geometry():
    from richlazy.nn import unbalance

    X, y = _data()
    plain, wrapped = _mlps([0]), _mlps([0])
    geometry = unbalance(wrapped[0], 2.0, lr_scales={"layers.0": 0.5})
    unbalance(plain[0], 2.0)
    fit(plain, X, y, optimizer=SGD(0.1), steps=3, lr_scales={"layers.0.weight": 0.5})
    fit([nn.DataParallel(wrapped[0])], X, y, optimizer=SGD(0.1), steps=3,
        lr_scales=geometry.lr_scales)  # fmt: skip
    assert _max_difference(plain, wrapped) == 0
    fit([torch.compile(wrapped[0])], X, y, optimizer=SGD(0.1), steps=1,
        lr_scales={"_orig_mod.layers.0": 0.5})  # fmt: skip
    ddp = nn.parallel.DistributedDataParallel.__new__(nn.parallel.DistributedDataParallel)
    with pytest.raises(TypeError, match=r"models: fit's steps would bypass "
                                        r"DistributedDataParallel.*pass model.module"):  # fmt: skip
        fit([ddp], X, y, optimizer=SGD(0.1), steps=1)
