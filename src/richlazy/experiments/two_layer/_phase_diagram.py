"""Phase diagrams over the (τ, δ) grid: rows of filled contour maps, one per metric, one column
per checkpoint, averaged over seeds (Figures 1b and 10, docs/theory.md §5.1).

Two styles: "richlazy" puts every row on its own levels, logarithmic for losses that span
decades; "paper" follows the published figures (linear levels shared by a row, train loss on log
levels, the published colour maps), so that a reproduction and the paper can be compared by eye.
Cells where a network diverged are masked (left blank), never drawn as numbers.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm, Normalize
from matplotlib.ticker import LogLocator, NullFormatter

from richlazy.experiments._style import figure

PANELS = {
    "test_loss": ("test loss", "coolwarm"),
    "kernel_distance": ("kernel distance S(0, t)", "viridis"),
    "hamming_distance": ("Hamming distance (neurons)", "magma"),
    "parameter_distance": ("parameter distance ‖θ(t) − θ(0)‖", "cividis"),
    "train_loss": ("train loss", "coolwarm"),
}

# The published figures' colour maps (the reference's plotting notebooks).
PAPER_CMAPS = {
    "test_loss": "coolwarm",
    "kernel_distance": "viridis",
    "hamming_distance": "PuRd",
    "parameter_distance": "GnBu",
    "train_loss": "coolwarm",
}
# The published train-loss row: log levels, its colour scale floored at 1e-10.
PAPER_LOG_FLOOR = 1e-10
STYLES = ("richlazy", "paper")


def _levels(name: str, values: np.ndarray) -> tuple[np.ndarray, bool]:
    """richlazy style: 21 levels spanning the finite ``values`` of one row, log for losses that
    span decades; and whether they are log."""
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if name.endswith("loss") and low > 0 and high > 10 * low:
        return np.geomspace(low, high, 21), True
    return np.linspace(low, high if high > low else low + 1e-12, 21), False


def _draw_richlazy(fig, row, name, values, steps, results):
    """Each row on its own 21 levels; a colour bar with the row's label."""
    label, cmap = PANELS[name]
    levels, logarithmic = _levels(name, values.values)
    for ax, step in zip(row, steps, strict=True):
        image = ax.contourf(
            results.tau,
            results.delta,
            np.ma.masked_invalid(values.sel(step=step).T.values),
            levels=levels,
            norm=LogNorm(levels[0], levels[-1]) if logarithmic else None,
            cmap=cmap,
            extend="both",
        )
    ticks = levels[::4] if logarithmic else None
    fig.colorbar(
        image, ax=list(row), label=label, ticks=ticks, format="%.1e" if logarithmic else None
    )


def _draw_paper(fig, row, name, values, steps, results, scale):
    """The published recipe: one colour scale per row (its range over every checkpoint,
    ``scale``), each panel on matplotlib's default levels within its own range, black contour
    lines; the train loss on log levels floored at 1e-10."""
    label, cmap = PANELS[name][0], PAPER_CMAPS[name]
    finite = scale[np.isfinite(scale)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    logarithmic = name == "train_loss"
    norm = (
        LogNorm(PAPER_LOG_FLOOR, max(high, 10 * PAPER_LOG_FLOOR))
        if logarithmic
        else Normalize(low, high)
    )
    for ax, step in zip(row, steps, strict=True):
        panel = np.ma.masked_invalid(values.sel(step=step).T.values)
        if logarithmic:
            panel = np.ma.masked_less_equal(panel, 0)
        options = {"locator": LogLocator()} if logarithmic else {}
        if panel.count() and np.ptp(panel.compressed()) > 0:
            ax.contourf(results.tau, results.delta, panel, cmap=cmap, norm=norm, **options)
            lines = {"colors": "black", "linestyles": "-", "linewidths": 0.7}
            ax.contour(results.tau, results.delta, panel, **lines, **options)
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=list(row), label=label)


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


def grid_panels(
    results: xr.Dataset, names: list[str], steps: np.ndarray, title: str, *, style: str = "richlazy"
):
    """The figure: one row per metric of ``names``, one column per checkpoint of ``steps``."""
    mean = results[names].where(~results.diverged).mean("seed")  # diverged cells: NaN, masked
    fig = figure(3.6 * len(steps), 3.0 * len(names))
    axes = np.atleast_2d(fig.subplots(len(names), len(steps), squeeze=False))
    for row, name in zip(axes, names, strict=True):
        values = mean[name].sel(step=steps)
        if style == "paper":
            _draw_paper(fig, row, name, values, steps, results, mean[name].values)
        else:
            _draw_richlazy(fig, row, name, values, steps, results)
        for ax, step in zip(row, steps, strict=True):
            _mark_diverged(ax, values.sel(step=step))
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())  # decades only: labels stay legible
            ax.set(xlabel="scale τ", ylabel="geometry δ", title=f"step {int(step):.0e}")
    fig.suptitle(title)
    return fig
