"""Figure 10 (Appendix D.1): Figure 1b's grid trained ten times longer, with every metric.

Rows: kernel distance S(0, t), Hamming distance of the activation patterns, parameter
distance, train loss (log levels) and test loss; columns: the decades t = 1e2 … 1e6
(docs/theory.md §5.1). The run continues Figure 1b's stored states when the same output
directory holds them for the same grid (``richlazy.sweeps.sweep(extend_from=...)``): a 1e6-step
run extends a 1e5-step one instead of restarting, with identical numbers.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import xarray as xr

from richlazy.experiments.claims import Claim, at_most
from richlazy.experiments.spec import Experiment
from richlazy.experiments.two_layer import fig1b
from richlazy.experiments.two_layer._phase_diagram import STYLES, grid_panels
from richlazy.sweeps import RunContext, sweep

ROWS = ["kernel_distance", "hamming_distance", "parameter_distance", "train_loss", "test_loss"]


@dataclasses.dataclass(frozen=True)
class Config(fig1b.Config):
    """Figure 1b's settings run for 1e6 steps (the reference's run_grid)."""

    steps: int = 1_000_000


PRESETS = {
    "paper": Config(**{**dataclasses.asdict(fig1b.PRESETS["paper"]), "steps": 1_000_000}),
    # Figure 1b's quick grid three times longer, one seed: it continues fig1b quick's seed 0
    # (about a minute on two cores; ten times longer would take five).
    "quick": Config(
        **{**dataclasses.asdict(fig1b.PRESETS["quick"]), "steps": 30_000, "seeds": (0,)}
    ),
    # Figure 1b's smoke grid ten times longer
    "smoke": Config(**{**dataclasses.asdict(fig1b.PRESETS["smoke"]), "steps": 1000}),
}


def run(config: Config, context: RunContext) -> xr.Dataset:
    """Train (or continue Figure 1b's stored states) to ``steps``, measured at every checkpoint."""
    return sweep(config, context, config.dataset, "fig10", extend_from=("fig1b",))


def decades(results: xr.Dataset) -> np.ndarray:
    """The checkpoints drawn: the powers of ten from 1e2 (the reference's columns), and the last
    checkpoint when it is not one."""
    steps = results.step.values
    powers = steps[(steps >= 100) & np.isclose(np.log10(np.maximum(steps, 1)) % 1, 0)]
    return np.union1d(powers, steps[-1:])


def plot(results: xr.Dataset, config: Config) -> dict:
    """The five rows of Appendix D.1's supporting figure."""
    title = "Figure 10: kernel, activation patterns, parameters and losses over (τ, δ), to 1e6"
    style = results.attrs.get("style", "richlazy")
    return {"fig10": grid_panels(results, ROWS, decades(results), title, style=style)}


def headline(results: xr.Dataset, config: Config) -> dict[str, str]:
    """Figure 1b's headline numbers at the last checkpoint, and how far it is."""
    return {
        "last checkpoint": f"step {int(results.step[-1])}",
        **fig1b.headline(results, config),
    }


FITS = at_most(
    "by t = 1e6 every network of the grid fits its training data",
    "Figure 10, Appendix D.1",
    "largest train loss (MSE) at the last checkpoint, seed mean",
    1e-4,
)


RULES = (*fig1b.RULES, FITS)


def claims(results: xr.Dataset, config: Config) -> list[Claim]:
    """Figure 1b's claims on the longer run, and that every network fits its data by 1e6."""
    last = int(results.step[-1])
    if last < 1_000_000:
        fits = FITS.not_measured(f"the run ends at step {int(last)}, before step 1000000")
    else:
        final = results.train_loss.isel(step=-1).where(~results.diverged).mean("seed")
        fits = FITS.of(float(final.max()))
    return [*fig1b.claims(results, config), fits]


EXPERIMENT = Experiment(
    "fig10", PRESETS, run, plot, headline, styles=STYLES, claims=claims, rules=RULES
)
