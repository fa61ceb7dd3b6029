"""A small seeded training loop for ``torch.nn.Module``s, shared by the Section 5 experiments
(docs/theory.md §6.3, docs/nn.md "Training loop").

``fit`` trains R models of one architecture (R seeds, or R values of α) with an optimizer object
(``SGD``, ``AdamW``: ``richlazy.nn.optimizers``) and optionally a learning-rate schedule
(``richlazy.nn.schedules``), on minibatches in a seeded order reshuffled every epoch, and measures
them on a schedule: losses and accuracies on the training and test sets plus whatever the
caller's ``evaluate`` returns. Two paths give the same result up to float rounding:

- vectorized: the R models' parameters stacked into (R, ...) tensors
  (``torch.func.stack_module_state``) and one ``vmap``-ed forward for all of them; the loss is the
  sum of the R runs' losses, so each slice receives its own run's gradient, and SGD and AdamW act
  coordinate by coordinate, so one optimizer over the stacked tensors is R independent ones;
- sequential: one model after the other, each with its own optimizer (models whose buffers change
  in training, such as BatchNorm's running statistics, take this path).

The models' initialization is the caller's (seeded) work; ``seed`` orders only the minibatches.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, get_args

import numpy as np
import torch
import xarray as xr
from torch import nn
from torch.nn import functional

import richlazy._validate as check
from richlazy._validate import require
from richlazy.nn import _checks, _names
from richlazy.nn.optimizers import OPTIMIZERS, SGD, AdamW, Optimizer
from richlazy.nn.schedules import Schedule
from richlazy.runtime import Progress, log_schedule, progress_task

# OPTIMIZERS and Optimizer live in richlazy.nn.optimizers; they are kept here under their old path.
__all__ = ["LOSSES", "OPTIMIZERS", "Loss", "Optimizer", "fit"]

Loss = Literal["cross_entropy", "mse"]
LOSSES: tuple[str, ...] = get_args(Loss)
# Points evaluated per forward pass when measuring a whole split (bounds the memory of evaluation).
EVAL_CHUNK = 4096
# The variables fit measures itself: an ``evaluate`` may not return these names.
MEASURED = ("train_loss", "test_loss", "train_accuracy", "test_accuracy", "stopped_step",
            "epoch", "run", "step")  # fmt: skip

Tensors = torch.Tensor | Sequence[torch.Tensor]
Evaluate = Callable[[int, int, nn.Module], Mapping[str, Any]]


def fit(
    models: nn.Module | Sequence[nn.Module],
    x_train: Tensors,
    y_train: Tensors,
    *,
    optimizer: SGD | AdamW,
    schedule: Schedule | None = None,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    seed: int | Sequence[int] = 0,
    loss: Loss | Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = "cross_entropy",
    accuracy: bool | None = None,
    eval_steps: Sequence[int] | None = None,
    x_test: Tensors | None = None,
    y_test: Tensors | None = None,
    evaluate: Evaluate | None = None,
    until: Callable[[xr.Dataset], Any] | None = None,
    lr_scales: Mapping[str, float] | None = None,
    vectorize: bool | None = None,
    progress: Progress | Callable[[int], None] | None = None,
) -> xr.Dataset:
    """Train ``models`` in place and return what was measured on the way.

    Args:
        models: one module, or R modules with the same parameter names and shapes.
        x_train, y_train: the training set, one tensor each shared by every run, or sequences of
            R tensors (one dataset per run, all of the same size).
        optimizer: ``SGD(lr, ...)`` or ``AdamW(lr, ...)`` (``richlazy.nn.optimizers``).
        schedule: the learning rate in time, a factor of every base rate applied before each
            update (``Constant``, ``CosineAnnealing``, ``LinearWarmUp``, ``PiecewiseLinear``:
            ``richlazy.nn.schedules``, per update or per epoch); None keeps the base rates.
        steps, epochs: the length of training, exactly one of them (an epoch is
            ⌈n / batch_size⌉ steps).
        batch_size: minibatch size; None trains on the full batch.
        seed: the minibatch order's seed, one for all runs or one per run (runs given the same
            seed see the same order).
        loss: "cross_entropy" (integer labels (N,)), "mse" (float targets shaped like the
            output), or a function (output, target) -> scalar of one run.
        accuracy: record ``train_accuracy``/``test_accuracy`` (the argmax of the outputs
            against integer labels); default: with the cross-entropy loss only.
        eval_steps: the steps (0 = before training) at which to measure; default a log
            schedule (10 per decade). The last step is always measured.
        x_test, y_test: a test set, shared or per run like the training set.
        evaluate: ``evaluate(step, run, model)`` -> more variables (numbers, arrays or
            DataArrays), called at every measured step with the model holding that step's
            parameters, in eval mode (gradients stay enabled: an empirical NTK needs them).
        until: ``until(history so far)`` -> one bool for all runs, or one per run: after each
            measurement, the runs it flags stop (their parameters stay as they are, and later
            measurements repeat them); training ends when every run has stopped.
        lr_scales: per parameter name, a factor of ``optimizer.lr`` (e.g.
            ``InitGeometry.lr_scales`` from ``richlazy.nn.unbalance``); others get 1.
        vectorize: train all runs as one vmapped batch (True), one after the other (False), or
            vectorized when the models allow it (None).
        progress: a ``richlazy.runtime.Progress`` (the CLI's progress bars; one task counting
            steps is opened), a callable ``advance(n)`` given the steps as they finish, or None.

    Returns:
        Dataset with dims (run, step): ``train_loss``, ``test_loss`` (with a test set),
        ``train_accuracy``/``test_accuracy`` (see ``accuracy``), the ``evaluate`` variables, and
        the coordinate ``epoch`` (steps over steps per epoch), and with ``until``,
        ``stopped_step`` (run,): the step at which each run stopped, −1 if it trained to the end.
        Its attrs hold the optimizer's settings (``SGD.attrs``, ``AdamW.attrs``), the schedule
        (``lr_schedule``, its repr, when one is given), the batch size and steps per epoch.

    Raises:
        ValueError, TypeError: bad models, data, schedule, seeds or options (naming them).
    """
    models = _models(models)
    R = len(models)
    x_train, y_train = _split("x_train", x_train, R), _split("y_train", y_train, R)
    _paired("train", x_train, y_train)
    test = None
    if (x_test is None) != (y_test is None):
        raise ValueError("x_test and y_test go together: give both or neither")
    if x_test is not None:
        test = (_split("x_test", x_test, R), _split("y_test", y_test, R))
        _paired("test", *test)
    n = x_train[0].shape[0]
    require(
        all(x.shape[0] == n for x in x_train),
        "x_train: every run's training set must have the same size",
    )
    if batch_size is not None:
        batch_size = check.positive_integer("batch_size", batch_size, maximum=n)
    batch = n if batch_size is None else batch_size
    per_epoch = math.ceil(n / batch)
    total = _total_steps(steps, epochs, per_epoch)
    measured_at = _eval_steps(eval_steps, total)
    seeds = _seeds(seed, R)
    loss_fn = _loss(loss)
    classify = loss == "cross_entropy" if accuracy is None else bool(accuracy)
    splits = [("train", x_train, y_train)] + ([("test", *test)] if test is not None else [])
    for split, xs, ys in splits:
        _inputs(f"x_{split}", xs, models[0])
        _targets(f"y_{split}", ys, loss, classify)
    scales = _lr_scales(lr_scales, models[0])
    if not isinstance(optimizer, SGD | AdamW):
        raise TypeError(
            f"optimizer must be richlazy.nn.SGD(lr, ...) or richlazy.nn.AdamW(lr, ...), "
            f"got {optimizer!r}"
        )
    if schedule is not None and not isinstance(schedule, Schedule):
        raise TypeError(
            "schedule must be None or one of richlazy.nn.schedules' Constant, CosineAnnealing, "
            f"LinearWarmUp, PiecewiseLinear, got {schedule!r}"
        )
    if vectorize is not None and not isinstance(vectorize, bool):
        raise TypeError(f"vectorize must be True, False or None, got {vectorize!r}")
    obstacle = _vectorize_obstacle(models[0])
    if vectorize is None:
        vectorize = R > 1 and obstacle is None
    require(
        not vectorize or obstacle is None,
        f"vectorize=True: these models {obstacle}; train them with vectorize=False (or None, "
        "which chooses it)",
    )
    trainer = (_Vectorized if vectorize else _Sequential)(models, optimizer, scales, loss_fn)
    orders = [_Batches(n, batch, s, x_train[0].device) for s in seeds]

    record = _Record(R)
    measure = _Measure(trainer, x_train, y_train, test, loss_fn, classify, evaluate, loss)
    with progress_task(progress, f"training {R} run(s)", total) as advance:
        record.add(0, measure(0))
        done = 0
        stopped = np.full(R, -1, dtype=np.int64)  # the step each run stopped at; -1: running
        for target in measured_at[1:]:
            if until is not None:
                flags = _stop_flags(until(record.dataset(per_epoch)), R)
                stopped[flags & (stopped < 0)] = record.steps[-1]
                if (stopped >= 0).all():
                    break
                trainer.freeze(stopped >= 0)
            while done < target:
                if schedule is not None:
                    time = done if schedule.unit == "step" else done // per_epoch
                    trainer.scale_rates(schedule.factor(time))
                index = [order.next() for order in orders]  # R × (B,)
                trainer.step(_batch(x_train, index), _batch(y_train, index))
                done += 1
            if advance is not None:
                advance(target - record.steps[-1])
            record.add(target, measure(target))
    trainer.write_back()
    history = record.dataset(per_epoch)
    if until is not None:
        history["stopped_step"] = ("run", stopped)
    return history.assign_attrs(
        **optimizer.attrs(),
        **({"lr_schedule": repr(schedule)} if schedule is not None else {}),
        batch_size=batch,
        steps_per_epoch=per_epoch,
        vectorized=int(bool(vectorize)),
    )


# ---------------------------------------------------------------------------------------------
# Checks of fit's arguments


def _models(models) -> list[nn.Module]:
    if isinstance(models, nn.Module):
        models = [models]
    if not isinstance(models, Sequence) or not models:
        raise TypeError("models must be an nn.Module or a non-empty sequence of them")
    for model in models:
        if not isinstance(model, nn.Module):
            raise TypeError(f"models must hold nn.Modules, got {type(model).__name__}")
        if isinstance(model, nn.parallel.DistributedDataParallel):
            raise TypeError(
                "models: fit's steps would bypass DistributedDataParallel's gradient "
                "synchronisation; pass model.module (fit trains in one process) or train the "
                "DDP model with your own loop"
            )
    models = [_checks.unwrap(m) for m in models]  # DataParallel, torch.compile: same tensors
    shapes = [{k: tuple(p.shape) for k, p in m.named_parameters()} for m in models]
    require(
        all(s == shapes[0] for s in shapes),
        "models must share one architecture (the same parameter names and shapes)",
    )
    require(bool(shapes[0]), "models have no parameters to train")
    return models


def _inputs(name: str, xs: list[torch.Tensor], model: nn.Module) -> None:
    """Inputs the models take: real, on the models' device, floats in the models' dtype."""
    param = next(iter(model.parameters()))
    for x in xs:
        if x.is_complex() or x.dtype == torch.bool:
            raise TypeError(f"{name} must be a real tensor (floats or integer ids), got {x.dtype}")
        if x.device != param.device:
            raise ValueError(f"{name} is on {x.device}; the models are on {param.device}")
        if x.is_floating_point() and x.dtype != param.dtype:
            raise TypeError(
                f"{name} is {x.dtype}, the models are {param.dtype}: convert one to the other"
            )


def _targets(name: str, ys: list[torch.Tensor], loss, classify: bool) -> None:
    """Labels for cross-entropy and accuracy (integers ≥ 0, (N,)), float targets for mse."""
    for y in ys:
        if y.is_complex():
            raise TypeError(f"{name} must be real, got {y.dtype}")
        if loss == "cross_entropy" or classify:
            if y.is_floating_point() or y.dtype == torch.bool or y.ndim != 1:
                raise TypeError(
                    f"{name} must be integer class labels of shape (N,) for "
                    f"{'the cross-entropy loss' if loss == 'cross_entropy' else 'accuracy'}, "
                    f"got {y.dtype} of shape {tuple(y.shape)}"
                )
            if y.numel() and int(y.min()) < 0:
                raise ValueError(f"{name} must hold class labels ≥ 0, got {int(y.min())}")
        elif loss == "mse" and not y.is_floating_point():
            raise TypeError(f"{name} must be float targets for the mse loss, got {y.dtype}")


def _split(name: str, data, R: int) -> list[torch.Tensor]:
    if isinstance(data, torch.Tensor):
        require(data.ndim >= 1, f"{name} must have a leading sample dimension")
        return [data] * R
    if isinstance(data, Sequence) and all(isinstance(d, torch.Tensor) for d in data):
        require(
            len(data) == R, f"{name}: one tensor per run expected ({R}), got {len(data)} tensors"
        )
        return list(data)
    raise TypeError(f"{name} must be a tensor or a sequence of one tensor per run")


def _paired(split: str, xs, ys) -> None:
    for x, y in zip(xs, ys, strict=True):
        require(
            x.shape[0] == y.shape[0] and x.shape[0] > 0,
            f"x_{split} and y_{split} must hold the same positive number of samples, "
            f"got {x.shape[0]} and {y.shape[0]}",
        )


def _total_steps(steps, epochs, per_epoch: int) -> int:
    require((steps is None) != (epochs is None), "give exactly one of steps and epochs, not both")
    if steps is not None:
        return check.step_count("steps", steps)
    return check.step_count("epochs", epochs) * per_epoch


def _eval_steps(eval_steps, total: int) -> list[int]:
    if eval_steps is None:
        return log_schedule(total, per_decade=10).tolist()
    values = check.strictly_increasing("eval_steps", eval_steps)
    require(
        values[0] >= 0 and values[-1] <= total and np.all(values == np.round(values)),
        f"eval_steps must be whole steps in [0, {total}], got {list(eval_steps)}",
    )
    points = [int(v) for v in values]
    return sorted({0, *points, total})


def _seeds(seed, R: int) -> list[int]:
    if isinstance(seed, Sequence):  # runs may share a seed (the same minibatch order)
        seeds = [check.seeds(f"seed[{i}]", (s,))[0] for i, s in enumerate(seed)]
        require(len(seeds) == R, f"seed: one per run expected ({R}), got {len(seeds)}")
        return seeds
    return list(check.seeds("seed", (seed,))) * R


def _loss(loss):
    if callable(loss):
        return loss
    if loss == "cross_entropy":
        return lambda out, y: functional.cross_entropy(out, y)
    if loss == "mse":
        return lambda out, y: ((out.reshape(y.shape) - y) ** 2).mean()
    raise ValueError(f"loss must be one of {', '.join(LOSSES)} or a function, got {loss!r}")


def _stop_flags(flags, R: int) -> np.ndarray:
    """``until``'s answer as R bools (one answer stands for every run)."""
    flags = np.asarray(flags.values if isinstance(flags, xr.DataArray) else flags)
    require(
        flags.dtype == bool and flags.shape in ((), (R,)),
        f"until must return one bool or one per run ({R}), got {flags!r}",
    )
    return np.broadcast_to(flags, (R,)).copy()


def _lr_scales(lr_scales, model: nn.Module) -> dict[str, float]:
    """``{name in model.named_parameters(): factor}``; keys as ``unbalance``'s (names, module
    names, globs, wrapper prefixes dropped: ``InitGeometry.lr_scales`` fits)."""
    entries = _names.parameters(model)
    chosen = _names.assign("lr_scales", _checks.factors("lr_scales", lr_scales), entries)
    raw = {e.param: e.name for e in entries}
    return {name: chosen.get(raw[p], 1.0) for name, p in model.named_parameters()}


def _vectorize_obstacle(model: nn.Module) -> str | None:
    """Why vmap cannot train the model as the sequential path does, or None: buffers that
    training mutates, random operations (dropout) or tied parameters."""
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._NormBase) and m.track_running_stats:
            return f"have buffers that change in training ({type(m).__name__} {name!r})"
        if (isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0) or (
            isinstance(m, nn.MultiheadAttention) and m.dropout > 0
        ):
            return f"draw random numbers in training ({type(m).__name__} {name!r})"
    every = len(list(model.named_parameters(remove_duplicate=False)))
    if every != len(list(model.parameters())):
        return "have tied parameters (one tensor under several names)"
    return None


# ---------------------------------------------------------------------------------------------
# Minibatches


class _Batches:
    """One run's minibatch indices: a seeded permutation per epoch, cut into batches."""

    def __init__(self, n: int, batch: int, seed: int, device):
        self.n, self.batch, self.device = n, batch, device
        self.generator = torch.Generator().manual_seed(seed)
        self.order, self.start = None, n

    def next(self) -> torch.Tensor | None:
        if self.batch == self.n:
            return None  # full batch: no indexing
        if self.start >= self.n:
            self.order = torch.randperm(self.n, generator=self.generator).to(self.device)
            self.start = 0
        index = self.order[self.start : self.start + self.batch]  # (B,)
        self.start += self.batch
        return index


def _batch(data: list[torch.Tensor], index: list[torch.Tensor | None]) -> list[torch.Tensor]:
    return [d if i is None else d[i] for d, i in zip(data, index, strict=True)]


# ---------------------------------------------------------------------------------------------
# The two ways of training R models


def _groups(named: Mapping[str, torch.Tensor], scales: Mapping[str, float], lr: float):
    return [{"params": [p], "lr": lr * scales[name]} for name, p in named.items()]


def _scale(optimizer: torch.optim.Optimizer, bases: list[float], factor: float) -> None:
    """Set each parameter group's rate to its base rate times ``factor``."""
    for group, base in zip(optimizer.param_groups, bases, strict=True):
        group["lr"] = base * factor


def _outputs_of(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """One model's outputs on ``x`` (N, ...) in chunks, in eval mode, without gradient."""
    model.eval()
    with torch.no_grad():
        out = torch.cat([model(c) for c in x.split(EVAL_CHUNK)])  # (N, ...)
    model.train()
    return out


class _Sequential:
    """R models, each with its own optimizer, stepped one after the other."""

    def __init__(self, models, optimizer: SGD | AdamW, scales, loss_fn):
        self.models, self.loss_fn = models, loss_fn
        self.optimizers = [
            optimizer.build(_groups(dict(m.named_parameters()), scales, optimizer.lr))
            for m in models
        ]
        self.bases = [g["lr"] for g in self.optimizers[0].param_groups]  # the same for every run
        self.frozen = np.zeros(len(models), dtype=bool)

    def scale_rates(self, factor: float) -> None:
        """The schedule's factor for the next step: rates = base rates × ``factor``."""
        for opt in self.optimizers:
            _scale(opt, self.bases, factor)

    def freeze(self, frozen: np.ndarray) -> None:
        """Stop training the runs flagged in ``frozen`` (R,)."""
        self.frozen = frozen.copy()

    def step(self, xs, ys) -> None:
        runs = zip(self.models, self.optimizers, xs, ys, self.frozen, strict=True)
        for model, opt, x, y, frozen in runs:
            if frozen:
                continue
            model.train()
            opt.zero_grad(set_to_none=True)
            self.loss_fn(model(x), y).backward()
            opt.step()

    def outputs(self, xs) -> list[torch.Tensor]:
        """Each run's outputs on its own inputs (eval mode, no gradient)."""
        return [_outputs_of(model, x) for model, x in zip(self.models, xs, strict=True)]

    def write_back(self) -> None:
        for model in self.models:
            model.train()


class _Vectorized:
    """R models as stacked (R', ...) parameters of the R' runs still training, one vmapped
    forward, one optimizer; a run that stops leaves the batch (its model keeps its parameters)."""

    def __init__(self, models, optimizer: SGD | AdamW, scales, loss_fn):
        self.models, self.loss_fn = models, loss_fn
        self.spec, self.scales = optimizer, scales
        params, buffers = torch.func.stack_module_state(models)  # name -> (R, ...)
        self.params, self.buffers = params, buffers
        self.base = copy.deepcopy(models[0]).to("meta")
        self.optimizer = optimizer.build(_groups(params, scales, optimizer.lr))
        self.bases = [g["lr"] for g in self.optimizer.param_groups]
        self.stale = False  # whether the models lag behind the stacked parameters
        self.active = np.arange(len(models))  # the runs in the batch, in order (R',)
        # (run, id of an input) -> (the input, a stopped run's outputs on it)
        self.kept: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}

    def freeze(self, frozen: np.ndarray) -> None:
        """The runs flagged in ``frozen`` (R,) leave the batch: their models take their
        parameters, and the others' parameters and optimizer state are re-stacked without them
        (a stopped run costs nothing in later steps)."""
        leaving = frozen[self.active]  # (R',)
        if not leaving.any():
            return
        self.write_back()
        keep = torch.as_tensor(np.flatnonzero(~leaving), device=self._device())  # (R'',)
        old = self.params
        self.params = {name: p.detach()[keep].requires_grad_() for name, p in old.items()}
        self.buffers = {name: b[keep] for name, b in self.buffers.items()}
        optimizer = self.spec.build(_groups(self.params, self.scales, self.spec.lr))
        for name, p in self.params.items():
            state = self.optimizer.state.get(old[name], {})
            optimizer.state[p] = {
                k: v[keep] if torch.is_tensor(v) and v.ndim > 0 else v for k, v in state.items()
            }  # momenta (R', ...) sliced; AdamW's step count (a scalar) shared
        for group, previous in zip(
            optimizer.param_groups, self.optimizer.param_groups, strict=True
        ):
            group["lr"] = previous["lr"]
        self.optimizer = optimizer
        self.active = self.active[~leaving]

    def _device(self) -> torch.device:
        return next(iter(self.params.values())).device

    def scale_rates(self, factor: float) -> None:
        """The schedule's factor for the next step: rates = base rates × ``factor``."""
        _scale(self.optimizer, self.bases, factor)

    def _forward(self, params, buffers, x):
        return torch.func.functional_call(self.base, (params, buffers), (x,))

    def _run_loss(self, params, buffers, x, y):
        return self.loss_fn(self._forward(params, buffers, x), y)

    def _stack(self, xs: list[torch.Tensor]) -> tuple[torch.Tensor, int | None]:
        """The active runs' inputs for vmap: one shared tensor (in_dims None) or (R', ...)
        stacked ones."""
        xs = [xs[r] for r in self.active]
        if all(x is xs[0] for x in xs):
            return xs[0], None
        return torch.stack(xs), 0

    def step(self, xs, ys) -> None:
        x, x_dim = self._stack(xs)
        y, y_dim = self._stack(ys)

        self.base.train()
        losses = torch.func.vmap(self._run_loss, in_dims=(0, 0, x_dim, y_dim))(
            self.params, self.buffers, x, y
        )  # (R',)
        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()  # each slice gets its own run's gradient
        self.optimizer.step()
        self.stale = True

    def outputs(self, xs) -> list[torch.Tensor]:
        """Each run's outputs on its own inputs: the active runs' in one vmapped pass, a
        stopped run's computed once per input from its model and repeated."""
        x, x_dim = self._stack(xs)
        self.base.eval()
        forward = torch.func.vmap(self._forward, in_dims=(0, 0, x_dim))
        with torch.no_grad():
            chunks = x.split(EVAL_CHUNK, dim=0 if x_dim is None else 1)
            out = torch.cat(
                [forward(self.params, self.buffers, c) for c in chunks], dim=1
            )  # (R', N, ...)
        outs: list[torch.Tensor | None] = [None] * len(self.models)
        for r, o in zip(self.active, out.unbind(0), strict=True):
            outs[r] = o
        for r, model in enumerate(self.models):
            if outs[r] is None:  # a stopped run: its outputs on this input, once
                kept = self.kept.get((r, id(xs[r])))
                if kept is None or kept[0] is not xs[r]:  # (the id of a tensor still alive)
                    kept = self.kept[r, id(xs[r])] = (xs[r], _outputs_of(model, xs[r]))
                outs[r] = kept[1]
        return outs

    def write_back(self) -> None:
        """Copy the stacked parameters into the active runs' models."""
        if self.stale:
            with torch.no_grad():
                for i, r in enumerate(self.active):
                    for name, p in self.models[r].named_parameters():
                        p.copy_(self.params[name][i])
            self.stale = False
        for model in self.models:
            model.train()


# ---------------------------------------------------------------------------------------------
# Measurements


class _Measure:
    """The variables measured at one step, each a list of R values."""

    def __init__(self, trainer, x_train, y_train, test, loss_fn, classify, evaluate, loss):
        self.trainer, self.loss_fn, self.loss = trainer, loss_fn, loss
        self.classify, self.evaluate = classify, evaluate
        self.splits = {"train": (x_train, y_train)}
        if test is not None:
            self.splits["test"] = test

    def __call__(self, step: int) -> dict[str, list]:
        values: dict[str, list] = {}
        for split, (xs, ys) in self.splits.items():
            outs = self.trainer.outputs(xs)
            if step == 0:
                self._check_against(split, outs, ys)
            with torch.no_grad():
                values[f"{split}_loss"] = [
                    float(self.loss_fn(o, y)) for o, y in zip(outs, ys, strict=True)
                ]
                if self.classify:
                    values[f"{split}_accuracy"] = [
                        float((o.argmax(-1) == y).double().mean())
                        for o, y in zip(outs, ys, strict=True)
                    ]
        if self.evaluate is not None:
            self.trainer.write_back()
            for r, model in enumerate(self.trainer.models):
                model.eval()
                extra = self.evaluate(step, r, model)
                if not isinstance(extra, Mapping):
                    raise TypeError(
                        f"evaluate must return a mapping {{name: value}}, got "
                        f"{type(extra).__name__}"
                    )
                for name in extra:
                    if not isinstance(name, str) or name in MEASURED or name.startswith("_"):
                        raise ValueError(
                            f"evaluate returned the name {name!r}: names are strings other "
                            f"than those fit measures itself ({', '.join(MEASURED)})"
                        )
                for name, value in extra.items():
                    values.setdefault(name, [None] * len(self.trainer.models))[r] = value
                model.train()
        return values

    def _check_against(self, split: str, outs, ys) -> None:
        """Targets that fit the outputs, checked on the first measurement (before training)."""
        for out, y in zip(outs, ys, strict=True):
            if self.loss == "cross_entropy" or self.classify:
                classes = out.shape[-1] if out.ndim == 2 else None
                require(
                    classes is not None and int(y.max()) < classes,
                    f"y_{split} must hold class labels in [0, {classes}) for outputs of shape "
                    f"{tuple(out.shape)}, got labels up to {int(y.max())}",
                )
            elif self.loss == "mse":
                require(
                    out.numel() == y.numel(),
                    f"y_{split} must have the outputs' shape {tuple(out.shape)} for the mse "
                    f"loss, got {tuple(y.shape)}",
                )


class _Record:
    """The measurements so far, as lists per variable of per-step lists of R values."""

    def __init__(self, R: int):
        self.R = R
        self.steps: list[int] = []
        self.values: dict[str, list[list]] = {}

    def add(self, step: int, values: Mapping[str, list]) -> None:
        self.steps.append(step)
        for name, per_run in values.items():
            self.values.setdefault(name, []).append(per_run)

    def dataset(self, per_epoch: int) -> xr.Dataset:
        variables = {}
        for name, rows in self.values.items():  # rows: (S,) lists of (R,) values
            first = rows[0][0]
            if isinstance(first, xr.DataArray):
                stacked = xr.concat(
                    [xr.concat(row, dim="run") for row in rows], dim="step"
                ).transpose("run", "step", ...)
                variables[name] = stacked.drop_vars(["run", "step"], errors="ignore")
                continue
            array = np.asarray(rows, dtype=float)  # (S, R, ...)
            array = np.moveaxis(array, 0, 1)  # (R, S, ...)
            dims = ("run", "step", *(f"{name}_dim_{k}" for k in range(array.ndim - 2)))
            variables[name] = (dims, array)
        steps = np.asarray(self.steps, dtype=np.int64)
        return xr.Dataset(
            variables,
            coords={
                "run": np.arange(self.R),
                "step": steps,
                "epoch": ("step", steps / per_epoch),
            },
        )
