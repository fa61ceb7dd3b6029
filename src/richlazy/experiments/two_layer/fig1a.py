"""Figure 1a: how the hidden neurons of a two-layer ReLU student move, lazy vs rich.

Teacher–student in d = 2 (docs/theory.md §5.1): the trajectories of |a_k| w_k for every hidden
neuron, with the teacher's neurons drawn as directions. Large τ (lazy): neurons barely move.
Small τ balanced (rich): they align with the teacher. Small τ upstream (δ > 0): they align
fast and move mostly in direction. Small τ downstream (δ < 0): the readouts move and the
directions stay put, like a kernel method on fixed random features.

The paper preset replays the published draw (the reference's plot_fig1a notebook: teacher after
``torch.manual_seed(15)``, students and data after seed 100) and adds the published panels
(``fig1a_published``, drawn by ``richlazy.experiments.two_layer._neuron_paths``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import xarray as xr

from richlazy import _validate as check
from richlazy._validate import option, require
from richlazy.data.reference_draws import reference_dataset
from richlazy.data.tasks import Dataset
from richlazy.experiments._style import delta_label, figure
from richlazy.experiments.claims import Claim, Rule, at_least, at_most, much_larger, number
from richlazy.experiments.spec import Experiment
from richlazy.experiments.two_layer._neuron_paths import published_panels, teacher_directions
from richlazy.sweeps import RunContext, TeacherStudentConfig, TrainedGrid, sweep

# The reference's four cells (τ, δ): lazy, balanced rich, upstream rich, downstream.
CELLS = ((2.0, 0.0), (0.1, 0.0), (0.1, 0.9999), (0.1, -0.9999))


def _seed_or_none(name: str, value: object) -> None:
    """The check of ``teacher_seed``: None, or a seed in [0, 2⁶³ − 1]."""
    if value is not None:
        check.whole(0, check.MAX_SEED)(name, value)


@dataclass(frozen=True)
class Config(TeacherStudentConfig):
    """Figure 1a settings (defaults: the reference's, docs/theory.md §5.1).

    The (τ, δ) grid holds the reference's four cells; the other two cells it implies
    (τ = 2 with δ = ±0.9999) are trained too but not drawn. ``teacher_seed`` (with
    ``seeding="reference"`` only) draws the teacher from a torch stream of its own, as Figure 1a's
    notebook does, and each seed's stream begins with the students
    (``richlazy.data.reference_draws``); None draws it from each seed's stream.
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
    teacher_seed: int | None = option(None, _seed_or_none)

    def __post_init__(self):
        super().__post_init__()
        require(self.d == 2, f"d must be 2 (the figure is drawn in the input plane), got {self.d}")
        require(
            self.teacher_seed is None or self.seeding == "reference",
            "teacher_seed draws the reference's teacher from its own torch stream and needs "
            f"seeding 'reference', got seeding {self.seeding!r} (set teacher_seed to None)",
        )

    def dataset(self, seed: int) -> Dataset:
        """The data of ``seed``; with ``teacher_seed``, Figure 1a's stream (docs/theory.md §5.1)."""
        if self.teacher_seed is None:
            return super().dataset(seed)
        return reference_dataset(
            seed,
            self.taus,
            self.deltas,
            d=self.d,
            n=self.n,
            m=self.width,
            n_test=self.n_test,
            teacher_seed=self.teacher_seed,
        )


# The published draw (the reference's plot_fig1a notebook): the teacher after
# torch.manual_seed(15), the students and the 20 training points after seed 100. The notebook's
# downstream δ is 0.1²(0.1⁻² − 10²) = −0.9999000000000001 in float64; −0.9999 gives the same
# float32 weights (tests/test_reference_draws.py). The test set (1000 points after seed 201) is
# richlazy's: the notebook has none.
PUBLISHED = Config(seeds=(100,), seeding="reference", teacher_seed=15)

QUICK = Config(method="gf", rtol=1e-4)
PRESETS = {
    "paper": PUBLISHED,
    # Same problem and time horizon; gradient flow with adaptive steps instead of 1e6 GD steps
    # (about 1.8e4 gradient evaluations per network, seconds on a laptop).
    "quick": QUICK,
    # seconds: the tests' run of every experiment
    "smoke": replace(QUICK, steps=1000),
}


def _parameters(config: Config, trained: TrainedGrid, seed: int) -> xr.Dataset:
    """|a_k| w_k and a_k at every checkpoint, and the teacher (its neurons s_j u_j and readouts
    s_j), labeled (tau, delta, seed, step, neuron)."""
    shape = (len(config.taus), len(config.deltas), 1)
    snapshots = trained.result.snapshots
    scaled = [(nets.a.abs()[..., None] * nets.W)[0].cpu().numpy() for nets in snapshots]
    stacked = np.stack(scaled, axis=1).reshape(
        *shape, len(scaled), config.width, 2
    )  # C × (K, m, d) -> (τ, δ, 1, C, m, 2)
    readouts = np.stack([nets.a[0].cpu().numpy() for nets in snapshots], axis=1).reshape(
        *shape, len(snapshots), config.width
    )  # C × (K, m) -> (τ, δ, 1, C, m)
    teacher = trained.teacher  # (m0, 2)
    dims = ("tau", "delta", "seed", "step", "neuron", "component")
    return xr.Dataset(
        {
            "scaled_weight": (dims, stacked),
            "readout": (dims[:-1], readouts.astype(np.float64)),
            "teacher": (("seed", "teacher_neuron", "component"), teacher[None]),
            "teacher_readout": (("seed", "teacher_neuron"), trained.teacher_readouts[None]),
        },
        coords={"component": ["x1", "x2"]},
    )


def run(config: Config, context: RunContext) -> xr.Dataset:
    """Train the cells and keep every neuron's |a_k| w_k at every checkpoint."""
    return sweep(config, context, config.dataset, "fig1a", extra=_parameters)


def plot(results: xr.Dataset, config: Config) -> dict:
    """One panel per reference cell: neuron trajectories over the teacher's directions; and the
    published panels (``fig1a_published``: rich with the lazy inset, upstream with the
    downstream inset, in the reference notebook's look)."""
    fig = figure(4.0 * len(CELLS), 4.3)
    axes = fig.subplots(1, len(CELLS))
    seed = results.seed.values[0]
    teacher, readouts = teacher_directions(results, seed)  # (m0, 2) unit directions u_j
    # Without stored readouts (results of an earlier version) a direction's sign is unknown:
    # its line is drawn through the origin both ways.
    inner = -1.0 if readouts is None else 0.0
    for ax, (tau, delta) in zip(axes, CELLS, strict=True):
        cell = results.sel(tau=tau, delta=delta, method="nearest").sel(seed=seed)
        paths = cell.scaled_weight.values  # (C, m, 2)
        reach = max(np.nanmax(np.abs(paths)), 1e-12) * 1.15
        for j, direction in enumerate(teacher):
            ax.plot(
                [inner * reach * direction[0], reach * direction[0]],
                [inner * reach * direction[1], reach * direction[1]],
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
    return {"fig1a": fig, "fig1a_published": published_panels(results)}


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
    "cosine between each neuron |a_k| w_k(T) and its nearest teacher direction u_j among those "
    "whose readout has the sign of a_k(T), mean weighted by ‖|a_k| w_k(T)‖, upstream cell",
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
    teacher, teacher_signs = teacher_directions(results, results.seed.values[0])  # (m0, 2), (m0,)

    def moved(name):  # mean ‖Δ(|a_k| w_k)‖ over mean ‖|a_k| w_k(0)‖
        start, end = paths[name][[0, -1]]
        return np.linalg.norm(end - start, axis=-1).mean() / np.linalg.norm(start, axis=-1).mean()

    def turned(name):  # mean |change of direction| of the neurons, radians in [0, π]
        start, end = paths[name][[0, -1]]
        change = np.arctan2(end[:, 1], end[:, 0]) - np.arctan2(start[:, 1], start[:, 0])
        return float(np.abs(np.angle(np.exp(1j * change))).mean())

    def alignment(name, at=-1):  # norm-weighted mean cosine to the nearest teacher direction
        # u_j, the weights ‖|a_k| w_k(T)‖; the directions at checkpoint ``at`` (0: the share
        # owed to which neurons grew rather than to their turning)
        size = np.linalg.norm(paths[name][-1], axis=1)  # (m,)
        now = paths[name][at]  # (m, 2)
        unit = now / np.maximum(np.linalg.norm(now, axis=1), 1e-300)[:, None]  # (m, 2)
        cosine = unit @ teacher.T  # (m, m0)
        # Only a teacher neuron of the student neuron's readout sign can be matched: a neuron
        # with no such teacher neuron counts 0.
        same = np.sign(cell[name].readout.values[-1])[:, None] == teacher_signs[None]  # (m, m0)
        nearest = np.where(same, cosine, -np.inf).max(axis=1)  # (m,)
        nearest = np.where(np.isfinite(nearest), nearest, 0.0)
        return float((nearest * size).sum() / size.sum())

    def fit_time(name):  # first time the train loss is at most 1% of its initial value
        loss, time = cell[name].train_loss.values, cell[name].time.values
        reached = np.flatnonzero(loss <= 0.01 * loss[0])
        return float(time[reached[0]]) if reached.size else np.inf

    def cells_of(*names):
        return "; ".join(f"{name}: {label[name]}" for name in names)

    kernel = {name: float(cell[name].kernel_distance.isel(step=-1)) for name in cells}
    fast, slow = fit_time("upstream"), fit_time("balanced")

    # What the alignment measure gives elsewhere: the other cells, and with the neurons'
    # starting directions (the share owed to which neurons grew rather than to their turning).
    def others():
        return (
            f"the same measure: {number(alignment('downstream'))} downstream, "
            f"{number(alignment('balanced'))} balanced, {number(alignment('lazy'))} lazy; "
            "with each neuron's starting direction in place of its final one (what the growth "
            f"of the neurons alone gives): {number(alignment('upstream', 0))} upstream, "
            f"{number(alignment('downstream', 0))} downstream"
        )

    # (rule, the cells it compares, what the grid must hold, its claim when decidable)
    signed = "readout" in results and "teacher_readout" in results
    grid = {
        "scales": taus.size >= 2,
        "geometries": deltas.min() < zero < deltas.max(),
        "readouts": signed and deltas.min() < zero < deltas.max(),
    }
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
            "readouts",
            lambda: ALIGNED.of(alignment("upstream"), note=f"{cells_of('upstream')}; {others()}"),
        ),
    ]
    found = []
    for rule, compared, needs, claim in candidates:
        unfit = [name for name in compared if not np.isfinite(fit_time(name))]
        if needs == "readouts" and not signed:
            reason = (
                "the results hold no readouts a_k (stored by an earlier version), so the "
                "teacher's directions and the neurons' signs are unknown: rerun"
            )
        elif not grid[needs]:
            what = "geometries" if needs == "readouts" else needs
            reason = (
                f"the grid lacks the {what} the claim compares (τ small and large; δ < 0, 0, > 0)"
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
