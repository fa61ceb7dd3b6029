"""Figure 1a: how the hidden neurons of a two-layer ReLU student move, lazy vs rich.

Teacher–student in d = 2 (docs/theory.md §5.1): the trajectories of |a_k| w_k for every hidden
neuron, with the teacher's neurons drawn as directions. Large τ (lazy): neurons barely move.
Small τ balanced (rich): they align with the teacher. Small τ upstream (δ > 0): they align
fast and move mostly in direction. Small τ downstream (δ < 0): the readouts move and the
directions stay put, like a kernel method on fixed random features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from richlazy._validate import require
from richlazy.experiments._style import delta_label, figure
from richlazy.experiments.spec import Experiment
from richlazy.sweeps import RunContext, TeacherStudentConfig, TrainedGrid, sweep

# The reference's four cells (τ, δ): lazy, balanced rich, upstream rich, downstream.
CELLS = ((2.0, 0.0), (0.1, 0.0), (0.1, 0.9999), (0.1, -0.9999))


@dataclass(frozen=True)
class Config(TeacherStudentConfig):
    """Figure 1a settings (defaults: the reference's, docs/theory.md §5.1).

    The (τ, δ) grid holds the reference's four cells; the other two cells it implies
    (τ = 2 with δ = ±0.9999) are trained too but not drawn.
    """

    taus: tuple[float, ...] = (0.1, 2.0)
    deltas: tuple[float, ...] = (-0.9999, 0.0, 0.9999)
    seeds: tuple[int, ...] = (0,)
    lr: float = 1e-4
    lr_per_tau2: bool = False
    checkpoints_per_decade: int = 20
    d: int = 2
    n: int = 20
    n_test: int = 1000

    def __post_init__(self):
        super().__post_init__()
        require(self.d == 2, f"d must be 2 (the figure is drawn in the input plane), got {self.d}")


PRESETS = {
    "paper": Config(),
    # Same problem and time horizon; gradient flow with adaptive steps instead of 1e6 GD steps
    # (about 1.8e4 gradient evaluations per network, seconds on a laptop).
    "quick": Config(method="gf", rtol=1e-4),
}


def _parameters(config: Config, trained: TrainedGrid, seed: int) -> xr.Dataset:
    """|a_k| w_k at every checkpoint and the teacher, labeled (tau, delta, seed, step, neuron)."""
    shape = (len(config.taus), len(config.deltas), 1)
    scaled = [
        (nets.a.abs()[..., None] * nets.W)[0].cpu().numpy() for nets in trained.result.snapshots
    ]  # C × (K, m, d)
    stacked = np.stack(scaled, axis=1).reshape(
        *shape, len(scaled), config.width, 2
    )  # (τ, δ, 1, C, m, 2)
    teacher = trained.teacher  # (m0, 2)
    dims = ("tau", "delta", "seed", "step", "neuron", "component")
    return xr.Dataset(
        {
            "scaled_weight": (dims, stacked),
            "teacher": (("seed", "teacher_neuron", "component"), teacher[None]),
        },
        coords={"component": ["x1", "x2"]},
    )


def run(config: Config, context: RunContext) -> xr.Dataset:
    """Train the cells and keep every neuron's |a_k| w_k at every checkpoint."""
    results = sweep(config, context, config.dataset, "fig1a", extra=_parameters)
    return results.assign_attrs(d=config.d, n=config.n, width=config.width)


def plot(results: xr.Dataset) -> dict:
    """One panel per reference cell: neuron trajectories over the teacher's directions."""
    fig = figure(4.0 * len(CELLS), 4.3)
    axes = fig.subplots(1, len(CELLS))
    seed = results.seed.values[0]
    teacher = results.teacher.sel(seed=seed).values  # (m0, 2)
    for ax, (tau, delta) in zip(axes, CELLS, strict=True):
        cell = results.sel(tau=tau, delta=delta, method="nearest").sel(seed=seed)
        paths = cell.scaled_weight.values  # (C, m, 2)
        reach = max(np.nanmax(np.abs(paths)), 1e-12) * 1.15
        for j, direction in enumerate(teacher):
            ax.plot(
                [0, reach * direction[0]],
                [0, reach * direction[1]],
                color="black",
                linestyle=":",
                linewidth=1.2,
                label="teacher neurons" if j == 0 else None,
            )
        for k in range(paths.shape[1]):
            ax.plot(paths[:, k, 0], paths[:, k, 1], color="tab:purple", linewidth=0.8, alpha=0.7)
        ax.scatter(paths[0, :, 0], paths[0, :, 1], s=8, color="gray", label="start", zorder=3)
        ax.scatter(paths[-1, :, 0], paths[-1, :, 1], s=12, color="tab:red", label="end", zorder=3)
        ax.set(
            xlim=(-reach, reach),
            ylim=(-reach, reach),
            aspect="equal",
            xlabel="|a_k| w_k1",
            ylabel="|a_k| w_k2",
            title=(
                f"τ = {tau:g}, {delta_label(delta)}\n"
                f"train loss {float(cell.train_loss.isel(step=-1)):.1e}, "
                f"S(0, t) = {float(cell.kernel_distance.isel(step=-1)):.2f}"
            ),
        )
    axes[0].legend(fontsize=8, loc="lower left")
    fig.suptitle("Figure 1a: hidden neurons |a_k| w_k over training; teacher directions dotted")
    return {"fig1a": fig}


def headline(results: xr.Dataset) -> dict[str, str]:
    final = results.isel(step=-1, seed=0)
    lines = {}
    for tau, delta in CELLS:
        cell = final.sel(tau=tau, delta=delta, method="nearest")
        lines[f"τ = {tau:g}, δ = {delta:+g}"] = (
            f"train loss {float(cell.train_loss):.1e}, S(0, t) {float(cell.kernel_distance):.2f}"
        )
    return lines


EXPERIMENT = Experiment(
    name="fig1a",
    presets=PRESETS,
    run=run,
    plot=plot,
    headline=headline,
)
