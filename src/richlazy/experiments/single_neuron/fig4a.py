"""Figure 4a: function-space trajectories β(t) = a(t)w(t) for each δ over the loss contours.

Whitened data, β* = (0, 1), β0 = (−1, 0): upstream (teal) moves straight like linear
regression (lazy), downstream (brown) first shrinks ‖β‖ then turns (delayed rich).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import xarray as xr

from richlazy.experiments._style import by_delta, delta_colors, delta_label, figure
from richlazy.experiments.claims import Claim, Rule, at_most, number
from richlazy.experiments.single_neuron._single_neuron import DeltaSweep, exact_rule, relative_error
from richlazy.experiments.spec import Experiment
from richlazy.sweeps import RunContext


@dataclass(frozen=True)
class Config(DeltaSweep):
    """Settings of Figure 4a (the paper's δ and initialization)."""

    t_max: float = 60.0
    time_points: int = 1501


QUICK = Config(time_points=401)
PRESETS = {"quick": QUICK, "paper": Config(), "smoke": replace(QUICK, time_points=61)}


def run(config: Config, context: RunContext) -> xr.Dataset:
    """β(t) in closed form and simulated, for every δ."""
    t, closed, simulated = config.trajectories()
    dims = ("delta", "t", "component")
    return xr.Dataset(
        {
            "beta": (dims, closed.beta),
            "beta_simulated": (dims, simulated.beta),
            "relative_error": (("delta",), relative_error(closed, simulated)),
        },
        coords=config.coords(t, ["beta1", "beta2"]),
    )


def plot(results: xr.Dataset, config: Config) -> dict:
    """Trajectories over filled contours of L(β) = ½‖β − β*‖²."""
    beta_star = np.array(config.beta_star)
    fig = figure(6, 5.5)
    ax = fig.subplots()
    grid = np.linspace(-1.6, 1.6, 200)
    b1, b2 = np.meshgrid(grid, grid)
    loss = 0.5 * ((b1 - beta_star[0]) ** 2 + (b2 - beta_star[1]) ** 2)
    ax.contourf(b1, b2, loss, levels=20, cmap="Greys", alpha=0.35)
    ax.contour(b1, b2, loss, levels=10, colors="grey", linewidths=0.5)
    for color, delta in zip(delta_colors(results.delta.values), results.delta.values, strict=True):
        beta = results.beta.sel(delta=delta).values
        ax.plot(beta[:, 0], beta[:, 1], color=color, linewidth=2.5, label=delta_label(delta))
    beta0 = np.array(config.beta0)
    ax.scatter(*beta0, color="black", zorder=3, label="β0")
    ax.scatter(*beta_star, marker="*", s=200, color="red", zorder=3, label="β*")
    ax.set(
        xlabel="β1",
        ylabel="β2",
        aspect="equal",
        xlim=(-1.6, 1.6),
        ylim=(-1.6, 1.6),
        title="Figure 4a: function-space trajectories",
    )
    ax.legend(fontsize=8, loc="lower right")
    return {"fig4a": fig}


def headline(results: xr.Dataset, config: Config) -> dict[str, str]:
    end = results.beta.isel(t=-1) - xr.DataArray(list(config.beta_star), dims="component")
    return {
        "closed form vs integrator (max rel. error)": f"{float(results.relative_error.max()):.1e}",
        "max ‖β(t_max) − β*‖": f"{float(np.sqrt((end**2).sum('component')).max()):.1e}",
    }


EXACT = exact_rule("the exact solution matches gradient flow in function space", "Figure 4a")
SAME_MINIMUM = at_most(
    "every δ reaches the same minimum β* (whitened data: one global minimum)",
    "Figure 4a",
    "max over δ of ‖β(t_max) − β*‖, simulated",
    1e-3,
    expected="0",
)
STRAIGHT = Rule(
    "upstream moves straight to β*, like linear regression; downstream curves",
    "Figure 4a",
    "max over t of the distance of β(t) from the segment β0 → β*, over the segment's length",
    "decreases strictly as δ increases",
    expected="→ 0 as δ → +∞",
)
SHRINKS = Rule(
    "downstream first shrinks ‖β‖, then turns towards β*",
    "Figure 4a",
    "min over t of ‖β(t)‖ at the smallest δ",
    "≤ half of min(‖β0‖, ‖β*‖)",
    expected="near 0 as δ → −∞",
)


RULES = (EXACT, SAME_MINIMUM, STRAIGHT, SHRINKS)


def claims(results: xr.Dataset, config: Config) -> list[Claim]:
    """Figure 4a's claims, from the simulated function-space trajectories (docs/theory.md §2)."""
    beta = results.beta_simulated.sortby("delta")  # (delta, t, component)
    deltas = beta.delta.values
    beta_star, beta0 = np.array(config.beta_star), np.array(config.beta0)
    path = beta.values - beta0  # (δ, T, 2), from β0
    segment = beta_star - beta0
    along = path @ segment / (segment @ segment)  # (δ, T)
    off = np.linalg.norm(path - along[..., None] * segment, axis=-1).max(axis=1)  # (δ,)
    off /= np.linalg.norm(segment)
    norm = np.linalg.norm(beta.values, axis=-1)  # (δ, T)
    end = np.linalg.norm(beta.values[:, -1] - beta_star, axis=-1)
    found = [EXACT.of(float(results.relative_error.max())), SAME_MINIMUM.of(float(end.max()))]
    if deltas.size < 2:
        found.append(STRAIGHT.not_measured("one δ only"))
    else:
        found.append(STRAIGHT.decide(bool(np.all(np.diff(off) < 0)), by_delta(deltas, off)))
    bound = 0.5 * min(np.linalg.norm(beta0), np.linalg.norm(beta_star))
    if deltas.min() >= 0:
        return [*found, SHRINKS.not_measured("no δ < 0 stored")]
    smallest = float(norm[0].min())
    measured = f"{number(smallest)} at {delta_label(deltas.min())}; half: {number(bound)}"
    return [*found, SHRINKS.decide(smallest <= bound, measured)]


EXPERIMENT = Experiment("fig4a", PRESETS, run, plot, headline, claims=claims, rules=RULES)
