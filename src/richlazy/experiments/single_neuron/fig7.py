"""Figure 7: basins of attraction of the single neuron (docs/theory.md §2.1–2.2).

Gradient flow has two global minima in parameter space, ±(a∞, w∞). For δ ≤ 0 the surface
w·β* = a·r₋(δ) (the stable manifold of the saddle β = 0; A = 0 in the closed form) separates the
initializations that keep the sign of a from those that cross a = 0. Pairs of initializations a
distance ε on either side of it, at a = −4, end in different basins.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.colors import LogNorm

from richlazy import _validate as check
from richlazy import single_neuron as sn
from richlazy._validate import Checked, option, require
from richlazy.experiments._style import delta_label, figure
from richlazy.experiments.claims import Claim, Rule
from richlazy.experiments.single_neuron._single_neuron import cube_axes, exact_rule, relative_error
from richlazy.experiments.spec import Experiment
from richlazy.sweeps import RunContext


@dataclass(frozen=True)
class Config(Checked):
    """Settings of Figure 7 (the paper's notebook)."""

    # finite and <= 0: the separating surface exists only there
    deltas: tuple[float, ...] = option(
        (0.0, -2.0, -10.0), check.tuple_of(check.interval(-np.inf, 0, "(]"))
    )
    beta_star: tuple[float, float] = (1.0, 0.25)
    a_on_surface: float = -4.0
    epsilon: float = option(1e-3, check.positive_float)
    t_max: float = option(200.0, check.positive_float)
    time_points: int = option(2001, check.whole(2))
    rtol: float = 1e-12
    box: float = 5.0

    def __post_init__(self):
        super().__post_init__()
        require(self.a_on_surface != 0, "a_on_surface must be non-zero")
        # a trajectory of (a, w1, w2), float64, at every (δ, t)
        check.fits_memory("time_points, deltas", 8 * 3 * len(self.deltas) * self.time_points)


QUICK = Config(time_points=601)
PRESETS = {"quick": QUICK, "paper": Config(), "smoke": replace(QUICK, time_points=121)}


def r_minus(delta: np.ndarray, s: float) -> np.ndarray:
    """r₋ = (−δ − √(δ² + 4s²))/2, without cancellation for δ ≤ 0 (docs/theory.md §2.1)."""
    return -2 * s**2 / (np.hypot(delta, 2 * s) - delta)


def separatrix_point(
    a: np.ndarray, delta: np.ndarray, beta_star: np.ndarray, branch: float = 1.0
) -> np.ndarray:
    """w on the separating surface: w·β* = a r₋(δ) and ‖w‖² = a² − δ. Shape (..., 2)."""
    s = np.linalg.norm(beta_star)
    along, normal = beta_star / s, np.array([-beta_star[1], beta_star[0]]) / s
    alpha = a * r_minus(delta, s) / s
    gamma = branch * np.sqrt(np.maximum(a**2 - delta - alpha**2, 0.0))
    return alpha[..., None] * along + gamma[..., None] * normal


def run(config: Config, context: RunContext) -> xr.Dataset:
    """Trajectories from both sides of the separating surface, for each δ."""
    beta_star = np.array(config.beta_star)
    deltas = np.array(config.deltas)
    w0 = separatrix_point(np.full(deltas.shape, config.a_on_surface), deltas, beta_star)
    sides = np.array([1.0, -1.0])
    a0 = np.full((deltas.size, 1), config.a_on_surface) + config.epsilon * sides  # (δ, side)
    w0 = np.broadcast_to(w0[:, None, :], (*a0.shape, 2))  # (δ, side, 2)
    t = np.concatenate([[0.0], np.logspace(-3, np.log10(config.t_max), config.time_points - 1)])
    closed = sn.exact_trajectory(a0, w0, beta_star, t)
    simulated = sn.gradient_flow(a0, w0, np.eye(2), beta_star, t, rtol=config.rtol)
    beta = closed.beta
    norm = np.linalg.norm(beta, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        alignment = np.where(norm > 0, beta @ beta_star / (norm * np.linalg.norm(beta_star)), 0)
    dims = ("delta", "side", "t")
    return xr.Dataset(
        {
            "a": (dims, closed.a),
            "w": ((*dims, "component"), closed.w),
            "a_simulated": (dims, simulated.a),
            "alignment": (dims, alignment),
            "beta_norm": (dims, norm),
            "relative_error": (("delta", "side"), relative_error(closed, simulated)),
        },
        coords={"delta": deltas, "side": sides, "t": t, "component": ["w1", "w2"]},
    )


def plot(results: xr.Dataset, config: Config) -> dict:
    """3-D separating surface with trajectories, and alignment and ‖β‖ over time."""
    beta_star, box = np.array(config.beta_star), config.box
    fig = figure(17, 5.5)
    grid = fig.add_gridspec(1, 3, width_ratios=[1.4, 1, 1])
    ax3d = fig.add_subplot(grid[0], projection="3d", computed_zorder=False)
    delta_grid, a_grid = np.meshgrid(
        -np.geomspace(1e-8, 2 * box**2, 60)[::-1], np.linspace(-box, box, 60), indexing="ij"
    )
    norm, cmap = LogNorm(1e-2, 1e3), colormaps["RdBu"]
    for branch in (1.0, -1.0):
        w = separatrix_point(a_grid, delta_grid, beta_star, branch)
        inside = np.all(np.abs(w) <= box, axis=-1)
        loss = 0.5 * np.sum((a_grid[..., None] * w - beta_star) ** 2, axis=-1)
        colors = cmap(norm(np.clip(loss, 1e-2, 1e3)))
        colors[..., 3] = np.where(inside, 0.45, 0.0)
        ax3d.plot_surface(
            np.where(inside, w[..., 0], np.nan),
            np.where(inside, w[..., 1], np.nan),
            np.where(inside, a_grid, np.nan),
            facecolors=colors,
            shade=False,
            linewidth=0,
        )
    s = np.linalg.norm(beta_star)
    for sign in (1, -1):
        a = sign * np.linspace(s / box, box, 300)
        ax3d.plot(beta_star[0] / a, beta_star[1] / a, a, color="red", linewidth=3, zorder=100)
    line = np.linspace(-box, box, 2) / s
    ax3d.plot(-beta_star[1] * line, beta_star[0] * line, 0 * line, color="black", linewidth=2)
    axes = fig.add_subplot(grid[1]), fig.add_subplot(grid[2])
    colors = colormaps["tab10"].colors
    for color, delta in zip(colors, results.delta.values, strict=False):
        for side, style in ((1.0, "-"), (-1.0, "--")):
            run = results.sel(delta=delta, side=side)
            label = f"{delta_label(delta)}, ε {'>' if side > 0 else '<'} 0"
            w, a = run.w.values, run.a.values
            ax3d.plot(w[:, 0], w[:, 1], a, color=color, linestyle=style, linewidth=2, zorder=50)
            ax3d.scatter(*w[[0, -1]].T, a[[0, -1]], color="black", edgecolor=color, s=25, zorder=60)
            axes[0].plot(run.t[1:], run.alignment[1:], color=color, linestyle=style, label=label)
            axes[1].plot(run.t[1:], run.beta_norm[1:], color=color, linestyle=style)
    cube_axes(ax3d, box, "separating surface, minima (red), saddles a = 0 (black)")
    axes[0].set(xlabel="t", ylabel="alignment β̂·β̂*", xscale="log")
    axes[1].set(xlabel="t", ylabel="‖β‖", xscale="log")
    axes[0].legend(fontsize=7)
    fig.suptitle(
        f"Figure 7: initializations ε = {config.epsilon:g} on either side of "
        "the separating surface end in different basins"
    )
    return {"fig7": fig}


def headline(results: xr.Dataset, config: Config) -> dict[str, str]:
    final = np.sign(results.a_simulated.isel(t=-1))
    split = int((final.sel(side=1.0) != final.sel(side=-1.0)).sum())
    return {
        "δ whose two sides end in different basins": f"{split} of {results.delta.size}",
        "closed form vs integrator (max rel. error)": f"{float(results.relative_error.max()):.1e}",
    }


BASINS = Rule(
    "initializations on either side of the separating surface end in different basins",
    "Figure 7",
    "δ whose two initializations (ε either side of the surface) end with opposite signs of a, "
    "simulated",
    "every δ",
    expected="all",
)
EXACT = exact_rule("the exact solution matches gradient flow on both sides", "Figure 7")


RULES = (BASINS, EXACT)


def claims(results: xr.Dataset, config: Config) -> list[Claim]:
    """Figure 7's claims: basins of attraction (docs/theory.md §2.1–2.2)."""
    final = np.sign(results.a_simulated.isel(t=-1))
    split = final.sel(side=1.0) != final.sel(side=-1.0)  # (delta,)
    measured = f"{int(split.sum())} of {split.size} (ε = {config.epsilon:g})"
    return [
        BASINS.decide(bool(split.all()), measured),
        EXACT.of(float(results.relative_error.max())),
    ]


EXPERIMENT = Experiment("fig7", PRESETS, run, plot, headline, claims=claims, rules=RULES)
