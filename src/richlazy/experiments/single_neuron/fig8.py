"""Figure 8: closed form against gradient flow for a, w1, w2 and ν = w·β*/a (docs/theory.md §2.1).

β* = (0.5, 0.5), seven δ from downstream to upstream, three initial directions of β0. ν is the
Riccati variable of the derivation; it diverges where a crosses zero (downstream only).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import xarray as xr

from richlazy import _validate as check
from richlazy._validate import Checked, option, require
from richlazy.experiments._style import THEORY_STYLE, delta_colors, delta_label, figure
from richlazy.experiments.claims import Claim, Rule
from richlazy.experiments.single_neuron._single_neuron import (
    exact_rule,
    paired_trajectories,
    relative_error,
)
from richlazy.experiments.spec import Experiment
from richlazy.sweeps import RunContext


@dataclass(frozen=True)
class Config(Checked):
    """Settings of Figure 8 (the paper's)."""

    deltas: tuple[float, ...] = option((-2.0, -1.0, -0.2, 0.02, 0.2, 1.0, 2.0), check.tuple_of())
    beta_star: tuple[float, float] = (0.5, 0.5)
    directions: tuple[tuple[float, float], ...] = ((0.0, -1.0), (1.0, -1.0), (1.0, 1.0))
    t_max: float = option(10.0, check.positive_float)
    time_points: int = option(1001, check.whole(2))
    rtol: float = 1e-12

    def __post_init__(self):
        super().__post_init__()
        require(all(np.any(d) for d in self.directions), "directions must be non-zero")
        # closed form and simulation of (a, w1, w2), float64, at every (direction, δ, t)
        cells = len(self.directions) * len(self.deltas)
        check.fits_memory("time_points, deltas, directions", 8 * 6 * cells * self.time_points)


QUICK = Config(time_points=301)
PRESETS = {"quick": QUICK, "paper": Config(), "smoke": replace(QUICK, time_points=41)}


def run(config: Config, context: RunContext) -> xr.Dataset:
    """Closed form and simulation for every (initial direction, δ)."""
    beta_star = np.array(config.beta_star)
    directions = np.array(config.directions, dtype=float)
    beta0 = directions / np.linalg.norm(directions, axis=1, keepdims=True)  # unit β0
    t = np.linspace(0.0, config.t_max, config.time_points)
    closed, simulated = paired_trajectories(
        beta0[:, None, :], np.array(config.deltas)[None, :], beta_star, t, rtol=config.rtol
    )
    dims = ("init", "delta", "t")
    variables = {"relative_error": (("init", "delta"), relative_error(closed, simulated))}
    for suffix, trajectory in (("", closed), ("_simulated", simulated)):
        with np.errstate(divide="ignore", invalid="ignore"):
            nu = trajectory.w @ beta_star / trajectory.a
        variables |= {
            f"a{suffix}": (dims, trajectory.a),
            f"w{suffix}": ((*dims, "component"), trajectory.w),
            f"nu{suffix}": (dims, nu),
        }
    labels = [f"({d[0]:g}, {d[1]:g})" for d in config.directions]
    return xr.Dataset(
        variables,
        coords={"init": labels, "delta": list(config.deltas), "t": t, "component": ["w1", "w2"]},
    )


def plot(results: xr.Dataset, config: Config) -> dict:
    """Rows: initial directions of β0. Columns: a, w1, w2, ν; simulation solid, theory dashed."""
    fig = figure(16, 3.2 * results.init.size)
    axes = fig.subplots(results.init.size, 4, squeeze=False)
    colors = delta_colors(results.delta.values)
    for row, init in enumerate(results.init.values):
        panels = [("a", None, "a"), ("w", "w1", "w1"), ("w", "w2", "w2"), ("nu", None, "ν")]
        for ax, (name, component, title) in zip(axes[row], panels, strict=True):
            for color, delta in zip(colors, results.delta.values, strict=True):
                select = {"init": init, "delta": delta}
                if component:
                    select["component"] = component
                for suffix, style in (
                    ("_simulated", {"color": color, "linewidth": 2.5}),
                    ("", THEORY_STYLE),
                ):
                    values = results[name + suffix].sel(select).values
                    if name == "nu":  # hide the divergence where a crosses zero
                        values = np.where(np.abs(values) < 5, values, np.nan)
                    ax.plot(
                        results.t, values, **style, label=delta_label(delta) if suffix else None
                    )
            ax.set(title=f"{title}, β0 ∥ {init}", xlabel="t")
            ax.grid(alpha=0.3)
    axes[0, 0].plot([], [], **THEORY_STYLE, label="closed form")
    axes[0, 0].legend(fontsize=7, ncols=2)
    fig.suptitle("Figure 8: closed form (dashed) against gradient flow (solid)")
    return {"fig8": fig}


def headline(results: xr.Dataset, config: Config) -> dict[str, str]:
    return {
        "closed form vs integrator (max rel. error)": f"{float(results.relative_error.max()):.1e}"
    }


EXACT = exact_rule(
    "the exact solution matches gradient flow for a, w1, w2 and ν",
    "Figure 8",
    over="every β0 and δ",
)
SIGN = Rule(
    "for δ > 0, a keeps its sign; only for δ < 0 can a cross 0, where ν diverges",
    "Figure 8",
    "simulated runs in which a(t) changes sign",
    "none at δ > 0",
)


RULES = (EXACT, SIGN)


def claims(results: xr.Dataset, config: Config) -> list[Claim]:
    """Figure 8's claims: the closed form, and where ν = w·β*/a diverges (docs/theory.md §2.1)."""
    found = [EXACT.of(float(results.relative_error.max()))]
    sign = np.sign(results.a_simulated)
    crossed = (sign.diff("t") != 0).any("t")  # (init, delta)
    upstream = crossed.sel(delta=results.delta > 0)
    downstream = crossed.sel(delta=results.delta < 0)
    if upstream.size == 0:
        return [*found, SIGN.not_measured("no δ > 0")]
    measured = (
        f"{int(upstream.sum())} of {upstream.size} at δ > 0, "
        f"{int(downstream.sum())} of {downstream.size} at δ < 0"
    )
    return [*found, SIGN.decide(not bool(upstream.any()), measured)]


EXPERIMENT = Experiment("fig8", PRESETS, run, plot, headline, claims=claims, rules=RULES)
