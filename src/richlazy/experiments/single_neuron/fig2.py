"""Figure 2: parameter-space geometry of the single neuron for δ = −2, 0, 2.

Each panel shows, in (w1, w2, a), the conserved surface a² − ‖w‖² = δ (one-sheet hyperboloid,
cone, two-sheet hyperboloid), colored by the loss, the exact trajectory on it (docs/theory.md §2.1),
and the manifold of global minima a·w = β*.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import xarray as xr
from matplotlib.colors import LogNorm

from richlazy import _validate as check
from richlazy._validate import option
from richlazy.experiments._style import delta_label, figure
from richlazy.experiments.claims import Claim, agrees
from richlazy.experiments.single_neuron._single_neuron import DeltaSweep, cube_axes, exact_rule
from richlazy.experiments.spec import Experiment
from richlazy.sweeps import RunContext


@dataclass(frozen=True)
class Config(DeltaSweep):
    """Settings of Figure 2 (the paper's: β* = (0, 1), β0 = (−1, 0), a0 > 0)."""

    deltas: tuple[float, ...] = (-2.0, 0.0, 2.0)
    time_points: int = 1001
    box: float = option(2.0, check.positive_float)  # half-width of the plotted cube


QUICK = Config(time_points=301)
PRESETS = {"quick": QUICK, "paper": Config(), "smoke": replace(QUICK, time_points=41)}


def run(config: Config, context: RunContext) -> xr.Dataset:
    """Exact trajectories for each δ, checked against a simulation."""
    return config.results()


def conserved_surface(delta: float, box: float, points: int = 80) -> list[tuple]:
    """Sheets (w1, w2, a) of a² − ‖w‖² = δ inside the cube of half-width ``box``."""
    angle = np.linspace(0, 2 * np.pi, points)
    if delta > 0:  # two sheets a = ±√(ρ² + δ)
        rho, angle = np.meshgrid(np.linspace(0, box, points), angle)
        a = np.sqrt(rho**2 + delta)
        return [(rho * np.cos(angle), rho * np.sin(angle), sign * a) for sign in (1, -1)]
    a, angle = np.meshgrid(np.linspace(-box, box, points), angle)  # one sheet or the cone
    rho = np.sqrt(a**2 - delta)
    return [(rho * np.cos(angle), rho * np.sin(angle), a)]


def _loss(w1, w2, a, beta_star):
    return 0.5 * ((a * w1 - beta_star[0]) ** 2 + (a * w2 - beta_star[1]) ** 2)


def plot(results: xr.Dataset, config: Config) -> dict:
    """One 3-D panel per δ: surface colored by loss, trajectory, minima a·w = β*."""
    beta_star, box = np.array(config.beta_star), config.box
    deltas = results.delta.values
    fig = figure(5 * len(deltas), 5)
    norm = LogNorm(1e-2, 10)
    cmap = _cmap()
    for index, delta in enumerate(deltas):
        ax = fig.add_subplot(1, len(deltas), index + 1, projection="3d", computed_zorder=False)
        for w1, w2, a in conserved_surface(delta, box):
            inside = (np.abs(w1) <= box) & (np.abs(w2) <= box) & (np.abs(a) <= box)
            colors = cmap(norm(np.clip(_loss(w1, w2, a, beta_star), 1e-2, 10)))
            colors[~inside, 3] = 0.0
            colors[inside, 3] = 0.35
            ax.plot_surface(
                np.where(inside, w1, np.nan),
                np.where(inside, w2, np.nan),
                np.where(inside, a, np.nan),
                facecolors=colors,
                shade=False,
                linewidth=0,
                rstride=1,
                cstride=1,
            )
        s = np.linalg.norm(beta_star)
        for sign in (1, -1):  # minima: w = β*/a, for |a| with ‖w‖ inside the cube
            a = sign * np.linspace(s / box, box, 200)
            ax.plot(beta_star[0] / a, beta_star[1] / a, a, color="red", linewidth=2.5)
        w, a = results.w.sel(delta=delta).values, results.a.sel(delta=delta).values
        ax.plot(w[:, 0], w[:, 1], a, color="black", linewidth=2)
        ax.scatter(*w[0], a[0], color="black", s=25)
        ax.scatter(*w[-1], a[-1], color="red", edgecolor="black", s=40, depthshade=False)
        cube_axes(ax, box, delta_label(delta))
        ax.view_init(elev=18, azim=-60)
    fig.suptitle(
        "Figure 2: conserved surface a² − ‖w‖² = δ (colored by loss), trajectory "
        "(black) and global minima a·w = β* (red)"
    )
    return {"fig2": fig}


def _cmap():
    from matplotlib import colormaps

    return colormaps["RdBu"]


def headline(results: xr.Dataset, config: Config) -> dict[str, str]:
    drift = np.abs(results.a**2 - (results.w**2).sum("component") - results.delta).max()
    return {
        "closed form vs integrator (max rel. error)": f"{float(results.relative_error.max()):.1e}",
        "max drift of δ along the closed form": f"{float(drift):.1e}",
    }


CONSERVED = agrees(
    "δ = a² − ‖w‖² is conserved: each trajectory stays on its surface (a hyperboloid of one "
    "sheet, a cone, or of two sheets)",
    "Figure 2",
    "max over δ and t of |a² − ‖w‖² − δ| / max(1, |δ|) along gradient flow, integrated "
    "independently (DOP853)",
)
EXACT = exact_rule("the exact solution is the gradient-flow trajectory on the surface", "Figure 2")


RULES = (CONSERVED, EXACT)


def claims(results: xr.Dataset, config: Config) -> list[Claim]:
    """Figure 2's claims, from the stored trajectories (docs/theory.md §2, §2.1)."""
    a, w = results.a_simulated, results.w_simulated
    drift = np.abs(a**2 - (w**2).sum("component") - results.delta) / np.maximum(
        1.0, np.abs(results.delta)
    )
    return [CONSERVED.of(float(drift.max())), EXACT.of(float(results.relative_error.max()))]


EXPERIMENT = Experiment("fig2", PRESETS, run, plot, headline, claims=claims, rules=RULES)
