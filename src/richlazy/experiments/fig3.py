"""Figure 3: signed magnitude, alignment and kernel distance of the single neuron over time.

Closed form (docs/theory.md §2.1) drawn dashed over an independent DOP853 simulation of gradient
flow, for δ from downstream to upstream; whitened data in d = 2, β* = (0, 1), β0 = (−1, 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import xarray as xr

from richlazy.experiments._single_neuron import DeltaSweep, trajectory_variables
from richlazy.experiments._style import THEORY_STYLE, delta_colors, delta_label, figure
from richlazy.experiments.spec import Experiment
from richlazy.sweeps import RunContext


@dataclass(frozen=True)
class Config(DeltaSweep):
    """Settings of Figure 3 (defaults: the paper's, from its notebook)."""


PRESETS = {"quick": Config(time_points=201), "paper": Config()}


def run(config: Config, context: RunContext) -> xr.Dataset:
    """Closed form and simulation for every δ (docs/theory.md §2.1)."""
    t, closed, simulated = config.trajectories()
    return xr.Dataset(
        trajectory_variables(closed, simulated, ("delta",)),
        coords=config.coords(t, ["w1", "w2"]),
        attrs=config.attrs(),
    )


def plot(results: xr.Dataset) -> dict:
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


def headline(results: xr.Dataset) -> dict[str, str]:
    final = results.kernel_distance.isel(t=-1)
    return {
        "closed form vs integrator (max rel. error)": f"{float(results.relative_error.max()):.1e}",
        "S(0, t_max) downstream→upstream": ", ".join(f"{float(v):.2f}" for v in final.values),
    }


EXPERIMENT = Experiment(
    name="fig3",
    presets=PRESETS,
    run=run,
    plot=plot,
    headline=headline,
)
