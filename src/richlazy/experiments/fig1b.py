"""Figure 1b: the phase diagram of a two-layer ReLU student over scale τ and geometry δ.

Teacher–student task on the sphere (docs/theory.md §5.1): test loss and kernel distance S(0, t)
averaged over seeds on the (τ, δ) grid at several checkpoints, with the supporting panels
(Hamming distance of activation patterns, parameter distance, train loss). Expected picture:
lazy at large τ, rich at small τ, and the fastest rich learning and lowest test loss at small τ
with δ > 0 (upstream). Measured at the paper's settings (four seeds, docs/performance.md): the
first two and the fastest learning hold; which δ ends lowest depends on the seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import xarray as xr

from richlazy._validate import require
from richlazy.experiments._phase_diagram import STYLES, grid_panels
from richlazy.experiments.spec import Experiment
from richlazy.sweeps import RunContext, TeacherStudentConfig, sweep


@dataclass(frozen=True)
class Config(TeacherStudentConfig):
    """Figure 1b settings (defaults: the reference's, docs/theory.md §5.1).

    The figure's style is chosen when drawing (``richlazy run/figure --style``,
    ``richlazy.experiments._phase_diagram``), not here: it changes no result.
    """

    HORIZON: ClassVar[tuple[str, ...]] = ("steps", "panels")

    panels: int = 4  # checkpoints drawn: the last ``panels`` ones

    def __post_init__(self):
        super().__post_init__()
        require(self.panels >= 1, f"panels must be >= 1, got {self.panels}")


# The published figure (the reference's plot_fig1b notebook): 1e5 steps, checkpoints 0, 10, …,
# 1e5, panels 1e2 … 1e5, seeds 100 … 115, the reference's own random draws. The grid is the
# reference's unrounded logspace, so that its float32 draws are the same bits.
PUBLISHED = Config(
    taus=tuple(float(t) for t in np.logspace(-1, 0.3, 17)),
    deltas=tuple(float(d) for d in np.linspace(-1, 1, 17)),
    seeds=tuple(range(100, 116)),
    steps=100_000,
    seeding="reference",
)

PRESETS = {
    "paper": PUBLISHED,
    # Seconds on a laptop: a smaller problem (d = 10, n = 100) and grid, 1e4 GD steps; lr is
    # halved because at n = 100 the reference rate puts small-τ, δ > 0 cells at the edge of
    # stability (h·λ_max(NTK) ≈ 2), where GD no longer follows gradient flow.
    "quick": Config(
        taus=tuple(np.logspace(-1, 0.3, 7).round(6)),
        deltas=tuple(np.linspace(-1, 1, 7).round(6)),
        seeds=(0, 1),
        d=10,
        n=100,
        n_test=2000,
        lr=2.5e-3,
        steps=10_000,
        checkpoints_per_decade=2,
    ),
}


def run(config: Config, context: RunContext) -> xr.Dataset:
    """Train the grid seed by seed (resumable shards) and measure it at every checkpoint."""
    results = sweep(config, context, config.dataset, "fig1b")
    return labeled(results, config)


def labeled(results: xr.Dataset, config: Config) -> xr.Dataset:
    """The results with what the figures need to know about the run."""
    return results.assign_attrs(
        d=config.d,
        n=config.n,
        n_test=config.n_test,
        width=config.width,
        panels=config.panels,
        seeding=config.seeding,
    )


def _drawn_steps(results: xr.Dataset) -> np.ndarray:
    steps = results.step.values[results.step.values > 0]
    panels = int(results.attrs.get("panels", 4))
    return steps[-panels:]


def plot(results: xr.Dataset) -> dict:
    """The phase diagram (test loss, kernel distance) and the supporting panels."""
    steps = _drawn_steps(results)
    style = results.attrs.get("style", "richlazy")
    main = grid_panels(
        results,
        ["test_loss", "kernel_distance"],
        steps,
        "Figure 1b: lazy at large τ, rich at small τ; upstream (δ > 0) learns fastest",
        style=style,
    )
    supporting = grid_panels(
        results,
        ["hamming_distance", "parameter_distance", "train_loss"],
        steps,
        "Figure 1b, supporting panels: activation-pattern change, parameter movement, train loss",
        style=style,
    )
    return {"fig1b": main, "fig1b_supporting": supporting}


def headline(results: xr.Dataset) -> dict[str, str]:
    final = results.isel(step=-1).mean("seed")
    best = final.test_loss.where(np.isfinite(final.test_loss)).argmin(...)
    tau, delta = float(final.tau[best["tau"]]), float(final.delta[best["delta"]])
    kd = final.kernel_distance.mean("delta")
    loss = final.test_loss
    upstream = loss.sel(delta=loss.delta > 0).isel(tau=0).mean()
    downstream = loss.sel(delta=loss.delta < 0).isel(tau=0).mean()
    return {
        "lowest final test loss at": f"τ = {tau:.3g}, δ = {delta:+.2f} ({float(loss.min()):.2e})",
        "kernel distance, smallest vs largest τ": (
            f"{float(kd.isel(tau=0)):.2f} vs {float(kd.isel(tau=-1)):.2f}"
        ),
        "test loss at smallest τ, δ > 0 vs δ < 0": (
            f"{float(upstream):.2e} vs {float(downstream):.2e}"
        ),
        "diverged networks": f"{int(results.diverged.sum())} of {results.diverged.size}",
    }


EXPERIMENT = Experiment(
    name="fig1b",
    presets=PRESETS,
    run=run,
    plot=plot,
    headline=headline,
    styles=STYLES,
)
