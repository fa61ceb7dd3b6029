"""Sweeps of two-layer networks over scale τ, geometry δ and seeds (docs/theory.md §5.1).

Used by the experiments fig1a, fig1b and fig5 and by the benchmarks. One seed fixes a dataset
and the student's neuron directions; the (τ, δ) cells only rescale them (docs/theory.md §5.1),
so all cells of a seed train together as one batch and are stored as one resumable shard.
Metrics are computed from the parameters at the checkpoints (``richlazy.metrics``) and labeled
(tau, delta, seed, step).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import ClassVar

import numpy as np
import torch
import xarray as xr

from richlazy import _validate as check
from richlazy import metrics
from richlazy._validate import Checked, option, require
from richlazy.data.reference_draws import reference_dataset
from richlazy.data.tasks import Dataset, student_directions, teacher_student
from richlazy.nets.geometry import weight_scales
from richlazy.nets.two_layer import TwoLayerNets, symmetric_pairs
from richlazy.runtime import DEVICES
from richlazy.store import to_json
from richlazy.sweeps.context import Progress, RunContext
from richlazy.train import (
    DTYPES,
    METHODS,
    Solver,
    TrainResult,
    check_device,
    log_schedule,
    solver_named,
    step_size,
    train,
)

METRICS = (
    "train_loss",
    "test_loss",
    "kernel_distance",
    "hamming_distance",
    "parameter_distance",
    "conservation_drift",
)


@dataclass(frozen=True)
class GridConfig(Checked):
    """How a (τ, δ, seed) grid of two-layer networks is trained.

    The learning rate of a cell is ``lr / τ²`` when ``lr_per_tau2`` (the reference's
    5e-3/τ², a fixed fraction of the NTK scale at δ = 0; at |δ| ≫ τ² the kernel scale is
    √(δ² + 4τ⁴) and the step is relatively larger, docs/theory.md §5.3) and ``lr`` otherwise, in the
    reference's MSE convention (``richlazy.train.engine``). ``method`` names the solver ("gd" or
    "gf", :meth:`solver`); ``rtol`` is used by "gf" only.
    """

    # Fields that change how long a run goes or how it is drawn, not its trajectories.
    HORIZON: ClassVar[tuple[str, ...]] = ("steps",)

    taus: tuple[float, ...] = option(
        tuple(np.logspace(-1, 0.3, 17).round(6)),
        check.tuple_of(check.positive_float, increasing=True),
    )
    deltas: tuple[float, ...] = option(
        tuple(np.linspace(-1, 1, 17).round(6)), check.tuple_of(increasing=True)
    )
    seeds: tuple[int, ...] = option(tuple(range(16)), check.seeds)
    width: int = option(50, check.whole(2, even=True))  # neurons come in pairs
    lr: float = option(5e-3, check.positive_float)
    lr_per_tau2: bool = True
    # at most MAX_STEPS = 1e9 steps: nothing overflows
    steps: int = option(1_000_000, check.whole(maximum=check.MAX_STEPS))
    checkpoints_per_decade: int = option(1, check.whole(maximum=1000))
    method: str = option("gd", check.one_of(METHODS))
    rtol: float = option(1e-3, check.interval(0, 1))
    leak: float = option(0.0, check.interval(0, 1, "[]"))
    device: str = option("cpu", check.one_of(DEVICES))  # usable: checked when computing
    dtype: str = option("float64", check.one_of(DTYPES))

    def __post_init__(self):
        super().__post_init__()
        # What the run will build, checked before anything is computed: every cell's learning
        # rate and initial weights finite and > 0 in the chosen dtype.
        with np.errstate(over="ignore", divide="ignore"):
            rates = self.learning_rates()
        with np.errstate(over="ignore"):
            in_dtype = np.asarray(rates, dtype=np.dtype(self.dtype))
        if not np.all(np.isfinite(rates)) or not np.all(np.isfinite(in_dtype)):
            raise ValueError(
                f"taus: the smallest τ = {min(self.taus):.3g} gives a learning rate lr/τ² = "
                f"{np.max(rates):.3g}, not finite in {self.dtype} (lr_per_tau2 is on); use "
                "larger taus or a smaller lr"
            )
        grid_tau, grid_delta = np.meshgrid(self.taus, self.deltas, indexing="ij")
        weight_scales(grid_tau, grid_delta, dtype=self.dtype)
        check.fits_memory(
            "steps, checkpoints_per_decade, taus, deltas, width, n, n_test, d", self.memory_bytes()
        )

    def memory_bytes(self) -> float:
        """A lower bound on the memory one seed's run holds at once: its data (float64 where
        drawn) and the networks at every checkpoint (a ``TrainResult``'s snapshots)."""
        n, n_test, d = (
            getattr(self, key, size) for key, size in (("n", 4), ("n_test", 0), ("d", 2))
        )
        checkpoints = log_schedule(self.steps, per_decade=self.checkpoints_per_decade).size
        snapshots = checkpoints * self.cells * self.width * (d + 1) * np.dtype(self.dtype).itemsize
        return 8.0 * (n + n_test) * (d + 1) + snapshots

    def estimated_seconds(self) -> float:
        """A rough upper bound on the training time of the whole grid on ``device``: per seed,
        steps × (a per-step overhead + cells·4·n·d·m FLOP at a sustained rate), with rates
        of the order measured in docs/performance.md (CPU ~3e10 FLOP/s, GPU ~1e13). The CPU's
        overhead, 2e-4 s, is the measured cost of one eager step of a small batch: Figure 1a's
        paper preset (6 networks, n = 20, d = 2, m = 50) took 1.75e-4 s of CPU per GD step
        between 1e4 and 4e4 steps, whose arithmetic is 1.6e-6 s of it. Gradient flow takes
        fewer gradient evaluations than GD steps, so it is bounded by the same."""
        n, d = getattr(self, "n", 4), getattr(self, "d", 2)  # the task's sizes (XOR: 4 × 2)
        rate, overhead = (1e13, 1e-4) if self.device == "cuda" else (3e10, 2e-4)
        flop = self.cells * 4 * n * d * self.width
        return len(self.seeds) * self.steps * (overhead + flop / rate)

    @property
    def checkpoints(self) -> np.ndarray:
        """Checkpoint steps: 0 and log-spaced up to ``steps``."""
        return log_schedule(self.steps, per_decade=self.checkpoints_per_decade)

    def solver(self) -> Solver:
        """The solver ``method`` names: GD, or gradient flow with ``rtol``."""
        return solver_named(self.method, **({"rtol": self.rtol} if self.method == "gf" else {}))

    @property
    def cells(self) -> int:
        """(τ, δ) cells per seed."""
        return len(self.taus) * len(self.deltas)

    def progress_units(self) -> tuple[str, int]:
        """What one seed's training reports to a progress bar, and how many: the engine counts
        GD steps, or checkpoints reached by each network for gradient flow."""
        if self.method == "gd":
            return "GD steps", int(self.checkpoints[-1])
        return "checkpoints reached", self.cells * len(self.checkpoints)

    def learning_rates(self) -> np.ndarray:
        """Reference learning rate of each cell: (n_tau, n_delta)."""
        taus = np.asarray(self.taus)[:, None] * np.ones(len(self.deltas))
        return self.lr / taus**2 if self.lr_per_tau2 else np.full_like(taus, self.lr)


SEEDINGS = ("numpy", "reference")


@dataclass(frozen=True)
class TeacherStudentConfig(GridConfig):
    """A grid on the teacher–student task of docs/theory.md §5.1.

    ``seeding`` chooses the random streams: "numpy" draws data and students from independent
    NumPy streams of each seed; "reference" reproduces the paper's own torch draws exactly
    (``richlazy.data.reference_dataset``: the networks the paper trained, for its seeds).
    """

    d: int = option(100, check.whole())
    n: int = option(1000, check.whole())
    n_test: int = option(10_000, check.whole())
    seeding: str = option("numpy", check.one_of(SEEDINGS))

    def __post_init__(self):
        super().__post_init__()
        require(
            self.seeding == "numpy" or self.leak == 0,
            f"seeding 'reference' draws the reference's ReLU students; leak must be 0, got "
            f"{self.leak}",
        )

    def dataset(self, seed: int) -> Dataset:
        """The data of ``seed`` (and, with reference seeding, every cell's student)."""
        if self.seeding == "reference":
            return reference_dataset(
                seed, self.taus, self.deltas, d=self.d, n=self.n, m=self.width, n_test=self.n_test
            )
        return teacher_student(seed, d=self.d, n=self.n, n_test=self.n_test)


@dataclass(frozen=True)
class TrainedGrid:
    """One seed's cells after training, flattened to K = n_tau·n_delta networks.

    Attributes:
        initial: the networks at step 0 (S = 1 dataset).
        result: the engine's output (snapshots at every checkpoint).
        X, y, X_test, y_test: the data as tensors of shape (1, n, d) and (1, n).
        teacher: the dataset's teacher neurons (m0, d), or None (``Dataset.teacher``).
        teacher_readouts: their readouts ±1, (m0,), or None (``Dataset.teacher_readouts``).
    """

    initial: TwoLayerNets
    result: TrainResult
    X: torch.Tensor
    y: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    teacher: np.ndarray | None = None
    teacher_readouts: np.ndarray | None = None


def initial_cells(
    config: GridConfig, dataset: Dataset, seed: int
) -> tuple[TwoLayerNets, tuple[torch.Tensor, ...]]:
    """The networks of every (τ, δ) cell of ``config`` before training, and the data X, y,
    X_test, y_test as tensors (1, n, d) and (1, n).

    The students are the dataset's own when it fixes them (``Dataset.students``, the reference's
    draws); otherwise they are drawn from ``seed``: neuron directions uniform on the sphere and
    shared by all cells, rescaled per cell (docs/theory.md §5.1).

    Raises:
        TypeError: ``config`` is not a GridConfig or ``dataset`` not a Dataset.
        ValueError: the dataset's students do not match the config's cells and width, or a
            seed that is not an integer >= 0.
    """
    _check_grid(config=config, dataset=dataset, seed=seed)
    check_device(config.device)  # usable here (the config checks only the name)
    device, dtype = config.device, DTYPES[config.dtype]
    if dataset.students is not None:
        W, a = dataset.students  # (K, m, d), (K, m)
        d = dataset.X.shape[1]
        require(
            W.shape == (config.cells, config.width, d) and a.shape == W.shape[:2],
            f"the dataset's students have shape {W.shape} but the config has "
            f"{config.cells} cells of width {config.width} in d = {d}",
        )
        tensors = (torch.as_tensor(v, dtype=dtype, device=device)[None] for v in (W, a))
        nets = TwoLayerNets(*tensors, leak=config.leak)
    else:
        rng = np.random.default_rng([seed, 1])  # a stream independent of the data's
        directions, signs = student_directions(rng, config.width, dataset.X.shape[1])
        taus, deltas = np.meshgrid(config.taus, config.deltas, indexing="ij")  # (n_tau, n_delta)
        nets = symmetric_pairs(
            directions,  # (1, m/2, d)
            signs,  # (1, m/2)
            taus.reshape(1, -1),
            deltas.reshape(1, -1),
            leak=config.leak,
            dtype=dtype,
            device=device,
        )
    data = (dataset.X, dataset.y, dataset.X_test, dataset.y_test)
    return nets, tuple(torch.as_tensor(v, dtype=dtype, device=device)[None] for v in data)


def train_cells(
    config: GridConfig,
    dataset: Dataset,
    seed: int,
    progress: Callable[[int], None] | None = None,
    *,
    start: tuple[int, TwoLayerNets] | None = None,
) -> TrainedGrid:
    """Train every (τ, δ) cell of ``config`` on ``dataset`` (:func:`initial_cells`).

    Args:
        start: (step, networks at that step) to continue from instead of step 0 (GD only; the
            result then holds the checkpoints from that step on, and ``initial`` is still the
            networks at step 0, which the metrics compare against).
    """
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be None or callable, got {type(progress).__name__}")
    nets, (X, y, X_test, y_test) = initial_cells(config, dataset, seed)
    initial = nets.clone()
    checkpoints, step0 = config.checkpoints, 0
    if start is not None:
        step0, nets = start[0], start[1].clone()
        require(config.method == "gd", "a run can only be continued from a stored state by GD")
        require(step0 in checkpoints, f"step {step0} is not a checkpoint of this config")
        checkpoints = checkpoints[checkpoints >= step0]
    lr = config.learning_rates().reshape(1, -1)
    solver = config.solver()
    result = train(
        nets, X, y, lr=lr, checkpoints=checkpoints - step0, solver=solver, progress=progress
    )
    if step0:
        times = step_size(lr, X.shape[1])[..., None] * checkpoints  # (1, K, C)
        result = replace(result, steps=checkpoints, time=times)
    return TrainedGrid(
        initial, result, X, y, X_test, y_test, dataset.teacher, dataset.teacher_readouts
    )


def grid_metrics(trained: TrainedGrid) -> dict[str, np.ndarray]:
    """The metrics of docs/theory.md §5 at every checkpoint: name -> (K, C) arrays.

    Losses are the reference's mean squared errors; the kernel distance and Hamming distance are
    measured on the training inputs.
    """
    _check_grid(trained=trained)
    initial, X, snapshots = trained.initial, trained.X, trained.result.snapshots
    columns: dict[str, list[torch.Tensor]] = {
        name: [] for name in METRICS if name != "kernel_distance"
    }
    for nets in snapshots:
        values = {
            "train_loss": metrics.mean_squared_error(nets, X, trained.y),
            "test_loss": metrics.mean_squared_error(nets, trained.X_test, trained.y_test),
            "hamming_distance": metrics.hamming_distance(initial, nets, X),
            "parameter_distance": metrics.parameter_distance(initial, nets),
            "conservation_drift": metrics.conservation_drift(initial, nets),
        }
        for name, value in values.items():
            columns[name].append(value[0])  # (K,) of the single dataset
    stacked = {name: torch.stack(values, -1) for name, values in columns.items()}  # (K, C)
    stacked["kernel_distance"] = metrics.kernel_distances(initial, snapshots, X)[0]  # (K, C)
    return {name: stacked[name].cpu().numpy().astype(np.float64) for name in METRICS}


def seed_results(config: GridConfig, trained: TrainedGrid, seed: int) -> xr.Dataset:
    """One seed's metrics labeled (tau, delta, seed, step)."""
    _check_grid(config=config, trained=trained, seed=seed)
    shape = (len(config.taus), len(config.deltas), 1, -1)
    dims = ("tau", "delta", "seed", "step")
    variables = {
        name: (dims, values.reshape(shape)) for name, values in grid_metrics(trained).items()
    }
    variables["time"] = (dims, trained.result.time[0].reshape(shape))
    variables["diverged"] = (dims[:3], trained.result.diverged[0].reshape(shape[:3]))
    return xr.Dataset(
        variables,
        coords={
            "tau": list(config.taus),
            "delta": list(config.deltas),
            "seed": [seed],
            "step": trained.result.steps,
        },
    )


# A seed's shard also holds its networks at the last checkpoint, so that a longer run of the same
# grid can continue from there (``extend_from``); they are kept under DIR/NAME/states/ and left
# out of the results.
STATE_VARIABLES = ("state_W", "state_a")


def trajectory_key(config: GridConfig) -> str:
    """What fixes the trajectories of a config's networks: every field but its horizon
    (``HORIZON``: steps, and what only changes the drawing). Runs with the same key follow the
    same trajectories, so a longer one can continue a shorter one."""
    _check_grid(config=config)
    fields = {k: v for k, v in dataclasses.asdict(config).items() if k not in config.HORIZON}
    return json.dumps(to_json(fields), sort_keys=True)


def _with_state(config: GridConfig, trained: TrainedGrid, results: xr.Dataset) -> xr.Dataset:
    """``results`` with the networks after the last checkpoint, labeled for continuing."""
    final = trained.result.snapshots[-1]
    shape = (len(config.taus), len(config.deltas), 1)
    W = final.W[0].cpu().numpy().reshape(*shape, *final.W.shape[2:])  # (τ, δ, 1, m, d)
    a = final.a[0].cpu().numpy().reshape(*shape, final.a.shape[2])  # (τ, δ, 1, m)
    state = results.assign(
        state_W=(("tau", "delta", "seed", "neuron", "input"), W),
        state_a=(("tau", "delta", "seed", "neuron"), a),
    )
    return state.assign_attrs(trajectory=trajectory_key(config), state_step=int(config.steps))


def _continuable(config: GridConfig, state: xr.Dataset | None) -> bool:
    """Whether ``state`` is a shard of the same trajectories that ``config`` can continue."""
    if state is None or state.attrs.get("trajectory") != trajectory_key(config):
        return False
    step, checkpoints = int(state.attrs["state_step"]), config.checkpoints
    earlier = checkpoints[checkpoints <= step]
    return step <= config.steps and np.array_equal(earlier, state.step.values)


def _start_state(
    config: GridConfig, context: RunContext, seed: int, extend_from: tuple[str, ...]
) -> xr.Dataset | None:
    """The longest stored shard of ``seed`` (this experiment's or one of ``extend_from``'s) that
    this GD run can continue, or None."""
    if config.method != "gd" or context.directory is None:
        return None
    names = (context.directory.name, *extend_from)
    states = [context.load_state(name, f"seed-{seed}") for name in names]
    usable = [state for state in states if _continuable(config, state)]
    return max(usable, key=lambda state: int(state.attrs["state_step"]), default=None)


def _seed_shard(
    config: GridConfig,
    make_dataset: Callable[[int], Dataset],
    seed: int,
    label: str,
    extra: Callable[[GridConfig, TrainedGrid, int], xr.Dataset] | None,
    start: xr.Dataset | None,
    progress: Progress,
) -> xr.Dataset:
    """One seed of the grid: trained (from ``start`` when given), measured, with its state."""
    if start is not None and int(start.attrs["state_step"]) == config.steps:
        return start
    units, per_seed = config.progress_units()
    step0 = 0 if start is None else int(start.attrs["state_step"])
    dataset = make_dataset(seed)
    resume = None
    if start is not None:
        nets, _ = initial_cells(config, dataset, seed)  # dtype, device and leak of this run
        tensors = [
            torch.as_tensor(start[name].values, dtype=nets.W.dtype, device=nets.W.device)
            for name in STATE_VARIABLES
        ]  # (τ, δ, 1, m, d), (τ, δ, 1, m)
        W, a = (t.reshape(1, config.cells, *t.shape[3:]) for t in tensors)  # (1, K, ...)
        resume = (step0, nets.with_tensors((W, a)))
    description = f"{label}: seed {seed}, {config.cells} networks, {units}"
    with progress.task(description, total=per_seed - (step0 if units == "GD steps" else 0)) as go:
        trained = train_cells(config, dataset, seed, go, start=resume)
    results = seed_results(config, trained, seed)
    if start is not None:  # the checkpoints before the stored state, as stored
        earlier = start.drop_vars([*STATE_VARIABLES, "diverged"]).sel(step=start.step < step0)
        results = xr.concat([earlier, results], dim="step", data_vars="minimal")  # (…, step)
    if extra is not None:
        results = results.merge(extra(config, trained, seed))
    return _with_state(config, trained, results)


def sweep(
    config: GridConfig,
    context: RunContext,
    make_dataset: Callable[[int], Dataset],
    label: str,
    extra: Callable[[GridConfig, TrainedGrid, int], xr.Dataset] | None = None,
    *,
    extend_from: tuple[str, ...] = (),
) -> xr.Dataset:
    """Every seed of ``config``, one resumable shard each, merged into one labeled Dataset.

    Shards run in this process or on the context's dask cluster. By GD, a seed continues from
    the longest stored shard of the same trajectories (:func:`trajectory_key`) in this
    experiment's states or in those of the experiments ``extend_from`` names (in the same
    output directory): a 1e6-step run extends a 1e5-step one instead of restarting.

    Args:
        make_dataset: seed -> the task's data.
        label: progress bar text.
        extra: more variables to store per seed (e.g. parameter snapshots or surfaces).
        extend_from: other experiments whose stored states this sweep may continue.
    """
    _check_grid(config=config)
    if not (hasattr(context, "shard") and hasattr(context, "progress")):
        raise TypeError(f"context must be a RunContext, got {type(context).__name__}")
    for name, value in (("make_dataset", make_dataset), ("extra", extra)):
        if value is not None and not callable(value):
            raise TypeError(f"{name} must be callable, got {type(value).__name__}")
    tasks = {
        f"seed-{seed}": partial(
            _seed_shard,
            config,
            make_dataset,
            seed,
            label,
            extra,
            None if extra is not None else _start_state(config, context, seed, extend_from),
        )
        for seed in config.seeds
    }
    parts = []
    for key, shard in context.shards(tasks, label).items():
        context.save_state(key, shard)
        parts.append(shard.drop_vars(STATE_VARIABLES, errors="ignore"))
    merged = xr.concat(parts, dim="seed").transpose("tau", "delta", "seed", "step", ...)
    return merged.drop_attrs(deep=False)


def _check_grid(**arguments) -> None:
    """Type checks of the sweep functions' arguments, by name (config, dataset, trained, seed)."""
    kinds = {"config": GridConfig, "dataset": Dataset, "trained": TrainedGrid}
    for name, value in arguments.items():
        if name == "seed":
            check.integer("seed", value, maximum=check.MAX_SEED)
        elif not isinstance(value, kinds[name]):
            raise TypeError(f"{name} must be a {kinds[name].__name__}, got {type(value).__name__}")
