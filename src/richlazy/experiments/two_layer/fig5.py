"""Figure 5: how a two-layer ReLU network learns XOR, rich vs lazy, and why upstream is fast.

XOR in d = 2 (inputs (±1, ±1), label x1·x2; docs/theory.md §5.2), a bias-free ReLU student
with the symmetric-pair init at scale τ and geometry δ, every (τ, δ) cell of a grid trained by
full-batch GD at one fixed learning rate, so that all cells share one clock.

(a) Surfaces of the input–output map f(x) on [−extent, extent]² at the checkpoints, for the
balanced rich (smallest τ, δ = 0), upstream rich (smallest τ, largest δ > 0), downstream (smallest
τ, smallest δ < 0) and lazy (largest τ, δ = 0) inits, beside the kernel interpolant of each init's
NTK, K(x, X)K(X, X)⁻¹y, which a lazy network converges to. Expected: the rich inits learn a
piecewise-linear surface with few kinks aligned to the data; lazy stays at the kernel interpolant.
(b) Hamming distance of the activation patterns vs parameter distance over the (τ, δ) grid
(docs/theory.md §5): rapid rich learning is a large change of activation patterns with a small
change of parameters, and upstream (δ > 0) reaches it fastest; downstream at small τ fits on fixed
features (no pattern changes, large parameter change).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
import xarray as xr
from matplotlib.colors import Normalize, TwoSlopeNorm

from richlazy import _validate as check
from richlazy import metrics
from richlazy._validate import option, require
from richlazy.data.tasks import xor
from richlazy.experiments._style import DELTA_CMAP, delta_label, figure
from richlazy.experiments.claims import Claim, Rule, number
from richlazy.experiments.spec import Experiment
from richlazy.nets.two_layer import forward
from richlazy.sweeps import GridConfig, RunContext, TrainedGrid, sweep

# Contour levels drawn over the surfaces: their corners show the kinks of f.
LEVELS = [-1.25, -1.0, -0.75, -0.5, -0.25, 0.25, 0.5, 0.75, 1.0, 1.25]

# The inits drawn as surfaces: name -> (τ: "min"/"max" of the grid, δ: "min"/"zero"/"max").
INITS = {
    "balanced rich": ("min", "zero"),
    "upstream rich": ("min", "max"),
    "downstream": ("min", "min"),
    "lazy": ("max", "zero"),
}


@dataclass(frozen=True)
class Config(GridConfig):
    """Figure 5 settings.

    Every cell trains with the same learning rate (``lr_per_tau2=False``): one GD step is
    h = 2·lr/n = 0.01 of gradient-flow time (``richlazy.train.engine``), stable for every τ ≤ 1
    (h·λ_max(NTK) ≈ 1.1 at τ = 1, width 50), so cells compare at equal times.
    """

    taus: tuple[float, ...] = tuple(np.logspace(-2, 0, 17).round(6))
    deltas: tuple[float, ...] = tuple(np.linspace(-1, 1, 17).round(6))
    seeds: tuple[int, ...] = tuple(range(16))
    lr: float = 2e-2  # h = 0.01; the largest stable rate at τ = 1 is ≈ 3.5e-2
    lr_per_tau2: bool = False  # one clock for all cells: "faster" means at an earlier time
    steps: int = 20_000  # t = 200: the balanced τ = 0.01 cells fit by t ≈ 5
    checkpoints_per_decade: int = 4
    grid_points: int = option(61, check.whole(2))  # surface resolution per axis
    extent: float = option(1.5, check.positive_float)  # surfaces on [−extent, extent]²
    # "fitted" when the train MSE (1 at init) falls below this
    fit_loss: float = option(1e-3, check.interval(0, 1))
    panels: int = option(5, check.whole())  # checkpoints drawn as surfaces and heatmaps

    def __post_init__(self):
        super().__post_init__()
        # the surfaces of the drawn cells at every checkpoint and their kernel interpolant
        points = self.grid_points**2
        check.fits_memory("grid_points", 8.0 * points * (len(INITS) * (len(self.checkpoints) + 5)))
        require(
            len(self.taus) >= 2, f"taus needs at least 2 values (rich and lazy), got {self.taus}"
        )
        require(
            min(self.deltas) < 0 < max(self.deltas) and 0.0 in self.deltas,
            "deltas must hold 0 (balanced), a negative (downstream) and a positive (upstream) "
            f"value, e.g. (-1, 0, 1); got {self.deltas}",
        )


QUICK = Config(
    taus=tuple(np.logspace(-2, 0, 7).round(6)),
    deltas=tuple(np.linspace(-1, 1, 7).round(6)),
    seeds=(0, 1),
    steps=2_500,
)
# seconds: the tests' run of every experiment
SMOKE = replace(QUICK, taus=(0.01, 1.0), deltas=(-1.0, 0.0, 1.0), seeds=(0,), steps=1000,
                grid_points=11, panels=2)  # fmt: skip
PRESETS = {
    "paper": Config(),
    # Seconds: a 7 × 7 grid of the same range, 2 seeds, t = 25 (every cell fits by t ≈ 6).
    "quick": QUICK,
    "smoke": SMOKE,
}


def init_cells(taus, deltas) -> dict[str, tuple[int, int]]:
    """Grid indices (i_tau, i_delta) of each init in ``INITS``."""
    taus, deltas = np.asarray(taus), np.asarray(deltas)
    pick_tau = {"min": int(np.argmin(taus)), "max": int(np.argmax(taus))}
    pick_delta = {
        "min": int(np.argmin(deltas)),
        "zero": int(np.argmin(np.abs(deltas))),
        "max": int(np.argmax(deltas)),
    }
    return {name: (pick_tau[t], pick_delta[d]) for name, (t, d) in INITS.items()}


def _surfaces(config: Config, trained: TrainedGrid, seed: int) -> xr.Dataset:
    """f(x) on the grid at each checkpoint for the ``INITS`` cells, and their kernel interpolant."""
    cells = init_cells(config.taus, config.deltas)
    columns = [i * len(config.deltas) + j for i, j in cells.values()]  # flat cell index

    G = config.grid_points
    axis = np.linspace(-config.extent, config.extent, G)
    x1, x2 = np.meshgrid(axis, axis, indexing="xy")  # (G, G): rows x2, columns x1
    grid = torch.as_tensor(np.stack([x1.ravel(), x2.ravel()], -1), dtype=trained.X.dtype)
    grid = grid.to(trained.X.device)[None]  # (1, G², 2)
    surfaces = torch.stack(
        [forward(nets.take(columns), grid)[0] for nets in trained.result.snapshots]
    )  # (C, G², k)
    initial = trained.initial.take(columns)
    gram = metrics.ntk(initial, trained.X)[0]  # (k, n, n)
    cross = metrics.ntk(initial, grid, X2=trained.X)[0]  # (k, G², n)
    weights = torch.linalg.lstsq(gram, trained.y[0][None, :, None].expand(len(columns), -1, 1))
    interpolant = (cross @ weights.solution)[..., 0]  # (k, G²)
    surface = surfaces.permute(2, 0, 1).reshape(len(columns), 1, -1, G, G)  # (k, 1, C, G, G)
    kernel = interpolant.reshape(len(columns), 1, G, G)
    return xr.Dataset(
        {
            "surface": (("init", "seed", "step", "x2", "x1"), surface.cpu().numpy()),
            "kernel_surface": (("init", "seed", "x2", "x1"), kernel.cpu().numpy()),
        },
        coords={
            "init": list(cells),
            "init_tau": ("init", [config.taus[i] for i, _ in cells.values()]),
            "init_delta": ("init", [config.deltas[j] for _, j in cells.values()]),
            "x1": axis,
            "x2": axis,
        },
    )


def run(config: Config, context: RunContext) -> xr.Dataset:
    """Train the grid seed by seed (the data are fixed; seeds draw the student's neurons)."""
    return sweep(config, context, lambda seed: xor(), "fig5", extra=_surfaces)


# ---------------------------------------------------------------------------------------------
# Derived quantities (from stored results only, so figures redraw without recomputing)


def fit_time(results: xr.Dataset, level: float) -> xr.DataArray:
    """Gradient-flow time at which the train MSE first falls to ``level`` (NaN if never).

    Log-interpolated between the checkpoints around the crossing: (tau, delta, seed).
    """
    loss = results.train_loss.transpose(..., "step").values
    time = results.time.transpose(..., "step").values
    below = loss <= level
    reached = below.any(-1)
    index = np.argmax(below, -1)[..., None]
    t1 = np.take_along_axis(time, index, -1)[..., 0]
    l1 = np.take_along_axis(loss, index, -1)[..., 0]
    before = np.maximum(index - 1, 0)
    t0 = np.take_along_axis(time, before, -1)[..., 0]
    l0 = np.take_along_axis(loss, before, -1)[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.log(l0 / level) / np.log(l0 / np.maximum(l1, 1e-300))
        between = np.exp(np.log(t0) + fraction * (np.log(t1) - np.log(t0)))
    value = np.where((t0 > 0) & (l0 > level), between, t1)
    dims = [d for d in results.train_loss.dims if d != "step"]
    return xr.DataArray(
        np.where(reached, value, np.nan), dims=dims, coords={d: results[d] for d in dims}
    )


def piecewise_linear_xor(x1, x2):
    """f*(x) = ½(|x1 + x2| − |x1 − x2|) = sign(x1·x2)·min(|x1|, |x2|).

    The XOR interpolant of four ReLU neurons along the diagonals, one per data point: kinks
    only on the diagonals through the data. The rich (small τ) networks end here.
    """
    return 0.5 * (np.abs(x1 + x2) - np.abs(x1 - x2))


def interpolant_gap(results: xr.Dataset) -> xr.DataArray:
    """RMS over the surface grid of f(x) at the last checkpoint minus the kernel interpolant."""
    gap = results.surface.isel(step=-1) - results.kernel_surface
    return np.sqrt((gap**2).mean(("x1", "x2")))


def xor_gap(results: xr.Dataset) -> xr.DataArray:
    """RMS over the surface grid of f(x) at the last checkpoint minus ``piecewise_linear_xor``."""
    gap = results.surface.isel(step=-1) - piecewise_linear_xor(results.x1, results.x2)
    return np.sqrt((gap**2).mean(("x1", "x2")))


def _drawn_steps(results: xr.Dataset, panels: int) -> np.ndarray:
    """``panels`` checkpoints, evenly spread over the log-spaced nonzero ones, last included."""
    steps = results.step.values[results.step.values > 0]
    count = min(panels, steps.size)
    return steps[np.unique(np.round(np.linspace(0, steps.size - 1, count)).astype(int))]


def _time_of(results: xr.Dataset, step) -> float:
    return float(results.time.sel(step=step).isel(tau=0, delta=0, seed=0))


# ---------------------------------------------------------------------------------------------
# Figures


def _plot_surfaces(results: xr.Dataset, config: Config):
    steps = _drawn_steps(results, config.panels)
    inits = list(results.init.values)
    seed = results.seed.values[0]
    fig = figure(2.7 * (len(steps) + 1) + 1.0, 2.6 * len(inits) + 0.6)
    axes = fig.subplots(len(inits), len(steps) + 1, squeeze=False, sharex=True, sharey=True)
    norm = Normalize(-1.5, 1.5)
    X = xor().X
    x1, x2 = results.x1.values, results.x2.values
    interpolant_gaps, xor_gaps = interpolant_gap(results), xor_gap(results)  # (init, seed)
    for row, init in zip(axes, inits, strict=True):
        cell = results.sel(init=init, seed=seed)
        tau, delta = float(cell.init_tau), float(cell.init_delta)
        final = results.sel(tau=tau, delta=delta, seed=seed)
        panels = [(cell.surface.sel(step=s).values, s) for s in steps]
        panels.append((cell.kernel_surface.values, None))
        for ax, (values, step) in zip(row, panels, strict=True):
            image = ax.pcolormesh(x1, x2, values, cmap="RdBu_r", norm=norm, shading="auto")
            ax.contour(x1, x2, values, levels=LEVELS, colors="black", linewidths=0.4, alpha=0.6)
            ax.contour(x1, x2, values, levels=[0.0], colors="black", linewidths=1.0)
            ax.scatter(
                X[:, 0],
                X[:, 1],
                c=X[:, 0] * X[:, 1],
                cmap="RdBu_r",
                norm=norm,
                edgecolors="black",
                s=40,
                zorder=3,
            )
            ax.set(aspect="equal", xticks=[-1, 0, 1], yticks=[-1, 0, 1])
            ax.label_outer()
            if step is None:
                gap = float(interpolant_gaps.sel(init=init, seed=seed))
                title = f"init-NTK kernel interpolant\n(RMS gap to last f: {gap:.3f})"
            else:
                point = final.sel(step=step)
                title = (
                    f"step {int(step)} (t = {_time_of(results, step):.3g})\n"
                    f"MSE {float(point.train_loss):.1e}, H = {float(point.hamming_distance):.1f}"
                )
                if step == steps[-1]:
                    gap = float(xor_gaps.sel(init=init, seed=seed))
                    title += f"\nRMS gap to f*: {gap:.1e}"
            ax.set_title(title, fontsize=9)
        row[0].set_ylabel(f"{init}\nτ = {tau:g}, δ = {delta:+g}\nx₂")
    for ax in axes[-1]:
        ax.set_xlabel("x₁")
    fig.colorbar(image, ax=axes, label="network output f(x)", shrink=0.6, extend="both")
    fig.suptitle(
        "Figure 5a: input–output map f(x) over training on XOR (dots: the 4 training points; "
        f"thick line f = 0, thin ±0.25, ±0.5, …; seed {seed}).\n"
        "Rich inits end at f* = sign(x₁x₂)·min(|x₁|, |x₂|), kinks on the diagonals only; "
        "lazy and downstream end at their init-NTK kernel interpolant"
    )
    return fig


def _heatmap(ax, values: xr.DataArray, cmap: str, **limits):
    """A map of ``values`` (tau, delta) over log τ × δ; returns the image for a colorbar."""
    image = ax.pcolormesh(
        np.log10(values.tau),
        values.delta,
        values.transpose("delta", "tau"),
        cmap=cmap,
        shading="nearest",
    )  # log₁₀ τ on a linear axis: a log axis's minor ticks make drawing several times slower
    if limits:
        image.set_clim(**limits)
    ax.set(xlabel="log₁₀ scale τ", ylabel="geometry δ")
    return image


def _plot_grid(results: xr.Dataset, config: Config):
    steps = _drawn_steps(results, config.panels)
    mean = results.mean("seed")
    rows = {
        "hamming_distance": ("Hamming distance H (neurons)", "magma", {}),
        "parameter_distance": ("parameter distance ‖θ(t) − θ(0)‖", "cividis", {}),
        "train_loss": ("log₁₀ train MSE", "coolwarm", {"vmin": -8, "vmax": 0}),
    }
    fig = figure(3.0 * len(steps) + 1.2, 2.7 * len(rows))
    axes = fig.subplots(len(rows), len(steps), squeeze=False, sharex=True, sharey=True)
    for row, (name, (label, cmap, limits)) in zip(axes, rows.items(), strict=True):
        values = mean[name].sel(step=steps)
        if name == "train_loss":
            values = np.log10(values.clip(min=1e-30))
        else:
            limits = {"vmin": 0.0, "vmax": max(float(values.max()), 1e-12)}
        for ax, step in zip(row, steps, strict=True):
            image = _heatmap(ax, values.sel(step=step), cmap, **limits)
            ax.set_title(f"step {int(step)} (t = {_time_of(results, step):.3g})", fontsize=9)
            ax.label_outer()
        fig.colorbar(image, ax=list(row), label=label)
    fig.suptitle(
        "Figure 5b: activation patterns change (H) at small τ, fastest for δ > 0; "
        f"mean over {results.seed.size} seeds"
    )
    return fig


def _plot_mechanism(results: xr.Dataset, config: Config):
    mean = results.mean("seed")
    final = mean.isel(step=-1)
    fig = figure(16.5, 4.8)
    ax_scatter, ax_paths, ax_time = fig.subplots(1, 3)
    deltas = final.delta.values
    reach = float(np.max(np.abs(deltas)))
    delta_norm = TwoSlopeNorm(0.0, -reach, reach)  # δ = 0 gets the palette's middle color
    # Every cell at the last checkpoint: color δ, size τ.
    taus = final.tau.values
    span = max(np.log(taus.max() / taus.min()), 1e-12)
    sizes = 12 + 60 * np.log(taus.max() / taus) / span  # (n_tau,)
    cells = final[["parameter_distance", "hamming_distance"]].transpose("tau", "delta")
    points = ax_scatter.scatter(
        cells.parameter_distance.values.ravel(),
        cells.hamming_distance.values.ravel(),
        s=np.repeat(sizes, deltas.size),
        c=np.tile(deltas, taus.size),
        cmap=DELTA_CMAP,
        norm=delta_norm,
        edgecolors="black",
        linewidths=0.3,
    )
    ax_scatter.set(
        xlabel="parameter distance ‖θ(T) − θ(0)‖",
        ylabel="Hamming distance H(T) (neurons)",
        title="every (τ, δ) cell at the last checkpoint\n(larger marker = smaller τ)",
    )
    fig.colorbar(points, ax=ax_scatter, label="geometry δ (brown downstream, teal upstream)")
    # Trajectories of the drawn inits in the (parameter distance, Hamming distance) plane.
    for init in results.init.values:
        tau = float(results.init_tau.sel(init=init))
        delta = float(results.init_delta.sel(init=init))
        cell = mean.sel(tau=tau, delta=delta)
        ax_paths.plot(
            cell.parameter_distance,
            cell.hamming_distance,
            marker="o",
            markersize=3,
            color="black" if init == "lazy" else DELTA_CMAP(delta_norm(delta)),
            label=f"{init} (τ = {tau:g}, δ = {delta:+g})",
        )
    ax_paths.set(
        xlabel="parameter distance ‖θ(t) − θ(0)‖",
        ylabel="Hamming distance H(t) (neurons)",
        title="over training (dots: checkpoints, from the origin)",
    )
    ax_paths.legend(fontsize=8)
    level = config.fit_loss
    times = np.log10(fit_time(results, level).mean("seed"))
    image = _heatmap(ax_time, times, "viridis_r")
    fig.colorbar(image, ax=ax_time, label=f"log₁₀ gradient-flow time to MSE ≤ {level:g}")
    ax_time.set_title(
        "time to fit XOR (white: never): at small τ,\nupstream δ > 0 first, balanced δ = 0 last"
    )
    fig.suptitle(
        "Figure 5b: rapid rich learning = large change of activation patterns "
        f"with a small change of parameters (mean over {results.seed.size} seeds)"
    )
    return fig


def plot(results: xr.Dataset, config: Config) -> dict:
    """Surfaces over training, heatmaps over (τ, δ), and the Hamming-vs-parameter mechanism."""
    return {
        "fig5_surfaces": _plot_surfaces(results, config),
        "fig5_grid": _plot_grid(results, config),
        "fig5_mechanism": _plot_mechanism(results, config),
    }


def headline(results: xr.Dataset, config: Config) -> dict[str, str]:
    final = results.isel(step=-1).mean("seed")
    fitted = fit_time(results, config.fit_loss).mean("seed")
    gaps = interpolant_gap(results).mean("seed")
    to_xor = xor_gap(results).mean("seed")
    lines = {}
    for init in results.init.values:
        tau, delta = (
            float(results.init_tau.sel(init=init)),
            float(results.init_delta.sel(init=init)),
        )
        cell = final.sel(tau=tau, delta=delta)
        when = float(fitted.sel(tau=tau, delta=delta))
        lines[f"{init} (τ = {tau:g}, δ = {delta:+g})"] = (
            f"MSE {float(cell.train_loss):.1e}, fit at t = {when:.3g}, "
            f"H {float(cell.hamming_distance):.1f}, ‖Δθ‖ {float(cell.parameter_distance):.2f}, "
            f"S(0,T) {float(cell.kernel_distance):.1e}, "
            f"RMS gap to kernel interpolant {float(gaps.sel(init=init)):.3f}, "
            f"to f* {float(to_xor.sel(init=init)):.1e}"
        )
    lines["diverged networks"] = f"{int(results.diverged.sum())} of {results.diverged.size}"
    return lines


_GAPS = "RMS over the grid of f(x, T) − f*(x) and of f(x, T) − K(x, X)K(X, X)⁻¹y (K)"
_RATIO = "Hamming distance H / parameter distance ‖θ(T) − θ(0)‖ at the last checkpoint"
FASTEST = Rule(
    "at small τ, upstream (δ > 0) learns XOR fastest",
    "Figure 5b",
    "δ whose train MSE first reaches fit_loss at the smallest τ (seed-mean time)",
    "a δ > 0",
)
RICH = Rule(
    "rich inits (small τ, δ ≥ 0) learn the piecewise-linear f*, kinks on the diagonals",
    "Figure 5a",
    _GAPS,
    "closer to f* than to the kernel interpolant (balanced and upstream rich)",
)
LAZY = Rule(
    "lazy (large τ) and downstream inits end at their initial kernel's interpolant",
    "Figure 5a",
    _GAPS,
    "closer to the kernel interpolant than to f* (lazy and downstream)",
)
MECHANISM = Rule(
    "rapid rich learning: activation patterns change much, parameters little",
    "Figure 5b",
    _RATIO,
    "largest for the upstream rich init of the four drawn",
)


RULES = (FASTEST, RICH, LAZY, MECHANISM)


def claims(results: xr.Dataset, config: Config) -> list[Claim]:
    """Figure 5's claims, from the stored grid and surfaces (seed means)."""
    deltas, small = results.delta.values, results.tau.values.min()
    inits = {
        str(i): (float(results.init_tau.sel(init=i)), float(results.init_delta.sel(init=i)))
        for i in results.init.values
    }
    found = []
    if np.any(deltas > 0) and np.any(deltas <= 0):
        time = fit_time(results, config.fit_loss).sel(tau=small).mean("seed", skipna=False)
        time = np.where(np.isfinite(time.values), time.values, np.inf)  # (delta,); never: ∞
        best, zero = int(np.argmin(time)), int(np.argmin(np.abs(deltas)))
        measured = (
            f"{delta_label(deltas[best])}: t = {number(time[best])}; δ = 0: t = "
            f"{number(time[zero])}; {delta_label(deltas[0])}: t = {number(time[0])}"
        )
        found.append(
            FASTEST.not_measured("no cell fitted XOR")
            if not np.isfinite(time[best])
            else FASTEST.decide(
                bool(deltas[best] > 0), measured, note=f"fit_loss {number(config.fit_loss)}"
            )
        )
    else:
        found.append(FASTEST.not_measured("no δ > 0 or ≤ 0"))
    if len(set(inits.values())) < len(inits):  # a grid whose corners coincide
        reason = "the drawn inits are not distinct cells of the grid"
        return [*found, *(rule.not_measured(reason) for rule in (RICH, LAZY, MECHANISM))]
    to_xor, to_kernel = xor_gap(results).mean("seed"), interpolant_gap(results).mean("seed")
    gaps = {n: (float(to_xor.sel(init=n)), float(to_kernel.sel(init=n))) for n in inits}

    def listed(names):
        return "; ".join(
            f"{n}: {number(gaps[n][0])} to f*, {number(gaps[n][1])} to K" for n in names
        )

    final = results.isel(step=-1).mean("seed")
    cells = {n: final.sel(tau=t, delta=d) for n, (t, d) in inits.items()}
    ratio = {n: float(c.hamming_distance / c.parameter_distance) for n, c in cells.items()}
    up, others = "upstream rich", [n for n in inits if n != "upstream rich"]
    return [
        *found,
        RICH.decide(
            all(gaps[n][0] < gaps[n][1] for n in ("balanced rich", up)),
            listed(("balanced rich", up)),
        ),
        LAZY.decide(
            all(gaps[n][1] < gaps[n][0] for n in ("lazy", "downstream")),
            listed(("lazy", "downstream")),
        ),
        MECHANISM.decide(
            all(ratio[up] > ratio[n] for n in others),
            ", ".join(f"{n}: {number(value)}" for n, value in ratio.items()),
        ),
    ]


EXPERIMENT = Experiment("fig5", PRESETS, run, plot, headline, claims=claims, rules=RULES)
