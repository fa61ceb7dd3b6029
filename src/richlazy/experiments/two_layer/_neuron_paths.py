"""Figure 1a as published: the paths of the hidden neurons |a_k| w_k in the input plane, in the
look of the reference's plot_fig1a notebook (docs/theory.md §5.1).

Two panels, each with an inset in its upper right corner: the rich cell (smallest τ, δ nearest
0) with the lazy one inset (largest τ, δ nearest 0), and the upstream cell (smallest τ, largest
δ) with the downstream one inset (smallest τ, smallest δ). In every axes: each neuron's path as
a thin black line, its end point blue where its readout a_k ends ≥ 0 and red where it ends < 0,
the teacher's directions u_j as dashed rays coloured by the sign of their readouts, and the
circle of radius τ² on which every |a_k| w_k starts (|a_k|‖w_k‖ = ατ · τ/α).
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from richlazy.experiments._style import delta_label, figure

__all__ = ["published_panels", "select_cells", "teacher_directions"]

# (main cell, inset cell, regime words) of each published panel.
PANELS = (("rich", "lazy"), ("upstream", "downstream"))
WORDS = {"rich": "Rich", "lazy": "Lazy", "upstream": "Rich", "downstream": "Lazy"}
SIGN_COLORS = ("tab:red", "tab:blue")  # readout < 0, readout ≥ 0
INSET_BOUNDS = (0.62, 0.6, 0.34, 0.34)  # axes fraction of the main panel: left, bottom, w, h


def select_cells(results: xr.Dataset) -> dict[str, tuple[float, float]]:
    """The (τ, δ) of each published cell in a results grid: rich (smallest τ, δ nearest 0), lazy
    (largest τ, δ nearest 0), upstream (smallest τ, largest δ), downstream (smallest τ, smallest
    δ); the reference's (0.1, 0), (2, 0), (0.1, 0.9999), (0.1, −0.9999) on its grid."""
    taus, deltas = results.tau.values, results.delta.values
    zero = float(deltas[np.argmin(np.abs(deltas))])
    small, large = float(taus.min()), float(taus.max())
    return {
        "rich": (small, zero),
        "lazy": (large, zero),
        "upstream": (small, float(deltas.max())),
        "downstream": (small, float(deltas.min())),
    }


def teacher_directions(results: xr.Dataset, seed) -> tuple[np.ndarray, np.ndarray | None]:
    """The teacher's unit directions u_j (m0, 2) and readouts s_j (m0,) of ``seed``.

    The results store the teacher's neurons s_j u_j; with the readouts (``teacher_readout``)
    the directions follow. Results without them (an earlier version) give s_j u_j and None.
    """
    neurons = results.teacher.sel(seed=seed).values  # (m0, 2)
    if "teacher_readout" not in results:
        return neurons / np.linalg.norm(neurons, axis=1, keepdims=True), None
    readouts = results.teacher_readout.sel(seed=seed).values  # (m0,)
    directions = readouts[:, None] * neurons
    return directions / np.linalg.norm(directions, axis=1, keepdims=True), readouts


def _nice(value: float) -> float:
    """``value`` rounded up to one significant digit (0.17 -> 0.2, 4.4 -> 5)."""
    unit = 10.0 ** math.floor(math.log10(value))
    return math.ceil(value / unit * (1 - 1e-12)) * unit


def _style_axes(ax, size: float) -> None:
    """The notebook's axes: outward ticks, x labels turned 45°, heavy frame, a grid."""
    ax.tick_params(direction="out", length=7, width=1.5, labelsize=size)
    ax.tick_params(axis="x", labelrotation=45, pad=0)
    ax.xaxis.set_major_locator(MaxNLocator(6))
    ax.yaxis.set_major_locator(MaxNLocator(6))
    for spine in ax.spines.values():
        spine.set_linewidth(3)
    ax.grid(True)
    ax.set_aspect("equal")


def _draw_cell(ax, results: xr.Dataset, seed, tau: float, delta: float) -> None:
    """One cell's neuron paths, end points, teacher rays and initial circle, on square limits."""
    cell = results.sel(tau=tau, delta=delta, seed=seed)
    paths = cell.scaled_weight.values  # (C, m, 2)
    start_radius = tau**2  # |a_k| ‖w_k‖ at step 0
    limit = _nice(1.05 * max(float(np.nanmax(np.abs(paths))), start_radius))
    for k in range(paths.shape[1]):
        ax.plot(paths[:, k, 0], paths[:, k, 1], color="black", linewidth=0.8, alpha=0.5)
    end = paths[-1]  # (m, 2)
    if "readout" in cell:
        positive = cell.readout.values[-1] >= 0  # (m,)
        colors = np.array(SIGN_COLORS)[positive.astype(int)]
    else:
        colors = "tab:purple"
    ax.scatter(end[:, 0], end[:, 1], c=colors, s=30, alpha=0.6, zorder=10)
    directions, readouts = teacher_directions(results, seed)
    for j, direction in enumerate(directions):
        color = "black" if readouts is None else SIGN_COLORS[int(readouts[j] >= 0)]
        back = -1.0 if readouts is None else 0.0  # sign unknown: the whole line
        ray = 2 * limit * direction
        ax.plot([back * ray[0], ray[0]], [back * ray[1], ray[1]], "--", color=color, linewidth=1.5)
    turn = np.linspace(0, 2 * np.pi, 400)
    ax.plot(start_radius * np.cos(turn), start_radius * np.sin(turn), color="black", lw=1)
    ax.set(xlim=(-limit, limit), ylim=(-limit, limit))


def _title(name: str, tau: float, delta: float) -> str:
    return rf"$\bf{{{WORDS[name]}}}$ (τ = {tau:g}, {delta_label(0.0 if delta == 0 else delta)})"


def published_panels(results: xr.Dataset) -> Figure:
    """Figure 1a as the paper lays it out (first seed): rich with the lazy cell inset, upstream
    with the downstream cell inset (module docstring)."""
    seed = results.seed.values[0]
    cells = select_cells(results)
    fig = figure(14.0, 7.6)
    axes = fig.subplots(1, len(PANELS))
    for ax, (main, inset_name) in zip(axes, PANELS, strict=True):
        _draw_cell(ax, results, seed, *cells[main])
        _style_axes(ax, 13)
        ax.set_title(_title(main, *cells[main]), fontsize=18, pad=10)
        ax.set_xlabel("|a_k| w_k1", fontsize=15)
        ax.set_ylabel("|a_k| w_k2", fontsize=15)
        inset = ax.inset_axes(INSET_BOUNDS)
        _draw_cell(inset, results, seed, *cells[inset_name])
        _style_axes(inset, 8)
        for spine in inset.spines.values():
            spine.set_linewidth(2)
        inset.set_facecolor((0.9, 0.9, 0.9))
        inset.set_title(_title(inset_name, *cells[inset_name]), fontsize=11, pad=4)
    fig.suptitle(
        "Figure 1a as published: paths of |a_k| w_k (end points blue for a_k ≥ 0, red for "
        "a_k < 0), teacher directions dashed, starting circle of radius τ²",
        fontsize=12,
    )
    return fig
