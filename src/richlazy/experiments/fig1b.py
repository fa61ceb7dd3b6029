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

import numpy as np
import xarray as xr
from matplotlib.colors import LogNorm
from matplotlib.ticker import NullFormatter

from richlazy import _validate as check
from richlazy._validate import require
from richlazy.data.tasks import teacher_student
from richlazy.experiments._style import figure
from richlazy.experiments.spec import Experiment
from richlazy.sweeps import GridConfig, RunContext, sweep

PANELS = {
    "test_loss": ("test loss", "coolwarm"),
    "kernel_distance": ("kernel distance S(0, t)", "viridis"),
    "hamming_distance": ("Hamming distance (neurons)", "magma"),
    "parameter_distance": ("parameter distance ‖θ(t) − θ(0)‖", "cividis"),
    "train_loss": ("train loss", "coolwarm"),
}


@dataclass(frozen=True)
class Config(GridConfig):
    """Figure 1b settings (defaults: the reference's, docs/theory.md §5.1)."""

    d: int = 100
    n: int = 1000
    n_test: int = 10_000
    panels: int = 4  # checkpoints drawn: the last ``panels`` ones

    def __post_init__(self):
        super().__post_init__()
        for name in ("d", "n", "n_test", "panels"):
            check.positive_integer(name, getattr(self, name))
        for name in ("taus", "deltas"):  # the phase diagram is a map over both
            require(
                len(getattr(self, name)) >= 2,
                f"{name} needs at least 2 values to draw the (τ, δ) phase diagram, "
                f"got {getattr(self, name)}",
            )


PRESETS = {
    "paper": Config(),
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

    def dataset(seed):
        return teacher_student(seed, d=config.d, n=config.n, n_test=config.n_test)

    results = sweep(config, context, dataset, "fig1b")
    return results.assign_attrs(
        d=config.d, n=config.n, n_test=config.n_test, width=config.width, panels=config.panels
    )


def _grid_panels(results: xr.Dataset, names: list[str], steps: np.ndarray, title: str):
    """Rows of contour maps over (log τ, δ), one row per metric, one column per checkpoint."""
    mean = results[names].mean("seed")
    fig = figure(3.6 * len(steps), 3.0 * len(names))
    axes = np.atleast_2d(fig.subplots(len(names), len(steps), squeeze=False))
    for row, name in zip(axes, names, strict=True):
        label, cmap = PANELS[name]
        values = mean[name].sel(step=steps)  # NaN where a network diverged: left blank
        finite = values.values[np.isfinite(values.values)]
        low, high = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
        logarithmic = name.endswith("loss") and low > 0 and high > 10 * low  # losses span decades
        levels = (
            np.geomspace(low, high, 21)
            if logarithmic
            else np.linspace(low, high if high > low else low + 1e-12, 21)
        )
        for ax, step in zip(row, steps, strict=True):
            image = ax.contourf(
                results.tau,
                results.delta,
                values.sel(step=step).T,
                levels=levels,
                norm=LogNorm(low, high) if logarithmic else None,
                cmap=cmap,
                extend="both",
            )
            _mark_diverged(ax, values.sel(step=step))
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())  # decades only: labels stay legible
            ax.set(xlabel="scale τ", ylabel="geometry δ", title=f"step {int(step):.0e}")
        ticks = levels[::4] if logarithmic else None
        fig.colorbar(
            image, ax=list(row), label=label, ticks=ticks, format="%.1e" if logarithmic else None
        )
    fig.suptitle(title)
    return fig


def _mark_diverged(ax, values: xr.DataArray) -> None:
    """Cross the (τ, δ) cells without a finite value (diverged networks, masked in the map)."""
    tau, delta = np.meshgrid(values.tau, values.delta, indexing="ij")
    masked = ~np.isfinite(values.transpose("tau", "delta").values)
    if not masked.any():
        return
    ax.scatter(tau[masked], delta[masked], marker="x", s=14, color="black", label="diverged")
    if masked.all():
        ax.text(
            0.5,
            0.5,
            "every network diverged",
            transform=ax.transAxes,
            ha="center",
            va="center",
            bbox={"facecolor": "white", "edgecolor": "none"},
        )


def _drawn_steps(results: xr.Dataset) -> np.ndarray:
    steps = results.step.values[results.step.values > 0]
    panels = int(results.attrs.get("panels", 4))
    return steps[-panels:]


def plot(results: xr.Dataset) -> dict:
    """The phase diagram (test loss, kernel distance) and the supporting panels."""
    steps = _drawn_steps(results)
    main = _grid_panels(
        results,
        ["test_loss", "kernel_distance"],
        steps,
        "Figure 1b: lazy at large τ, rich at small τ; upstream (δ > 0) learns fastest",
    )
    supporting = _grid_panels(
        results,
        ["hamming_distance", "parameter_distance", "train_loss"],
        steps,
        "Figure 1b, supporting panels: activation-pattern change, parameter movement, train loss",
    )
    return {"fig1b": main, "fig1b_supporting": supporting}


def headline(results: xr.Dataset) -> dict[str, str]:
    final = results.isel(step=-1).mean("seed")
    kd = final.kernel_distance.mean("delta")
    loss = final.test_loss
    upstream = loss.sel(delta=loss.delta > 0).isel(tau=0).mean()
    downstream = loss.sel(delta=loss.delta < 0).isel(tau=0).mean()
    if np.isfinite(loss).any():
        best = loss.where(np.isfinite(loss)).argmin(...)
        tau, delta = float(final.tau[best["tau"]]), float(final.delta[best["delta"]])
        lowest = f"τ = {tau:.3g}, δ = {delta:+.2f} ({float(loss.min()):.2e})"
    else:
        lowest = "none: every cell diverged (lower lr)"
    return {
        "lowest final test loss at": lowest,
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
)
