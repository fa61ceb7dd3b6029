"""Figure 3: signed magnitude, alignment and kernel distance of the single neuron over time.

Closed form (docs/theory.md §2.1) drawn dashed over an independent DOP853 simulation of gradient
flow, for δ from downstream to upstream; whitened data in d = 2, β* = (0, 1), β0 = (−1, 0).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import xarray as xr

from richlazy.experiments._style import THEORY_STYLE, by_delta, delta_colors, delta_label, figure
from richlazy.experiments.claims import Claim, Rule, number
from richlazy.experiments.single_neuron._single_neuron import DeltaSweep, exact_rule
from richlazy.experiments.spec import Experiment
from richlazy.sweeps import RunContext


@dataclass(frozen=True)
class Config(DeltaSweep):
    """Settings of Figure 3 (defaults: the paper's, from its notebook)."""


QUICK = Config(time_points=201)
PRESETS = {"quick": QUICK, "paper": Config(), "smoke": replace(QUICK, time_points=41)}


def run(config: Config, context: RunContext) -> xr.Dataset:
    """Closed form and simulation for every δ (docs/theory.md §2.1)."""
    return config.results()


def plot(results: xr.Dataset, config: Config) -> dict:
    """Three panels against t: signed magnitude μ, alignment φ, kernel distance S(0, t)."""
    fig = figure(13, 3.8)
    axes = fig.subplots(1, 3)
    panels = (
        ("mu", "signed magnitude  μ = a‖w‖"),
        ("phi", "alignment  φ = ŵ·β̂*"),
        ("kernel_distance", "kernel distance  S(0, t)"),
    )
    colors = delta_colors(results.delta.values)
    for ax, (name, title) in zip(axes, panels, strict=True):
        for color, delta in zip(colors, results.delta.values, strict=True):
            ax.plot(
                results.t,
                results[f"{name}_simulated"].sel(delta=delta),
                color=color,
                linewidth=2.5,
                label=delta_label(delta),
            )
            ax.plot(results.t, results[name].sel(delta=delta), **THEORY_STYLE)
        ax.set(title=title, xlabel="t")
        ax.grid(alpha=0.3)
    axes[0].plot([], [], **THEORY_STYLE, label="closed form")
    axes[0].legend(fontsize=8, ncols=2)
    fig.suptitle(
        "Figure 3: downstream (brown) to upstream (teal); simulation solid, closed form dashed"
    )
    return {"fig3": fig}


def headline(results: xr.Dataset, config: Config) -> dict[str, str]:
    final = results.kernel_distance.isel(t=-1)
    return {
        "closed form vs integrator (max rel. error)": f"{float(results.relative_error.max()):.1e}",
        "S(0, t_max) downstream→upstream": ", ".join(f"{float(v):.2f}" for v in final.values),
    }


EXACT = exact_rule(
    "the exact solution matches gradient flow (μ, φ and S(0, t): dashed over solid)", "Figure 3"
)
ORDERED = Rule(
    "upstream is lazy, balanced and downstream rich: the kernel moves less as δ grows",
    "Figure 3",
    "kernel distance S(0, t_max), from the smallest δ to the largest",
    "decreases strictly as δ increases",
)
DELAYED = Rule(
    "downstream is delayed rich: its kernel moves later than the balanced one",
    "Figure 3",
    "first time S(0, t) reaches half of S(0, t_max)",
    "later at the smallest δ than at δ = 0",
)


RULES = (EXACT, ORDERED, DELAYED)


def claims(results: xr.Dataset, config: Config) -> list[Claim]:
    """Figure 3's claims, from the simulated kernel distances (docs/theory.md §2)."""
    found = [EXACT.of(float(results.relative_error.max()))]
    kernel = results.kernel_distance_simulated.sortby("delta")  # (delta, t)
    deltas, final = kernel.delta.values, kernel.isel(t=-1).values
    if deltas.size < 2:
        found.append(ORDERED.not_measured("one δ only"))
    else:
        found.append(ORDERED.decide(bool(np.all(np.diff(final) < 0)), by_delta(deltas, final)))
    if not (deltas.min() < 0 and 0 in deltas):
        return [*found, DELAYED.not_measured("no δ < 0 or no δ = 0 stored")]
    t = kernel.t.values

    def half_time(delta):
        values = kernel.sel(delta=delta).values
        return float(t[np.argmax(values >= 0.5 * values[-1])])

    late, balanced = half_time(deltas.min()), half_time(0.0)
    measured = f"t = {number(late)} at {delta_label(deltas.min())}, t = {number(balanced)} at δ = 0"
    return [*found, DELAYED.decide(late > balanced, measured)]


EXPERIMENT = Experiment("fig3", PRESETS, run, plot, headline, claims=claims, rules=RULES)
