"""Beyond the paper: how finite steps and SGD break the conservation laws (docs/theory.md §7).

The Figure-1b student (docs/theory.md §5.1) as a plain ``torch.nn.Module`` (two bias-free
``nn.Linear`` layers with a ReLU between them), its weights copied from the paired initialization
``richlazy.nets.symmetric_pairs`` at scale τ and imbalance δ, is trained with ``torch.optim.SGD``
(no momentum) on the reference's loss MSE = mean_i (f(x_i) − y_i)², over a grid of learning-rate
multiples r of the reference rate 5e-3/τ² and of batch sizes (full batch down to small
minibatches, a seeded order without replacement, reshuffled every epoch).

Time convention: every run covers the same gradient-flow time T = ``steps`` × lr_ref (MSE
units), so a run at multiple r takes ``steps``/r SGD steps (lr·steps is constant). The results'
``step`` coordinate counts steps *at the reference rate* (step s is flow time s·lr_ref, reached
after s/r steps at multiple r; ``sgd_steps`` holds those counts and ``time`` the flow times).

Measured at a log schedule of checkpoints: the drift |δ_k(t) − δ_k(0)| of the per-neuron
conserved quantities (max and mean over the m units), the kernel distance S(0, t) on the
training set, the Hamming distance of the activation patterns, train and test loss. The
reference is gradient flow on the same networks (``richlazy.train`` with ``GradientFlow``,
adaptive and error-controlled), at the same times: the ``flow_*`` variables.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import torch
import xarray as xr
from torch import nn

from richlazy import _validate as check
from richlazy._validate import Checked, option, require
from richlazy.data.tasks import student_directions, teacher_student
from richlazy.experiments.claims import number
from richlazy.experiments.spec import Experiment
from richlazy.experiments.two_layer._drift_report import (
    FLOW_BOUND as FLOW_BOUND,  # its claims bound
)
from richlazy.experiments.two_layer._drift_report import RULES, claims, headline, plot
from richlazy.metrics import hamming_distance, kernel_distances, mean_squared_error
from richlazy.nets.two_layer import TwoLayerNets, per_neuron_delta, symmetric_pairs
from richlazy.runtime import log_schedule, torch_threads
from richlazy.sweeps import RunContext
from richlazy.train import GradientFlow, train

VARIABLES = (
    "conservation_drift",
    "conservation_drift_mean",
    "kernel_distance",
    "hamming_distance",
    "train_loss",
    "test_loss",
)


@dataclass(frozen=True)
class Config(Checked):
    """The drift experiment's settings.

    Attributes:
        tau: initial scale τ (small: the rich regime).
        deltas: imbalances δ (one network each).
        lr_multiples: learning rates as multiples r of the reference rate ``lr_per_tau2``/τ²;
            each must divide the largest a whole number of times (powers of 2 do), so that
            every checkpoint is a whole number of steps at every rate.
        batch_sizes: minibatch sizes, each dividing ``n`` (``n`` itself is full batch).
        seeds: data, student and minibatch-order seeds.
        d, n, n_test, width: input dimension, training and test points, student width m.
        steps: steps at the reference rate (r = 1); every run covers the flow time
            steps × lr_ref.
        checkpoints_per_decade: density of the log schedule of checkpoints.
        lr_per_tau2: the reference rate times τ² (the paper's 5e-3).
        flow_rtol: tolerance of the gradient-flow reference.
        flow_refine: its smallest step is the smallest SGD step divided by this.
    """

    tau: float = option(0.1, check.positive_float)
    deltas: tuple[float, ...] = option((-1.0, 0.0, 1.0), check.tuple_of())
    lr_multiples: tuple[float, ...] = option((0.25, 1.0, 2.0), check.tuple_of(check.positive_float))
    batch_sizes: tuple[int, ...] = option((100, 25, 5), check.tuple_of(check.whole()))
    seeds: tuple[int, ...] = option((0, 1), check.seeds)
    d: int = option(10, check.whole())
    n: int = option(100, check.whole())
    n_test: int = option(1000, check.whole())
    width: int = option(50, check.whole(2, even=True))  # neurons in pairs
    steps: int = option(500, check.whole())
    checkpoints_per_decade: int = option(3, check.whole())
    lr_per_tau2: float = option(5e-3, check.positive_float)
    flow_rtol: float = option(1e-9, check.interval(0, 1))
    flow_refine: int = option(2, check.whole())

    def __post_init__(self):
        super().__post_init__()
        check.fits_memory("n, n_test, d", 8.0 * (self.n + self.n_test) * (self.d + 1))
        for size in self.batch_sizes:
            require(
                self.n % size == 0,
                f"batch_sizes must divide n = {self.n} (a whole number of minibatches per "
                f"epoch), got {size}",
            )
        top = max(self.lr_multiples)
        require(
            top <= 1 or abs(top - round(top)) < 1e-9,
            f"lr_multiples: the largest must be at most 1 or a whole number, got {number(top)}",
        )
        for r in self.lr_multiples:
            ratio = top / r
            require(
                abs(ratio - round(ratio)) < 1e-9,
                f"lr_multiples must each divide the largest ({number(top)}) a whole number of "
                f"times (e.g. powers of 2), got {number(r)}",
            )
        quantum = self.quantum
        require(
            self.steps % quantum == 0 and self.steps >= quantum,
            f"steps must be a multiple of {quantum} (the largest lr multiple rounded up, so "
            f"that every rate reaches the last checkpoint in whole steps), got {self.steps}",
        )

    @property
    def lr_reference(self) -> float:
        """The reference rate 5e-3/τ² (MSE convention)."""
        return self.lr_per_tau2 / self.tau**2

    @property
    def quantum(self) -> int:
        """Checkpoints (in reference steps) are multiples of this, so that s/r is whole."""
        return max(1, round(max(self.lr_multiples)))

    def checkpoints(self) -> np.ndarray:
        """The log schedule in reference steps, rounded to multiples of :attr:`quantum`."""
        q = self.quantum
        units = log_schedule(self.steps // q, per_decade=self.checkpoints_per_decade)
        return units * q


QUICK = Config()
# seconds: the tests' run of every experiment
SMOKE = replace(QUICK, deltas=(-1.0, 1.0), lr_multiples=(0.5, 1.0), batch_sizes=(16, 4),
                seeds=(0,), d=4, n=16, n_test=64, width=8, steps=20)  # fmt: skip
PRESETS = {
    # about 35 s on two cores with one torch thread (docs/theory.md §7); the rates stop at 2×
    # the reference: at n = 100 the reference rate is near the edge of stability at small τ
    # (Figure 1b's quick preset halves it), and 4× diverges for δ = ±1.
    "quick": QUICK,
    "paper": Config(
        deltas=(-1.0, -0.5, 0.0, 0.5, 1.0),
        lr_multiples=(0.125, 0.25, 0.5, 1.0, 2.0, 4.0),
        batch_sizes=(1000, 250, 50, 10),
        seeds=tuple(range(16)),
        d=100,
        n=1000,
        n_test=10_000,
        steps=10_000,
    ),
    "smoke": SMOKE,
}


class Student(nn.Module):
    """The Figure-1b student: x -> a·relu(W x), two bias-free linear layers."""

    def __init__(self, W: torch.Tensor, a: torch.Tensor):
        super().__init__()
        m, d = W.shape
        self.hidden = nn.Linear(d, m, bias=False, dtype=W.dtype)
        self.readout = nn.Linear(m, 1, bias=False, dtype=W.dtype)
        with torch.no_grad():
            self.hidden.weight.copy_(W)
            self.readout.weight.copy_(a[None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(torch.relu(self.hidden(x))).squeeze(-1)


def _sgd(W0, a0, X, y, lr, batch, actual, seed):
    """Train one student with SGD; its (W, a) at the step counts ``actual`` (NaN after a
    divergence) and whether it diverged."""
    model = Student(W0, a0)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.0)
    n = X.shape[0]
    order = torch.Generator().manual_seed(int(seed))
    Ws, As = [W0.clone()], [a0.clone()]
    wanted = {int(s): c for c, s in enumerate(actual)}
    total, step, diverged = int(actual[-1]), 0, False
    while step < total and not diverged:
        if batch < n:
            perm = torch.randperm(n, generator=order)
            Xe, ye = X[perm], y[perm]
        else:
            Xe, ye = X, y
        for start in range(0, n, batch):
            xb, yb = Xe[start : start + batch], ye[start : start + batch]
            loss = ((model(xb) - yb) ** 2).mean()
            if not torch.isfinite(loss):
                diverged = True
                break
            optimizer.zero_grad(set_to_none=False)
            loss.backward()
            optimizer.step()
            step += 1
            if step in wanted:
                Ws.append(model.hidden.weight.detach().clone())
                As.append(model.readout.weight.detach()[0].clone())
            if step >= total:
                break
    missing = len(actual) - len(Ws)
    Ws += [torch.full_like(W0, float("nan"))] * missing
    As += [torch.full_like(a0, float("nan"))] * missing
    return torch.stack(Ws), torch.stack(As), diverged or missing > 0


def _measure(initial: TwoLayerNets, W, a, X, y, X_test, y_test) -> dict[str, np.ndarray]:
    """The measured variables of one network's snapshots W (C, m, d), a (C, m): each (C,)."""
    C = W.shape[0]
    X, y, X_test, y_test = X[None], y[None], X_test[None], y_test[None]
    current = TwoLayerNets(W=W[None], a=a[None])  # (1, C, ...)
    start = TwoLayerNets(
        W=initial.W.expand(1, C, *initial.W.shape[2:]), a=initial.a.expand(1, C, -1)
    )
    ones = torch.ones((1, C), dtype=W.dtype)
    change = (per_neuron_delta(current, ones, ones) - per_neuron_delta(start, ones, ones)).abs()
    snapshots = [TwoLayerNets(W=W[None, c : c + 1], a=a[None, c : c + 1]) for c in range(C)]
    return {
        "conservation_drift": change.amax(-1)[0].numpy(),
        "conservation_drift_mean": change.mean(-1)[0].numpy(),
        "kernel_distance": kernel_distances(initial, snapshots, X)[0, 0].numpy(),
        "hamming_distance": hamming_distance(start, current, X)[0].numpy(),
        "train_loss": mean_squared_error(current, X, y)[0].numpy(),
        "test_loss": mean_squared_error(current, X_test, y_test)[0].numpy(),
    }


def seed_results(config: Config, seed: int, progress=None) -> xr.Dataset:
    """One seed: every (δ, r, batch size) SGD run and the gradient-flow reference (``progress``
    is not used: the runs are short)."""
    with torch_threads(1):  # tiny problems: one thread is fastest
        return _seed_results(config, seed)


def _seed_results(config: Config, seed: int) -> xr.Dataset:
    data = teacher_student(seed, d=config.d, n=config.n, n_test=config.n_test)
    directions, signs = student_directions(np.random.default_rng([seed, 1]), config.width, config.d)
    deltas = np.asarray(config.deltas, dtype=float)
    nets = symmetric_pairs(directions, signs, np.full((1, deltas.size), config.tau), deltas[None])
    X, y = torch.as_tensor(data.X), torch.as_tensor(data.y)
    X_test, y_test = torch.as_tensor(data.X_test), torch.as_tensor(data.y_test)
    steps = config.checkpoints()
    R, B, D, C = len(config.lr_multiples), len(config.batch_sizes), deltas.size, steps.size
    values = {name: np.full((D, R, B, C), np.nan) for name in VARIABLES}
    diverged = np.zeros((D, R, B), dtype=bool)
    for i in range(D):
        initial = nets.take([i])
        W0, a0 = initial.W[0, 0], initial.a[0, 0]
        for j, r in enumerate(config.lr_multiples):
            actual = np.rint(steps / r).astype(np.int64)
            for k, batch in enumerate(config.batch_sizes):
                order_seed = int(np.random.SeedSequence([seed, 2, batch]).generate_state(1)[0])
                W, a, diverged[i, j, k] = _sgd(
                    W0, a0, X, y, config.lr_reference * r, batch, actual, order_seed
                )
                for name, value in _measure(initial, W, a, X, y, X_test, y_test).items():
                    values[name][i, j, k] = value
    flow = train(
        nets.clone(),
        X[None],
        y[None],
        lr=config.lr_reference * min(config.lr_multiples) / config.flow_refine,
        checkpoints=np.rint(steps * config.flow_refine / min(config.lr_multiples)).astype(np.int64),
        solver=GradientFlow(rtol=config.flow_rtol),
    )
    flow_values = {name: np.full((D, C), np.nan) for name in VARIABLES}
    for i in range(D):
        W = torch.stack([s.W[0, i] for s in flow.snapshots])
        a = torch.stack([s.a[0, i] for s in flow.snapshots])
        for name, value in _measure(nets.take([i]), W, a, X, y, X_test, y_test).items():
            flow_values[name][i] = value
    dims = ("delta", "lr_multiple", "batch_size", "seed", "step")
    variables = {name: (dims, values[name][:, :, :, None]) for name in VARIABLES}
    variables |= {
        f"flow_{name}": (("delta", "seed", "step"), flow_values[name][:, None])
        for name in VARIABLES
    }
    variables["diverged"] = (dims[:4], diverged[..., None])
    variables["flow_diverged"] = (("delta", "seed"), flow.diverged[0][:, None])
    return xr.Dataset(
        variables,
        coords={
            "delta": deltas,
            "lr_multiple": np.asarray(config.lr_multiples, dtype=float),
            "batch_size": np.asarray(config.batch_sizes, dtype=np.int64),
            "seed": [seed],
            "step": steps,
        },
    )


def run(config: Config, context: RunContext) -> xr.Dataset:
    """One resumable shard per seed (every δ, rate and batch size, and the flow reference)."""
    results = context.map(partial(seed_results, config), {"seed": config.seeds}, "drift")
    lr_ref = config.lr_reference
    steps = results.step.values
    return results.assign_coords(
        time=("step", steps * lr_ref),
        sgd_steps=(
            ("lr_multiple", "step"),
            np.rint(steps[None] / results.lr_multiple.values[:, None]).astype(np.int64),
        ),
    ).assign_attrs(
        time_convention="step = steps at the reference rate; a run at multiple r takes step/r "
        "SGD steps (lr·steps constant); time = step × lr_reference",
    )


EXPERIMENT = Experiment("drift", PRESETS, run, plot, headline, claims=claims, rules=RULES)
