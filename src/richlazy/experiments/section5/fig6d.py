"""Figure 6d: does an upstream initialization shorten the time to grokking?

Nanda et al.'s one-layer transformer (``richlazy.nn.models.ModularTransformer``, logits in
float64) on (a + b) mod p (``richlazy.data.modular_arithmetic``), trained full batch with
AdamW (lr 1e-3, decoupled weight decay 1, betas (0.9, 0.98)) by ``richlazy.nn.training.fit``.
α divides the embedding's initialization (``richlazy.nn.unbalance``: the token embedding, and
the position embedding with ``scale_positions``); ``rescale_unembedding`` also multiplies the
unembedding by α. Every α of a seed starts from the same draw and the same split.

Measured every ``eval_every`` steps: train and test accuracy. ``steps_to_generalize`` is the
first measured step with test accuracy > ``threshold``, ``steps_to_memorize`` the first with
train accuracy > ``threshold`` (``_crossing.first_step_above``); a run that does not get there
within ``max_steps`` is censored: NaN with ``censored`` True, never dropped (``diverged`` marks
the censored runs whose training loss stopped being finite). A run stops once it
has generalized (``stop_at_generalization``), its curves NaN after. What was tried before fixing
these defaults, and what each gave: docs/section5-structure.md.
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
from richlazy.nn.models import ModularTransformer
from richlazy.nn.optimizers import OPTIMIZERS, SGD, AdamW, optimizer_named
from richlazy.nn.training import fit
from richlazy.runtime import device_of, torch_threads
from richlazy.sweeps import RunContext

__all__ = ["EXPERIMENT", "PRESETS", "Config", "run", "seed_results"]


@dataclass(frozen=True)
class Config(Checked):
    """Figure 6d's settings.

    Attributes:
        alphas: the α dividing the embedding's initialization (> 1 upstream).
        seeds: each seed draws the split and the initialization (shared by every α).
        p, fraction, operation: the modulus, the training share of the p² pairs, the operation.
        d_model, n_heads, d_mlp: the transformer's sizes (Nanda et al.: 128, 4, 512).
        optimizer, lr, weight_decay, betas, momentum: full-batch training ("adamw" or "sgd").
        scale_positions: α divides the position embedding too (the whole input layer).
        rescale_unembedding: α also multiplies the unembedding (``rescale_last``).
        max_steps: the cap; runs that have not generalized by then are censored.
        eval_every: steps between measurements.
        threshold: the accuracy that counts as generalized (test) or memorized (train).
        stop_at_generalization: stop each run at its first step above the threshold.
        device: "cpu", "cuda" or "auto"; vectorize: train the α of a seed as one vmapped
            batch (None: on a GPU only; on 2 CPU cores it measured slower). Either way each run
            stops on its own (fit's per-run ``until``).
    """

    alphas: tuple[float, ...] = option((1.0, 2.0, 4.0, 8.0), check_alphas)
    seeds: tuple[int, ...] = option((0, 1, 2), check.seeds)
    p: int = 113
    fraction: float = 0.3
    operation: str = "add"
    d_model: int = option(128, check.whole())
    n_heads: int = option(4, check.whole())
    d_mlp: int = option(512, check.whole())
    optimizer: str = option("adamw", check.one_of(OPTIMIZERS))
    lr: float = 1e-3
    weight_decay: float = 1.0
    betas: tuple[float, float] = (0.9, 0.98)
    momentum: float = 0.0
    scale_positions: bool = True
    rescale_unembedding: bool = False
    max_steps: int = option(20000, check.whole())
    eval_every: int = option(100, check.whole())
    threshold: float = option(0.95, check.interval(0, 1))
    stop_at_generalization: bool = True
    device: str = "auto"
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
        modular_arithmetic(self.p, fraction=self.fraction, operation=self.operation)  # checks
        self.build_optimizer()  # checks the options of the optimizer named
        device_of(self.device)

    def build_optimizer(self) -> SGD | AdamW:
        """``SGD(lr, momentum=, weight_decay=)`` or ``AdamW(lr, betas=, weight_decay=)``."""
        own = {"momentum": self.momentum} if self.optimizer == "sgd" else {"betas": self.betas}
        return optimizer_named(self.optimizer, lr=self.lr, weight_decay=self.weight_decay, **own)


QUICK = Config(p=43, fraction=0.5, d_model=64, d_mlp=256, lr=3e-3, max_steps=3000, eval_every=50)
# seconds: the tests' run of every experiment
SMOKE = replace(QUICK, alphas=(1.0, 2.0), seeds=(0, 1), p=7, fraction=0.5, d_model=8,
                n_heads=2, d_mlp=16, max_steps=40, eval_every=20)  # fmt: skip
PRESETS = {
    # about 90 s on a quiet 2-core machine: a smaller table and model, and lr 3e-3 instead of
    # 1e-3 (grokking comes ~3x sooner), so that every run groks within the cap
    # (docs/section5-structure.md: what was tried before fixing it)
    "quick": QUICK,
    # Nanda et al.'s setup on one GPU: p = 113, 30% of the pairs for training, 5 seeds
    "paper": Config(alphas=(0.5, 1.0, 2.0, 4.0, 8.0, 16.0), seeds=(0, 1, 2, 3, 4), max_steps=40000),
    # the quick table and model under full-batch SGD (coupled L2 1e-3: lr·λ per step 3e-4,
    # near AdamW's 1e-3), where α's imbalance is not erased in the first steps
    # (docs/section5-structure.md); about 10 minutes on 2 cores
    "sgd": Config(
        p=43,
        fraction=0.5,
        d_model=64,
        d_mlp=256,
        optimizer="sgd",
        lr=0.3,
        weight_decay=1e-3,
        seeds=(0, 1, 2, 3, 4),
        max_steps=6000,
        eval_every=100,
    ),
    "smoke": SMOKE,
}


def _model(config: Config, alpha: float, seed: int, device: torch.device) -> ModularTransformer:
    torch.manual_seed(seed)  # the same draw for every α, before unbalance
    model = ModularTransformer(config.p, d_model=config.d_model, n_heads=config.n_heads,
                               d_mlp=config.d_mlp, logits_dtype=torch.float64)  # fmt: skip
    first = ("embed", "pos") if config.scale_positions else "embed"
    unbalance(model, alpha, first=first, rescale_last=config.rescale_unembedding)
    return model.to(device)


def seed_results(config: Config, seed: int, progress=None) -> xr.Dataset:
    """Every α of one seed: dims (alpha, seed) and (alpha, seed, step); ``progress`` counts
    its training steps."""
    with torch_threads(1):  # small models: one thread (richlazy.experiments.section5._section5)
        return _seed_results(config, seed, progress)


def _seed_results(config: Config, seed: int, progress) -> xr.Dataset:
    device = device_of(config.device)
    split = modular_arithmetic(config.p, fraction=config.fraction, seed=seed,
                               operation=config.operation)  # fmt: skip
    x, y, x_test, y_test = (
        torch.as_tensor(a, device=device) for a in (split.x, split.y, split.x_test, split.y_test)
    )
    models = [_model(config, alpha, seed, device) for alpha in config.alphas]
    steps = np.arange(0, config.max_steps + 1, config.eval_every)

    def generalized(history: xr.Dataset) -> np.ndarray:  # (R,): each run stops on its own
        above = (history.test_accuracy.max("step") > config.threshold).values
        return above & config.stop_at_generalization

    history = fit(models, x, y, optimizer=config.build_optimizer(), steps=config.max_steps,
                  eval_steps=steps, x_test=x_test, y_test=y_test, until=generalized,
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
    generalize, censored = first_step_above(curves["test_accuracy"], steps, config.threshold)
    memorize, _ = first_step_above(curves["train_accuracy"], steps, config.threshold)
    per_run = ("alpha", "seed")
    variables = {
        "steps_to_generalize": (per_run, generalize[:, None]),
        "steps_to_memorize": (per_run, memorize[:, None]),
        "censored": (per_run, censored[:, None]),
        "diverged": (per_run, diverged[:, None]),  # a non-finite training loss (censored too)
    }
    variables |= {name: ((*per_run, "step"), v[:, None]) for name, v in curves.items()}
    return xr.Dataset(
        variables,
        coords={"alpha": np.asarray(config.alphas, dtype=float), "seed": [seed], "step": steps},
    )


def run(config: Config, context: RunContext) -> xr.Dataset:
    """One resumable shard per seed (every α)."""
    results = context.map(partial(seed_results, config), {"seed": config.seeds}, "fig6d")
    return results


EXPERIMENT = Experiment("fig6d", PRESETS, run, plot, headline, claims=claims, rules=RULES)
