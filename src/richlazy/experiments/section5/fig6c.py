"""Figure 6c: an upstream initialization lowers the sample complexity of hierarchical data.

The Random Hierarchy Model (``richlazy.data.random_hierarchy``; v = n_c = 8, m = 3, L = 3,
s = 2 by default) learned by the bias-free hierarchical CNN (``richlazy.nn.models``,
filter size = stride = s) whose first convolution ``richlazy.nn.unbalance`` divides by α and
whose readout it multiplies by α (the function at initialization unchanged; docs/theory.md §6.1).
For each seed (its own rules, samples and initialization, shared by every α and P) one draw of
``max(train_sizes) + n_test`` distinct inputs gives the test set and nested training sets; each
(α, P) run is trained with full-batch SGD until its training loss first falls below
``target_loss`` (``fit``'s ``until``) and measured there: test accuracy, training loss and the
epochs it took. The sample complexity P*(α, seed) is the smallest P at which the test error falls
below ``error_fraction`` × the chance error 1 − 1/n_c, interpolated in log P
(``_crossing.sample_complexity``). Recipes and measured results: docs/section5-structure.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import torch
import xarray as xr

from richlazy import _validate as check
from richlazy._validate import Checked, option, require
from richlazy.data.hierarchy import random_hierarchy
from richlazy.experiments.section5._crossing import sample_complexity
from richlazy.experiments.section5._fig6c_report import RULES, claims, headline, plot
from richlazy.experiments.section5._section5 import check_alphas
from richlazy.experiments.spec import Experiment
from richlazy.nn import unbalance
from richlazy.nn.models import HierarchicalCNN
from richlazy.nn.optimizers import SGD
from richlazy.nn.training import fit
from richlazy.runtime import device_of, torch_threads
from richlazy.sweeps import RunContext

__all__ = ["EXPERIMENT", "PRESETS", "Config", "run", "shard_results"]


@dataclass(frozen=True)
class Config(Checked):
    """Figure 6c's settings.

    Attributes:
        alphas: the α of ``unbalance`` (> 1 upstream, < 1 downstream).
        train_sizes: the training-set sizes P, increasing (log-spaced across the transition).
        seeds: each seed draws its own rules, samples and initialization.
        v, n_c, m, L, s: the RHM's vocabulary, classes, rules per symbol, depth, branching.
        width: channels of every convolution.
        n_test: test inputs (disjoint from every training set).
        lr, momentum: full-batch SGD's rate and momentum.
        target_loss: train each run until its training loss (cross-entropy) first falls below.
        max_steps: the cap; a run that never reaches the target is measured at the cap and
            flagged (``reached_target`` False).
        eval_every: steps between measurements (the resolution of "first below the target").
        error_fraction: P* is where the test error first falls below this × chance error.
        device: "cpu", "cuda" or "auto" (cuda when available).
        vectorize: train the α of one (seed, P) as one vmapped batch (fit's ``vectorize``);
            None: on a GPU only (on 2 CPU cores it measured no faster). Either way each run
            stops at its own first step below the target (fit's per-run ``until``).
    """

    alphas: tuple[float, ...] = option((0.25, 1.0, 4.0, 16.0), check_alphas)
    # at least two: P* interpolates between them
    train_sizes: tuple[int, ...] = option(
        (128, 256, 512, 1024, 2048), check.tuple_of(check.whole(), increasing=True, at_least=2)
    )
    seeds: tuple[int, ...] = option((0, 1, 2), check.seeds)
    v: int = 8
    n_c: int = 8
    m: int = 3
    L: int = 3
    s: int = 2
    width: int = option(64, check.whole())
    n_test: int = option(2000, check.whole())
    lr: float = option(1.0, check.positive_float)
    momentum: float = option(0.0, check.interval(0, 1, "[)"))
    target_loss: float = option(0.01, check.positive_float)
    max_steps: int = option(1000, check.whole())
    eval_every: int = option(10, check.whole())
    error_fraction: float = option(0.1, check.interval(0, 1))
    device: str = "auto"
    vectorize: bool | None = None

    def __post_init__(self):
        super().__post_init__()
        device_of(self.device)
        rhm = random_hierarchy(self.v, self.n_c, self.m, self.L, self.s, seed=0)  # checks sizes
        require(
            max(self.train_sizes) + self.n_test <= rhm.p_max,
            f"max(train_sizes) + n_test = {max(self.train_sizes) + self.n_test} exceeds the "
            f"{rhm.p_max} distinct inputs (P_max) of this RHM",
        )

    @property
    def chance_error(self) -> float:
        return 1.0 - 1.0 / self.n_c


QUICK = Config()
# seconds: the tests' run of every experiment
SMOKE = replace(QUICK, alphas=(1.0, 4.0), train_sizes=(32, 64), seeds=(0, 1), width=8,
                n_test=100, max_steps=20)  # fmt: skip
PRESETS = {
    # about 60 s on a quiet 2-core machine, one torch thread (docs/section5-structure.md)
    "quick": QUICK,
    # one GPU: P up to 1.3e5 of P_max = 8·4^7 = 131 072 (m = 4), width 256
    "paper": Config(
        alphas=(0.25, 1.0, 4.0, 16.0, 64.0),
        train_sizes=(256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 114688),
        seeds=(0, 1, 2, 3, 4),
        m=4,
        width=256,
        n_test=16384,
        max_steps=20000,
        eval_every=10,
    ),
    "smoke": SMOKE,
}


def shard_results(config: Config, seed: int, train_size: int, progress=None) -> xr.Dataset:
    """Every α at one (seed, P): dims (alpha, train_size, seed) (``progress`` is not used: a
    shard is one full-batch run per α)."""
    with torch_threads(1):  # small models: one thread (richlazy.experiments.section5._section5)
        return _shard(config, seed, train_size)


def _shard(config: Config, seed: int, train_size: int) -> xr.Dataset:
    device = device_of(config.device)
    rhm = random_hierarchy(config.v, config.n_c, config.m, config.L, config.s, seed=seed)
    split = rhm.sample(max(config.train_sizes), config.n_test, seed=seed)  # nested in P
    x = torch.as_tensor(split.x[:train_size], device=device)  # (P, v, s^L)
    y = torch.as_tensor(split.y[:train_size], device=device)  # (P,)
    x_test = torch.as_tensor(split.x_test, device=device)
    y_test = torch.as_tensor(split.y_test, device=device)
    models = []
    for alpha in config.alphas:
        torch.manual_seed(seed)  # the same initialization for every α, before unbalance
        model = HierarchicalCNN(config.v, config.width, config.L, config.s, config.n_c)
        unbalance(model, alpha)
        models.append(model.to(device))
    target = config.target_loss

    def below(history: xr.Dataset) -> np.ndarray:  # (R,): each run stops on its own
        return (history.train_loss.min("step") < target).values

    history = fit(
        models,
        x,
        y,
        optimizer=SGD(config.lr, momentum=config.momentum),
        steps=config.max_steps,
        eval_steps=range(0, config.max_steps + 1, config.eval_every),
        until=below,
        vectorize=device.type == "cuda" if config.vectorize is None else config.vectorize,
        seed=seed,
    )
    stopped = history.stopped_step.values  # (R,): −1 where the cap came first
    at = np.where(stopped >= 0, np.searchsorted(history.step.values, stopped), -1)
    runs = np.arange(len(models))
    with torch.no_grad():  # each model holds its weights of the step it stopped at
        test = [float((m(x_test).argmax(-1) == y_test).double().mean()) for m in models]
    values = {
        "test_accuracy": np.asarray(test),
        "train_loss": history.train_loss.values[runs, at],
        "train_accuracy": history.train_accuracy.values[runs, at],
        "epochs": history.step.values[at].astype(np.int64),  # full batch: epochs = steps
        "reached_target": history.train_loss.values[runs, at] < target,
    }
    dims = ("alpha", "train_size", "seed")
    return xr.Dataset(
        {name: (dims, value[:, None, None]) for name, value in values.items()},
        coords={
            "alpha": np.asarray(config.alphas, dtype=float),
            "train_size": [train_size],
            "seed": [seed],
        },
    )


def run(config: Config, context: RunContext) -> xr.Dataset:
    """One resumable shard per (seed, P); P* derived from the stored accuracies."""
    grid = {"seed": config.seeds, "train_size": config.train_sizes}
    shard = partial(shard_results, config)
    results = context.map(shard, grid, "fig6c", key="seed-{seed}-P-{train_size}")
    error = 1.0 - results.test_accuracy.transpose("alpha", "seed", "train_size")
    threshold = config.error_fraction * config.chance_error
    p_star, censored = sample_complexity(error.values, results.train_size.values, threshold)
    return results.assign(
        sample_complexity=(("alpha", "seed"), p_star),
        sample_complexity_censored=(("alpha", "seed"), censored),
    ).assign_attrs(
        p_max=random_hierarchy(config.v, config.n_c, config.m, config.L, config.s, seed=0).p_max
    )


EXPERIMENT = Experiment("fig6c", PRESETS, run, plot, headline, claims=claims, rules=RULES)
