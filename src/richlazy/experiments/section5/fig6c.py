"""Figure 6c: an upstream initialization lowers the sample complexity of hierarchical data.

The paper's recipe (docs/theory.md §6.1, docs/section5-structure.md "Figure 6c"): the Random
Hierarchy Model (``richlazy.data.random_hierarchy``; L = 3, n_c = 8, m = 4, s = 2, v = 8, so
P_max = 131,072) learned by the mean-field MLP of the reference code
(``richlazy.nn.models.MeanFieldMLP``: width 64, three bias-free hidden layers, weights N(0, 1),
÷√fan_in in hidden layers, ÷width at the readout), whose first layer ``richlazy.nn.unbalance``
divides by α and whose readout it multiplies by α (the function at initialization unchanged).
Training: SGD with momentum 0.9 at rate 6.4, minibatches of 128, ``epochs`` epochs with cosine
annealing per epoch, T_max = 80% of the epochs (torch's ``CosineAnnealingLR`` as the reference
steps it: the cosine goes on past T_max), cross-entropy, no weight decay; a run stops at the
first 10th epoch whose training loss is below ``target_loss`` = 0.01 (the reference code's
default; 0 trains every epoch). Measured at the stop or the end: test accuracy on ``n_test``
inputs, the training loss and the epochs trained.

Data: for each seed (its rules, samples, initialization and minibatch order, shared by every α
and P) one permutation of the P_max inputs gives the test set (the same at every P) and nested
training sets (``RandomHierarchy.sample(..., nested=True)``). Sizes: ``train_sizes`` in absolute
P, or by default int(f · P_max) for the fractions ``train_fractions`` (2^−10 … 2^−0.5).

One resumable shard per P: its α × seeds (36 runs in the paper's grid) trained as one vmapped
batch (``fit``'s ``vectorize``, each seed's runs on that seed's data), from which stopped runs
leave; the largest P first, so that two workers (``--workers 2``) finish together
(docs/performance.md). The sample complexity P*(α, seed) is where the test error first falls
below ``error_threshold`` (the paper's figure: 0.1), interpolated in log P
(``_crossing.sample_complexity``); ``sample_complexity_relative`` is the earlier rule, below
``error_fraction`` × the chance error 1 − 1/n_c.

The ``hcnn`` preset is the earlier recipe of this project (the bias-free hierarchical CNN trained
full batch until its training loss falls below ``target_loss``), kept with its findings.
"""

from __future__ import annotations

import itertools
import math
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
from richlazy.nn.models import HierarchicalCNN, MeanFieldMLP
from richlazy.nn.optimizers import SGD
from richlazy.nn.schedules import CosineAnnealing
from richlazy.nn.training import fit
from richlazy.runtime import DEVICES, device_of, torch_threads
from richlazy.sweeps import RunContext

__all__ = [
    "EXPERIMENT",
    "MODELS",
    "PAPER_FRACTIONS",
    "PRESETS",
    "Config",
    "mlp",
    "run",
    "shard_results",
]

MODELS = ("mlp", "hcnn")
#: the paper's training sizes as fractions of P_max: 2^(k/2), k = −20 … −1
PAPER_FRACTIONS = tuple(float(2.0 ** (k / 2)) for k in range(-20, 0))
_SIZES = check.tuple_of(check.whole(), increasing=True, at_least=2)
_FRACTIONS = check.tuple_of(check.interval(0, 1, "(]"), increasing=True, at_least=2)


def _check_sizes(name: str, value: object) -> None:
    """() (use ``train_fractions``) or at least two increasing whole P (``--set`` reads them as
    floats when the preset holds ()): whole-valued floats are accepted."""
    if not isinstance(value, tuple | list):
        raise TypeError(f"{name} must be a tuple, got {type(value).__name__} {value!r}")
    if len(value) == 0:
        return
    whole = [int(v) if isinstance(v, float) and v.is_integer() else v for v in value]
    _SIZES(name, tuple(whole))


@dataclass(frozen=True)
class Config(Checked):
    """Figure 6c's settings.

    Attributes:
        model: "mlp" (the paper's recipe) or "hcnn" (the earlier hierarchical CNN, full batch
            until ``target_loss``).
        alphas: the α of ``unbalance`` (> 1 upstream, < 1 downstream), 1 among them.
        train_fractions: the training sizes as fractions of P_max (increasing, in (0, 1]).
        train_sizes: absolute training sizes P instead (increasing); (): from the fractions.
        seeds: each seed draws its own rules, samples, initialization and minibatch order.
        v, n_c, m, L, s: the RHM's vocabulary, classes, rules per symbol, depth, branching.
        width, depth: hidden units (channels for the CNN) and hidden layers of the MLP.
        n_test: test inputs (disjoint from every training set).
        lr, momentum: SGD's rate and momentum.
        batch_size, epochs, t_max_fraction: the MLP's minibatch, epochs and the cosine's T_max
            as a fraction of the epochs.
        target_loss: a run stops at the first check whose training loss (over the whole
            training set) is below it: the reference code's default 0.01 (the MLP; 0: train
            every epoch) and the CNN's full-batch stop.
        eval_every: epochs between those checks (the MLP; the reference's 10) or steps (the
            CNN, whose full-batch step is an epoch).
        max_steps: the CNN's cap.
        error_threshold: P* is where the test error first falls below it (the paper's 0.1).
        error_fraction: the second column, P* below this × the chance error.
        device: "cpu", "cuda" or "auto" (cuda when available).
        vectorize: train the runs of one shard as one vmapped batch; None: the MLP always, the
            CNN on a GPU only (on 2 CPU cores it measured no faster).
    """

    model: str = option("mlp", check.one_of(MODELS))
    alphas: tuple[float, ...] = option((0.03, 0.1, 0.3, 1.0, 3.0, 10.0), check_alphas)
    train_fractions: tuple[float, ...] = option(PAPER_FRACTIONS, _FRACTIONS)
    train_sizes: tuple[int, ...] = option((), _check_sizes)
    seeds: tuple[int, ...] = option((0, 1, 2, 3, 4, 5), check.seeds)
    v: int = 8
    n_c: int = 8
    m: int = 4
    L: int = 3
    s: int = 2
    width: int = option(64, check.whole())
    depth: int = option(3, check.whole())
    n_test: int = option(20000, check.whole())
    lr: float = option(6.4, check.positive_float)
    momentum: float = option(0.9, check.interval(0, 1, "[)"))
    batch_size: int = option(128, check.whole())
    epochs: int = option(250, check.whole(maximum=check.MAX_STEPS))
    t_max_fraction: float = option(0.8, check.interval(0, 1, "(]"))
    target_loss: float = option(0.01, check.interval(0.0, math.inf, "[)"))
    max_steps: int = option(1000, check.whole(maximum=check.MAX_STEPS))
    eval_every: int = option(10, check.whole())
    error_threshold: float = option(0.1, check.interval(0, 1))
    error_fraction: float = option(0.1, check.interval(0, 1))
    device: str = option("auto", check.one_of(("auto", *DEVICES)))  # usable: when computing
    vectorize: bool | None = None

    def __post_init__(self):
        super().__post_init__()
        # the "hcnn" recipe's measured points: a Python int of the schedule (36 bytes) and four
        # float64 measures per run of a shard, before step 1
        points = self.max_steps // self.eval_every + 1
        check.fits_memory("max_steps, eval_every", (36.0 + 32.0 * len(self.alphas)) * points)
        rhm = random_hierarchy(self.v, self.n_c, self.m, self.L, self.s, seed=0)  # checks sizes
        sizes = self.sizes
        require(
            sizes[0] >= 1 and all(b > a for a, b in itertools.pairwise(sizes)),
            f"train_fractions give the sizes {sizes} of P_max = {rhm.p_max}: they must be "
            f"distinct and at least 1",
        )
        require(
            max(sizes) + self.n_test <= rhm.p_max,
            f"max(train_sizes) + n_test = {max(sizes) + self.n_test} exceeds the "
            f"{rhm.p_max} distinct inputs (P_max) of this RHM",
        )

    @property
    def p_max(self) -> int:
        return random_hierarchy(self.v, self.n_c, self.m, self.L, self.s, seed=0).p_max

    @property
    def sizes(self) -> tuple[int, ...]:
        """The training sizes P: ``train_sizes``, or int(f · P_max) per fraction."""
        if self.train_sizes:
            return tuple(int(size) for size in self.train_sizes)
        return tuple(int(f * self.p_max) for f in self.train_fractions)

    @property
    def chance_error(self) -> float:
        return 1.0 - 1.0 / self.n_c

    def schedule(self) -> CosineAnnealing:
        """Cosine annealing per epoch, T_max = ``t_max_fraction`` × epochs (need not be whole)."""
        return CosineAnnealing(self.t_max_fraction * self.epochs, unit="epoch")


PAPER = Config()
# about a minute on 2 cores: 3 α, the 3 sizes 2^-5, 2^-4, 2^-3 of P_max around the transition,
# 2 seeds, 40 epochs instead of 250, 4,000 test points instead of 20,000
QUICK = replace(PAPER, alphas=(0.1, 1.0, 10.0), train_fractions=(2**-5, 2**-4, 2**-3),
                seeds=(0, 1), epochs=40, n_test=4000)  # fmt: skip
# seconds: the tests' run of every experiment
SMOKE = replace(QUICK, alphas=(1.0, 4.0), train_fractions=(2**-10, 2**-9), width=8, epochs=2,
                n_test=200)  # fmt: skip
# the earlier recipe: the hierarchical CNN (m = 3, P_max = 17,496), full batch until loss 0.01
HCNN = replace(PAPER, model="hcnn", alphas=(0.25, 1.0, 4.0, 16.0),
               train_sizes=(128, 256, 512, 1024, 2048), seeds=(0, 1, 2), m=3, n_test=2000,
               lr=1.0, momentum=0.0, error_threshold=0.0875)  # fmt: skip
PRESETS = {"quick": QUICK, "paper": PAPER, "smoke": SMOKE, "hcnn": HCNN}


def shard_results(
    config: Config, train_size: int, seed: int | None = None, progress=None
) -> xr.Dataset:
    """The runs at one P, dims (alpha, train_size, seed): every α of ``seed``, or with seed
    None every (α, seed) of ``config`` (the MLP's shards: one vmapped batch)."""
    seeds = config.seeds if seed is None else (seed,)
    with torch_threads(1):  # small models: one thread (richlazy.experiments.section5._section5)
        if config.model == "hcnn":
            return _cnn_shard(config, seeds[0], train_size)
        return _mlp_shard(config, seeds, train_size, progress)


def _split(config: Config, seed: int, device: torch.device):
    rhm = random_hierarchy(config.v, config.n_c, config.m, config.L, config.s, seed=seed)
    nested = config.model == "mlp"  # the CNN keeps its earlier draw (its findings reproduce)
    split = rhm.sample(max(config.sizes), config.n_test, seed=seed, nested=nested)
    return [torch.as_tensor(a, device=device) for a in (split.x, split.y, split.x_test,
                                                         split.y_test)]  # fmt: skip


def mlp(config: Config, alpha: float, seed: int) -> MeanFieldMLP:
    """The paper's network at α: seed ``seed``'s N(0, 1) draw (the same for every α), first
    layer ÷ α and readout × α (``unbalance``; docs/theory.md §6.1)."""
    torch.manual_seed(seed)
    model = MeanFieldMLP(config.v * config.s**config.L, config.width, config.depth, config.n_c)
    unbalance(model, alpha)
    return model


def _mlp_shard(config: Config, seeds: tuple[int, ...], train_size: int, progress) -> xr.Dataset:
    """The paper's recipe: every (α, seed) at one P as one vmapped batch, each seed's α on that
    seed's data and minibatch order (``fit``'s per-run data and seeds). With ``target_loss`` >
    0, a run stops at the first check (every ``eval_every`` epochs) whose training loss is below
    it, the reference code's default (docs/section5-structure.md), and leaves the batch; the
    test set is measured once, at each run's stop or end."""
    device = device_of(config.device)
    data = {}  # seed -> (x (P, v, s^L), y (P,), x_test (n_test, v, s^L), y_test (n_test,))
    for seed in seeds:
        x, y, x_test, y_test = _split(config, seed, device)
        data[seed] = (x[:train_size], y[:train_size], x_test, y_test)  # nested across P
    runs = [(alpha, seed) for alpha in config.alphas for seed in seeds]  # (alpha, seed) order
    models = [mlp(config, alpha, seed).to(device) for alpha, seed in runs]
    per_epoch = -(-train_size // config.batch_size)
    checks = range(0, config.epochs + 1, config.eval_every)
    history = fit(
        models,
        [data[seed][0] for _, seed in runs],
        [data[seed][1] for _, seed in runs],
        optimizer=SGD(config.lr, momentum=config.momentum),
        schedule=config.schedule(),
        epochs=config.epochs,
        batch_size=config.batch_size,
        seed=[seed for _, seed in runs],
        eval_steps=[epoch * per_epoch for epoch in checks],
        until=_below(config.target_loss),
        vectorize=True if config.vectorize is None else config.vectorize,
        progress=progress,
    )
    stopped = history.stopped_step.values  # (R,): −1 where the run trained every epoch
    epochs = np.where(stopped >= 0, stopped // per_epoch, config.epochs)
    test = np.asarray([_accuracy(model, *data[seed][2:]) for model, (_, seed) in
                       zip(models, runs, strict=True)])  # fmt: skip

    def grid(values) -> np.ndarray:  # (R,) in run order -> (alpha, seed)
        return np.asarray(values).reshape(len(config.alphas), len(seeds))

    values = {
        "test_accuracy": grid(test),
        "test_error": grid(1.0 - test),
        "train_loss": grid(history.train_loss.values[:, -1]),  # a stopped run's, repeated
        "train_accuracy": grid(history.train_accuracy.values[:, -1]),
        "epochs": grid(epochs.astype(np.int64)),
    }
    return _shard_dataset(values, config, train_size, seeds)


def _below(target: float):
    """``fit``'s ``until``: each run stops when its last measured training loss is below
    ``target`` (0: never), at a check after training began (the reference checks after its
    10th, 20th, ... epoch, never before the first)."""

    def below(history: xr.Dataset) -> np.ndarray:  # (R,)
        last = history.train_loss.isel(step=-1)
        return ((last < target) & (history.step[-1] > 0)).values

    return below


def _accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """The fraction of ``x`` (N, ...) whose argmax output is ``y`` (N,)."""
    with torch.no_grad():
        correct = sum(int((model(c).argmax(-1) == t).sum()) for c, t in
                      zip(x.split(4096), y.split(4096), strict=True))  # fmt: skip
    return correct / len(y)


def _cnn_shard(config: Config, seed: int, train_size: int) -> xr.Dataset:
    """The earlier recipe: full-batch SGD until the training loss is below ``target_loss``."""
    device = device_of(config.device)
    x, y, x_test, y_test = _split(config, seed, device)
    x, y = x[:train_size], y[:train_size]  # (P, v, s^L), (P,)
    models = []
    for alpha in config.alphas:
        torch.manual_seed(seed)  # the same initialization for every α, before unbalance
        model = HierarchicalCNN(config.v, config.width, config.L, config.s, config.n_c)
        unbalance(model, alpha)
        models.append(model.to(device))
    history = fit(
        models,
        x,
        y,
        optimizer=SGD(config.lr, momentum=config.momentum),
        steps=config.max_steps,
        eval_steps=range(0, config.max_steps + 1, config.eval_every),
        until=_below(config.target_loss),
        vectorize=device.type == "cuda" if config.vectorize is None else config.vectorize,
        seed=seed,
    )
    stopped = history.stopped_step.values  # (R,): −1 where the cap came first
    at = np.where(stopped >= 0, np.searchsorted(history.step.values, stopped), -1)
    runs = np.arange(len(models))
    # each model holds its weights of the step it stopped at
    test = [_accuracy(model, x_test, y_test) for model in models]
    values = {
        "test_accuracy": np.asarray(test),
        "test_error": 1.0 - np.asarray(test),
        "train_loss": history.train_loss.values[runs, at],
        "train_accuracy": history.train_accuracy.values[runs, at],
        "epochs": history.step.values[at].astype(np.int64),  # full batch: epochs = steps
        "reached_target": history.train_loss.values[runs, at] < config.target_loss,
    }
    return _shard_dataset(values, config, train_size, (seed,))


def run(config: Config, context: RunContext) -> xr.Dataset:
    """One resumable shard per P (the MLP: every α and seed in one batch) or per (seed, P) (the
    CNN); P* at both thresholds from the stored test errors."""
    # the largest P first: the longest shards start first when two workers share them
    sizes = tuple(sorted(config.sizes, reverse=True))
    shard = partial(shard_results, config)
    if config.model == "mlp":
        results = context.map(shard, {"train_size": sizes}, "fig6c", key="P-{train_size}")
    else:
        grid = {"seed": config.seeds, "train_size": sizes}
        results = context.map(shard, grid, "fig6c", key="seed-{seed}-P-{train_size}")
    results = results.sortby("train_size").transpose("alpha", "train_size", "seed")
    error = results.test_error.transpose("alpha", "seed", "train_size").values
    sizes = results.train_size.values
    p_star, censored = sample_complexity(error, sizes, config.error_threshold)
    relative = config.error_fraction * config.chance_error
    p_rel, censored_rel = sample_complexity(error, sizes, relative)
    per_run = ("alpha", "seed")
    return results.assign(
        sample_complexity=(per_run, p_star),
        sample_complexity_censored=(per_run, censored),
        sample_complexity_relative=(per_run, p_rel),
        sample_complexity_relative_censored=(per_run, censored_rel),
    ).assign_attrs(p_max=config.p_max)


EXPERIMENT = Experiment("fig6c", PRESETS, run, plot, headline, claims=claims, rules=RULES)


def _shard_dataset(values: dict, config: Config, train_size: int, seeds: tuple) -> xr.Dataset:
    """One shard's measures, each (alpha, seed), as a Dataset of dims (alpha, train_size, seed)."""
    dims = ("alpha", "train_size", "seed")
    shape = (len(config.alphas), 1, len(seeds))
    return xr.Dataset(
        {name: (dims, np.asarray(value).reshape(shape)) for name, value in values.items()},
        coords={
            "alpha": np.asarray(config.alphas, dtype=float),
            "train_size": [train_size],
            "seed": list(seeds),
        },
    )
