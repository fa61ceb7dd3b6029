"""Figure 6d (and the paper's Fig. 12): does an upstream initialization shorten the time to grok?

The paper's recipe (docs/theory.md §6.1, docs/section5-structure.md "Figure 6d"): the one-layer
post-LayerNorm decoder of danielmamay/grokking (``richlazy.nn.models.GrokkingTransformer``: d =
128, 4 heads, GELU MLP of 4·d, final LayerNorm and head; token and position embeddings N(0, 1))
on ``x op y =`` mod p = 97 (``richlazy.data.modular_arithmetic(..., sequence="a op b =")``, half
of the table for training; x+y by default, x−y and x/y as options), trained on minibatches of 512
by AdamW (lr 1e-3, betas (0.9, 0.98), weight decay 1) with a linear warm-up over the first 10
steps (``richlazy.nn.schedules.LinearWarmUp``). The knobs: α divides the token and position
embeddings (``richlazy.nn.unbalance(..., first=GrokkingTransformer.EMBEDDINGS,
rescale_last=False)``); τ multiplies the logits and divides the learning rate by τ² (Kumar et
al.). Every (α, τ) of a seed starts from the same draw, split and minibatch order.

Measured every ``eval_every`` steps on the whole training and validation sets: accuracy and loss.
``steps_to_generalize`` is the first measured step with validation accuracy ≥ ``threshold``
(0.99), ``steps_to_memorize`` the same on the training set (``_crossing.first_step_above``); a
run not there by ``max_steps`` (30,000) is censored: NaN with ``censored`` True, never dropped
(``diverged`` marks the censored runs whose training loss stopped being finite). A run stops once
it has generalized (``stop_at_generalization``), its curves NaN after.

The ``nanda`` and ``sgd`` presets are the earlier recipes of this project (Nanda et al.'s
LayerNorm-free ``ModularTransformer``, full batch, accuracy > 0.95), kept with their findings
(docs/section5-structure.md "The earlier recipe").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import torch
import xarray as xr

from richlazy import _validate as check
from richlazy._validate import Checked, option, require
from richlazy.data.modular import modular_arithmetic
from richlazy.experiments.section5._crossing import first_step_above
from richlazy.experiments.section5._fig6d_report import RULES, claims, headline, plot
from richlazy.experiments.section5._section5 import check_alphas
from richlazy.experiments.spec import Experiment
from richlazy.nn import unbalance
from richlazy.nn.models import GrokkingTransformer, ModularTransformer
from richlazy.nn.optimizers import OPTIMIZERS, SGD, AdamW, optimizer_named
from richlazy.nn.schedules import LinearWarmUp
from richlazy.nn.training import fit
from richlazy.runtime import DEVICES, device_of, torch_threads
from richlazy.sweeps import RunContext

__all__ = ["EXPERIMENT", "MODELS", "PRESETS", "Config", "model_at", "run", "shard_results"]

MODELS = ("grokking", "nanda")
_POSITIVE = check.tuple_of(check.positive_float)


def _check_batch(name: str, value: object) -> None:
    """None (full batch) or a positive integer."""
    if value is not None:
        check.positive_integer(name, value)


@dataclass(frozen=True)
class Config(Checked):
    """Figure 6d's settings.

    Attributes:
        model: "grokking" (the paper's post-LayerNorm block) or "nanda" (the earlier
            LayerNorm-free ``ModularTransformer``, logits in float64).
        alphas: the α dividing the embeddings (> 1 upstream), 1 among them.
        taus: the τ multiplying the logits (the rate is divided by τ²); "nanda": (1,) only.
        seeds: each seed draws the split, the initialization and the minibatch order (shared by
            every α and τ).
        p, fraction, operation: the modulus, the training share of the table, the operation
            ("add", "subtract", "divide", ...: ``modular_arithmetic``'s).
        d_model, n_heads, d_mlp: the transformer's sizes (d_mlp 0: 4·d_model).
        optimizer, lr, weight_decay, betas, momentum: the optimizer ("adamw" or "sgd") and its
            options; lr is τ = 1's rate.
        batch_size: minibatch size (None, or not below the training set's size: full batch).
        warmup_steps: linear warm-up of the rate over the first steps (1: none).
        scale_positions, rescale_unembedding: "nanda" only: α divides the position embedding
            too; α also multiplies the unembedding.
        max_steps: the budget; runs that have not generalized by then are censored.
        eval_every: steps between measurements (the resolution of both times).
        threshold: the accuracy that counts as generalized (validation) or memorized (train).
        stop_at_generalization: stop each run at its first measurement ≥ the threshold.
        device: "cpu", "cuda" or "auto"; vectorize: train the α of a (τ, seed) as one vmapped
            batch (None: on a GPU only; on 2 CPU cores it measured slower). Either way each run
            stops on its own (fit's per-run ``until``).
    """

    model: str = option("grokking", check.one_of(MODELS))
    alphas: tuple[float, ...] = option((0.1, 0.3, 1.0, 3.0, 10.0), check_alphas)
    taus: tuple[float, ...] = option((0.5, 0.75, 1.0, 1.25, 1.5), _POSITIVE)
    seeds: tuple[int, ...] = option((0, 1, 2, 3, 4), check.seeds)
    p: int = 97
    fraction: float = 0.5
    operation: str = "add"
    d_model: int = option(128, check.whole())
    n_heads: int = option(4, check.whole())
    d_mlp: int = option(0, check.whole(minimum=0))
    optimizer: str = option("adamw", check.one_of(OPTIMIZERS))
    lr: float = 1e-3
    weight_decay: float = 1.0
    betas: tuple[float, float] = (0.9, 0.98)
    momentum: float = 0.0
    batch_size: int | None = option(512, _check_batch)
    warmup_steps: int = option(10, check.whole())
    scale_positions: bool = True
    rescale_unembedding: bool = False
    max_steps: int = option(30000, check.whole(maximum=check.MAX_STEPS))
    eval_every: int = option(100, check.whole())
    threshold: float = option(0.99, check.interval(0, 1))
    stop_at_generalization: bool = True
    device: str = option("auto", check.one_of(("auto", *DEVICES)))  # usable: when computing
    vectorize: bool | None = None

    def __post_init__(self):
        super().__post_init__()
        require(
            self.d_model % self.n_heads == 0,
            f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})",
        )
        require(
            self.max_steps % self.eval_every == 0,
            f"max_steps ({self.max_steps}) must be a multiple of eval_every ({self.eval_every})",
        )
        require(
            self.model == "grokking" or tuple(self.taus) == (1.0,),
            f"taus must be (1.0,) for model 'nanda' (its logits have no τ), got {self.taus}",
        )
        # Before anything is built: the table of p² sequences of 4 int64 tokens, and the measured
        # points (a Python int of the schedule, 36 bytes, and four float64 measures per run).
        check.fits_memory("p", 32.0 * float(self.p) ** 2)
        points = self.max_steps // self.eval_every + 1
        runs = len(self.alphas) * len(self.taus) * len(self.seeds)
        check.fits_memory("max_steps, eval_every", (36.0 + 32.0 * runs) * points)
        self.split(0)  # checks p, fraction and operation
        self.build_optimizer(1.0)  # checks the options of the optimizer named

    @property
    def hidden(self) -> int:
        return self.d_mlp or 4 * self.d_model

    def split(self, seed: int):
        sequence = "a op b =" if self.model == "grokking" else "a b ="
        return modular_arithmetic(self.p, fraction=self.fraction, seed=seed,
                                  operation=self.operation, sequence=sequence)  # fmt: skip

    def build_optimizer(self, tau: float) -> SGD | AdamW:
        """The optimizer at τ: rate lr/τ² (``SGD(lr, momentum=, weight_decay=)`` or
        ``AdamW(lr, betas=, weight_decay=)``)."""
        own = {"momentum": self.momentum} if self.optimizer == "sgd" else {"betas": self.betas}
        lr = self.lr / tau**2
        return optimizer_named(self.optimizer, lr=lr, weight_decay=self.weight_decay, **own)


PAPER = Config()
# the main job's budget: p = 31 instead of 97 (961 pairs: one full batch of 480), d = 64
# instead of 128, lr 3e-3 instead of 1e-3 (grokking ~3x sooner), τ = 1 only, 3 α, 2 seeds,
# measured every 50 steps, a 6,000-step budget
QUICK = replace(PAPER, alphas=(0.1, 1.0, 10.0), taus=(1.0,), seeds=(0, 1), p=31, d_model=64,
                lr=3e-3, max_steps=6000, eval_every=50)  # fmt: skip
# seconds: the tests' run of every experiment
SMOKE = replace(QUICK, alphas=(1.0, 2.0), taus=(1.0, 1.5), seeds=(0, 1), p=7, d_model=8,
                n_heads=2, batch_size=16, max_steps=20, eval_every=10)  # fmt: skip
# the earlier recipe: Nanda et al.'s LayerNorm-free model, full batch, p = 43, lr 3e-3
NANDA = Config(model="nanda", alphas=(1.0, 2.0, 4.0, 8.0), taus=(1.0,), seeds=(0, 1, 2), p=43,
               d_model=64, d_mlp=256, lr=3e-3, batch_size=None, warmup_steps=1,
               max_steps=3000, eval_every=50, threshold=0.95)  # fmt: skip
PRESETS = {
    "quick": QUICK,
    "paper": PAPER,
    "smoke": SMOKE,
    "nanda": NANDA,
    # the nanda table and model under full-batch SGD (coupled L2 1e-3), where α's imbalance is
    # not erased in the first steps (docs/section5-structure.md); about 10 minutes on 2 cores
    "sgd": replace(
        NANDA,
        optimizer="sgd",
        lr=0.3,
        weight_decay=1e-3,
        seeds=(0, 1, 2, 3, 4),
        max_steps=6000,
        eval_every=100,
    ),
}


def model_at(
    config: Config, alpha: float, tau: float, seed: int, device: str | torch.device = "cpu"
):
    """The transformer at (α, τ): seed ``seed``'s draw (the same for every α and τ), the
    embeddings ÷ α, the logits × τ ("grokking"; docs/theory.md §6.1)."""
    torch.manual_seed(seed)  # the same draw for every α and τ, before unbalance
    if config.model == "nanda":
        model = ModularTransformer(config.p, d_model=config.d_model, n_heads=config.n_heads,
                                   d_mlp=config.hidden, logits_dtype=torch.float64)  # fmt: skip
        first = ("embed", "pos") if config.scale_positions else "embed"
        unbalance(model, alpha, first=first, rescale_last=config.rescale_unembedding)
    else:
        model = GrokkingTransformer(config.p, d_model=config.d_model, n_heads=config.n_heads,
                                    d_mlp=config.hidden, tau=tau)  # fmt: skip
        unbalance(model, alpha, first=GrokkingTransformer.EMBEDDINGS, rescale_last=False)
    return model.to(device)


def shard_results(config: Config, tau: float, seed: int, progress=None) -> xr.Dataset:
    """Every α of one (τ, seed): dims (alpha, tau, seed) and (alpha, tau, seed, step);
    ``progress`` counts its training steps."""
    with torch_threads(1):  # small models: one thread (richlazy.experiments.section5._section5)
        return _shard(config, tau, seed, progress)


def _shard(config: Config, tau: float, seed: int, progress) -> xr.Dataset:
    device = device_of(config.device)
    split = config.split(seed)
    x, y, x_test, y_test = (
        torch.as_tensor(a, device=device) for a in (split.x, split.y, split.x_test, split.y_test)
    )
    models = [model_at(config, alpha, tau, seed, device) for alpha in config.alphas]
    steps = np.arange(0, config.max_steps + 1, config.eval_every)

    def generalized(history: xr.Dataset) -> np.ndarray:  # (R,): each run stops on its own
        above = (history.test_accuracy.max("step") >= config.threshold).values
        return above & config.stop_at_generalization

    schedule = LinearWarmUp(config.warmup_steps) if config.warmup_steps > 1 else None
    batch = config.batch_size if config.batch_size and config.batch_size < len(y) else None
    history = fit(models, x, y, optimizer=config.build_optimizer(tau), schedule=schedule,
                  steps=config.max_steps, batch_size=batch, eval_steps=steps,
                  x_test=x_test, y_test=y_test, until=generalized,
                  vectorize=device.type == "cuda" if config.vectorize is None else config.vectorize,
                  seed=seed, progress=progress)  # fmt: skip
    stopped = history.stopped_step.values  # (R,): −1 where no run stopped it
    after = (stopped[:, None] >= 0) & (history.step.values[None] > stopped[:, None])  # (R, S)
    curves = {}  # a stopped run's curves end at its stop: NaN after, up to the cap
    for name in ("train_accuracy", "test_accuracy", "train_loss", "test_loss"):
        values = np.full((len(models), steps.size), np.nan)
        values[:, : history.step.size] = np.where(after, np.nan, history[name].values)
        curves[name] = values
    diverged = (~np.isfinite(history.train_loss.values) & ~after).any(axis=1)
    # "≥ threshold": first_step_above's strict ">" at the largest float below the threshold
    level = np.nextafter(config.threshold, -np.inf)
    generalize, censored = first_step_above(curves["test_accuracy"], steps, level)
    memorize, memorize_censored = first_step_above(curves["train_accuracy"], steps, level)
    per_run = ("alpha", "tau", "seed")
    variables = {
        "steps_to_generalize": (per_run, generalize[:, None, None]),
        "steps_to_memorize": (per_run, memorize[:, None, None]),
        "censored": (per_run, censored[:, None, None]),
        "memorize_censored": (per_run, memorize_censored[:, None, None]),
        "diverged": (per_run, diverged[:, None, None]),  # non-finite training loss (censored)
    }
    variables |= {name: ((*per_run, "step"), v[:, None, None]) for name, v in curves.items()}
    return xr.Dataset(
        variables,
        coords={
            "alpha": np.asarray(config.alphas, dtype=float),
            "tau": [float(tau)],
            "seed": [seed],
            "step": steps,
        },
    )


def run(config: Config, context: RunContext) -> xr.Dataset:
    """One resumable shard per (τ, seed), every α in it."""
    grid = {"tau": tuple(float(t) for t in config.taus), "seed": config.seeds}
    shard = partial(shard_results, config)
    results = context.map(shard, grid, "fig6d", key="tau-{tau:g}-seed-{seed}")
    return results.transpose("alpha", "tau", "seed", "step")


EXPERIMENT = Experiment("fig6d", PRESETS, run, plot, headline, claims=claims, rules=RULES)
