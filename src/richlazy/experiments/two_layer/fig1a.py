"""Figure 1a: how the hidden neurons of a two-layer ReLU student move, lazy vs rich.

Teacher–student in d = 2 (docs/theory.md §5.1): the trajectories of |a_k| w_k for every hidden
neuron, with the teacher's neurons drawn as directions. Large τ (lazy): neurons barely move.
Small τ balanced (rich): they align with the teacher. Small τ upstream (δ > 0): they align
fast and move mostly in direction. Small τ downstream (δ < 0): the readouts move and the
directions stay put, like a kernel method on fixed random features.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import xarray as xr

from richlazy._validate import require
from richlazy.experiments._style import delta_label, figure
from richlazy.experiments.claims import Claim, Rule, at_least, at_most, much_larger, number
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


QUICK = Config(method="gf", rtol=1e-4)
PRESETS = {
    "paper": Config(),
    # Same problem and time horizon; gradient flow with adaptive steps instead of 1e6 GD steps
    # (about 1.8e4 gradient evaluations per network, seconds on a laptop).
    "quick": QUICK,
    # seconds: the tests' run of every experiment
    "smoke": replace(QUICK, steps=1000),
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
    return sweep(config, context, config.dataset, "fig1a", extra=_parameters)


def plot(results: xr.Dataset, config: Config) -> dict:
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


def headline(results: xr.Dataset, config: Config) -> dict[str, str]:
    final = results.isel(step=-1, seed=0)
    lines = {}
    for tau, delta in CELLS:
        cell = final.sel(tau=tau, delta=delta, method="nearest")
        lines[f"τ = {tau:g}, δ = {delta:+g}"] = (
            f"train loss {float(cell.train_loss):.1e}, S(0, t) {float(cell.kernel_distance):.2f}"
        )
    return lines


_WHERE = "Figure 1a"
LAZY = at_most(
    "lazy (large τ): the neurons barely move",
    _WHERE,
    "mean ‖|a_k| w_k(T) − |a_k| w_k(0)‖ / mean ‖|a_k| w_k(0)‖, lazy cell",
    0.1,
)
RICH = much_larger(
    "rich (small τ): the kernel changes; lazy (large τ): it does not",
    _WHERE,
    "kernel distance S(0, T) on the training set",
    names=("S balanced", "S lazy"),
)
FAST = Rule(
    "upstream (δ > 0): rapid rich learning, faster than balanced",
    _WHERE,
    "gradient-flow time until the train loss is at most 1% of its initial value",
    "earlier upstream than balanced",
    expected="upstream first",
)
TURNS = much_larger(
    "upstream neurons turn; downstream ones keep their directions, only sizes change",
    _WHERE,
    "mean |change of direction| of the neurons |a_k| w_k, radians",
    names=("upstream", "downstream"),
)
ALIGNED = at_least(
    "upstream (δ > 0): striking alignment of the neurons to the teacher",
    _WHERE,
    "cosine between each neuron |a_k| w_k(T) and its nearest teacher direction, mean weighted "
    "by ‖|a_k| w_k(T)‖, upstream cell",
    0.9,
    expected="near 1 (the neurons end on the teacher's dotted lines)",
)


RULES = (LAZY, RICH, FAST, TURNS, ALIGNED)


def claims(results: xr.Dataset, config: Config) -> list[Claim]:
    """Figure 1a's claims, from the stored paths of |a_k| w_k (first seed).

    The cells are the grid's corners, as in the reference: lazy (largest τ, δ nearest 0) and,
    at the smallest τ, balanced (δ nearest 0), upstream (largest δ) and downstream (smallest δ).
    Claims about where training ends are decided only for cells whose train loss has fallen
    to 1% of its initial value by the last checkpoint.
    """
    runs = results.isel(seed=0)
    taus, deltas = results.tau.values, results.delta.values
    zero = deltas[np.argmin(np.abs(deltas))]
    cells = {
        "lazy": (taus.max(), zero),
        "balanced": (taus.min(), zero),
        "upstream": (taus.min(), deltas.max()),
        "downstream": (taus.min(), deltas.min()),
    }
    cell = {name: runs.sel(tau=tau, delta=delta) for name, (tau, delta) in cells.items()}
    label = {name: f"τ = {tau:g}, {delta_label(delta)}" for name, (tau, delta) in cells.items()}
    paths = {name: cell[name].scaled_weight.values for name in cells}  # (C, m, 2) each
    teacher = results.teacher.isel(seed=0).values  # (m0, 2)
    teacher = teacher / np.linalg.norm(teacher, axis=1, keepdims=True)

    def moved(name):  # mean ‖Δ(|a_k| w_k)‖ over mean ‖|a_k| w_k(0)‖
        start, end = paths[name][[0, -1]]
        return np.linalg.norm(end - start, axis=-1).mean() / np.linalg.norm(start, axis=-1).mean()

    def turned(name):  # mean |change of direction| of the neurons, radians in [0, π]
        start, end = paths[name][[0, -1]]
        change = np.arctan2(end[:, 1], end[:, 0]) - np.arctan2(start[:, 1], start[:, 0])
        return float(np.abs(np.angle(np.exp(1j * change))).mean())

    def alignment(name):  # norm-weighted mean cosine to the nearest teacher direction
        end = paths[name][-1]
        size = np.linalg.norm(end, axis=1)
        cosine = (end / np.maximum(size, 1e-300)[:, None]) @ teacher.T  # (m, m0)
        return float((cosine.max(axis=1) * size).sum() / size.sum())

    def fit_time(name):  # first time the train loss is at most 1% of its initial value
        loss, time = cell[name].train_loss.values, cell[name].time.values
        reached = np.flatnonzero(loss <= 0.01 * loss[0])
        return float(time[reached[0]]) if reached.size else np.inf

    def cells_of(*names):
        return "; ".join(f"{name}: {label[name]}" for name in names)

    kernel = {name: float(cell[name].kernel_distance.isel(step=-1)) for name in cells}
    fast, slow = fit_time("upstream"), fit_time("balanced")
    others = (
        f"the same measure: {number(alignment('downstream'))} downstream, "
        f"{number(alignment('balanced'))} balanced, {number(alignment('lazy'))} lazy"
    )
    # (rule, the cells it compares, what the grid must hold, its claim when decidable)
    grid = {"scales": taus.size >= 2, "geometries": deltas.min() < zero < deltas.max()}
    candidates = [
        (LAZY, ("lazy",), "scales", lambda: LAZY.of(moved("lazy"), note=cells_of("lazy"))),
        (
            RICH,
            ("balanced", "lazy"),
            "scales",
            lambda: RICH.of(kernel["balanced"], kernel["lazy"], note=cells_of("balanced", "lazy")),
        ),
        (
            FAST,
            (),
            "geometries",
            lambda: FAST.decide(
                fast < slow,
                f"t = {number(fast)} upstream, t = {number(slow)} balanced",
                note=cells_of("upstream", "balanced"),
            ),
        ),
        (
            TURNS,
            ("upstream", "downstream"),
            "geometries",
            lambda: TURNS.of(
                turned("upstream"),
                turned("downstream"),
                note=cells_of("upstream", "downstream"),
            ),
        ),
        (
            ALIGNED,
            ("upstream",),
            "geometries",
            lambda: ALIGNED.of(alignment("upstream"), note=f"{cells_of('upstream')}; {others}"),
        ),
    ]
    found = []
    for rule, compared, needs, claim in candidates:
        unfit = [name for name in compared if not np.isfinite(fit_time(name))]
        if not grid[needs]:
            reason = (
                f"the grid lacks the {needs} the claim compares (τ small and large; δ < 0, 0, > 0)"
            )
        elif unfit or (not compared and not np.isfinite(min(fast, slow))):
            which = ", ".join(unfit) or "upstream or balanced"
            reason = (
                f"the run ends before the train loss of {which} falls to 1% of its initial "
                "value: too short to see where training ends"
            )
        else:
            found.append(claim())
            continue
        found.append(rule.not_measured(reason))
    return found


EXPERIMENT = Experiment("fig1a", PRESETS, run, plot, headline, claims=claims, rules=RULES)
