"""Figure 1b: the phase diagram of a two-layer ReLU student over scale τ and geometry δ.

Teacher–student task on the sphere (docs/theory.md §5.1): test loss and kernel distance S(0, t)
averaged over seeds on the (τ, δ) grid at several checkpoints, with the supporting panels
(Hamming distance of activation patterns, parameter distance, train loss). Expected picture:
lazy at large τ, rich at small τ, and the fastest rich learning and lowest test loss at small τ
with δ > 0 (upstream). Measured at the paper's settings (four seeds, docs/performance.md): the
first two and the fastest learning hold; which δ ends lowest depends on the seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import xarray as xr

from richlazy import _validate as check
from richlazy._validate import option, require
from richlazy.experiments._style import delta_label
from richlazy.experiments.claims import Claim, decided, much_larger, not_measured, number
from richlazy.experiments.spec import Experiment
from richlazy.experiments.two_layer._phase_diagram import STYLES, grid_panels
from richlazy.sweeps import RunContext, TeacherStudentConfig, sweep


@dataclass(frozen=True)
class Config(TeacherStudentConfig):
    """Figure 1b settings (defaults: the reference's, docs/theory.md §5.1).

    The figure's style is chosen when drawing (``richlazy run/figure --style``,
    ``richlazy.experiments.two_layer._phase_diagram``), not here: it changes no result.
    """

    HORIZON: ClassVar[tuple[str, ...]] = ("steps", "panels")

    panels: int = option(4, check.whole())  # checkpoints drawn: the last ``panels`` ones

    def __post_init__(self):
        super().__post_init__()
        for name in ("taus", "deltas"):  # the phase diagram is a map over both
            require(
                len(getattr(self, name)) >= 2,
                f"{name} needs at least 2 values to draw the (τ, δ) phase diagram, "
                f"got {getattr(self, name)}",
            )


# The published figure (the reference's plot_fig1b notebook): 1e5 steps, checkpoints 0, 10, …,
# 1e5, panels 1e2 … 1e5, seeds 100 … 115, the reference's own random draws. The grid is the
# reference's unrounded logspace, so that its float32 draws are the same bits.
PUBLISHED = Config(
    taus=tuple(float(t) for t in np.logspace(-1, 0.3, 17)),
    deltas=tuple(float(d) for d in np.linspace(-1, 1, 17)),
    seeds=tuple(range(100, 116)),
    steps=100_000,
    seeding="reference",
)

PRESETS = {
    "paper": PUBLISHED,
    # Seconds on a laptop: a smaller problem (d = 10, n = 100) and grid, 1e4 GD steps; lr is
    # halved because at n = 100 the reference rate puts small-τ, δ > 0 cells at the edge of
    # stability (h·λ_max(NTK) ≈ 2), where GD no longer follows gradient flow.
    "quick": Config(
        taus=tuple(np.logspace(-1, 0.3, 7).round(6)),
        deltas=tuple(np.linspace(-1, 1, 7).round(6)),
        seeds=(0, 1),
        d=10,
        n=100,
        n_test=2000,
        lr=2.5e-3,
        steps=10_000,
        checkpoints_per_decade=2,
    ),
}


def run(config: Config, context: RunContext) -> xr.Dataset:
    """Train the grid seed by seed (resumable shards) and measure it at every checkpoint."""
    results = sweep(config, context, config.dataset, "fig1b")
    return labeled(results, config)


def labeled(results: xr.Dataset, config: Config) -> xr.Dataset:
    """The results with what the figures need to know about the run."""
    return results.assign_attrs(
        d=config.d,
        n=config.n,
        n_test=config.n_test,
        width=config.width,
        panels=config.panels,
        seeding=config.seeding,
    )


def _drawn_steps(results: xr.Dataset) -> np.ndarray:
    steps = results.step.values[results.step.values > 0]
    panels = int(results.attrs.get("panels", 4))
    return steps[-panels:]


def plot(results: xr.Dataset) -> dict:
    """The phase diagram (test loss, kernel distance) and the supporting panels."""
    steps = _drawn_steps(results)
    style = results.attrs.get("style", "richlazy")
    main = grid_panels(
        results,
        ["test_loss", "kernel_distance"],
        steps,
        "Figure 1b: lazy at large τ, rich at small τ; upstream (δ > 0) learns fastest",
        style=style,
    )
    supporting = grid_panels(
        results,
        ["hamming_distance", "parameter_distance", "train_loss"],
        steps,
        "Figure 1b, supporting panels: activation-pattern change, parameter movement, train loss",
        style=style,
    )
    return {"fig1b": main, "fig1b_supporting": supporting}


def headline(results: xr.Dataset) -> dict[str, str]:
    final = results.isel(step=-1).mean("seed")
    kd = final.kernel_distance.mean("delta")
    loss = final.test_loss
    upstream = loss.sel(delta=loss.delta > 0).isel(tau=0).mean()
    downstream = loss.sel(delta=loss.delta < 0).isel(tau=0).mean()
    if np.isfinite(loss).any():
        best = loss.where(np.isfinite(loss)).argmin(...)
        tau, delta = float(final.tau[best["tau"]]), float(final.delta[best["delta"]])
        lowest = f"τ = {tau:.3g}, δ = {delta:+.2f} ({float(loss.min()):.2e})"
    else:
        lowest = "none: every cell diverged (lower lr)"
    return {
        "lowest final test loss at": lowest,
        "kernel distance, smallest vs largest τ": (
            f"{float(kd.isel(tau=0)):.2f} vs {float(kd.isel(tau=-1)):.2f}"
        ),
        "test loss at smallest τ, δ > 0 vs δ < 0": (
            f"{float(upstream):.2e} vs {float(downstream):.2e}"
        ),
        "diverged networks": f"{int(results.diverged.sum())} of {results.diverged.size}",
    }


def claims(results: xr.Dataset) -> list[Claim]:
    """Figure 1b's claims (and Figure 10's activation patterns), from the stored grid.

    Magnitudes are seed means; "large τ" and "small τ" are the grid's largest and smallest τ.
    Which δ ends with the lowest test loss is decided seed by seed, since at the paper's
    settings it varies between seeds (docs/performance.md).
    """
    where = "Figure 1b"
    taus, deltas, seeds = results.tau.values, results.delta.values, results.seed.size
    final = results.isel(step=-1).mean("seed")
    lazy = "lazy at large τ: the kernel barely moves"
    rich = "rich at small τ: the kernel moves, much more than at large τ"
    patterns = "rich learning changes the activation patterns; lazy learning does not"
    fastest = "upstream (δ > 0) learns fastest at small τ"
    lowest = "the lowest test loss lies at small τ with δ > 0 (upstream)"
    found = []
    small, large = final.sel(tau=taus.min()), final.sel(tau=taus.max())
    if taus.size < 2:
        reason = "the grid has one τ: no large and small scale to compare"
        found += [
            not_measured(lazy, where, "S(0, T) at the largest τ", "≤ 0.01", reason),
            not_measured(rich, where, "S(0, T)", "≥ 10 × large τ", reason),
            not_measured(patterns, "Figure 10", "Hamming distance", "≥ 10 × large τ", reason),
        ]
    else:
        found += [
            decided(
                lazy,
                where,
                f"max over δ of S(0, T) at τ = {number(taus.max())} (seed mean)",
                "≤ 0.01 (the kernel keeps 99% of its alignment with the initial one)",
                float(large.kernel_distance.max()) <= 0.01,
                number(float(large.kernel_distance.max())),
                expected="near 0",
            ),
            much_larger(
                rich,
                where,
                "kernel distance S(0, T), seed mean: min over δ at the smallest τ, max over δ at "
                "the largest",
                float(small.kernel_distance.min()),
                float(large.kernel_distance.max()),
                names=(f"S at τ = {number(taus.min())}", f"S at τ = {number(taus.max())}"),
            ),
            much_larger(
                patterns,
                "Figure 10, Appendix D.1",
                "Hamming distance of the activation patterns from initialization (neurons), seed "
                "mean: min over δ at the smallest τ, max over δ at the largest",
                float(small.hamming_distance.min()),
                float(large.hamming_distance.max()),
                names=(f"H at τ = {number(taus.min())}", f"H at τ = {number(taus.max())}"),
            ),
        ]
    up, down = deltas > 0, deltas <= 0
    if not (up.any() and down.any()):
        reason = "the grid lacks a δ > 0 or a δ ≤ 0 to compare"
        return [
            *found,
            not_measured(fastest, where, "test loss early in training", "lowest at δ > 0", reason),
            not_measured(lowest, where, "final test loss", "lowest at δ > 0", reason),
        ]
    # Fastest = first to learn: at the first checkpoint where a cell at the smallest τ has
    # halved its test loss (all cells start from f = 0, so from the same loss), which δ is
    # lowest. This does not depend on how long the run goes on afterwards.
    loss = results.test_loss.sel(tau=taus.min()).transpose("seed", "delta", "step").values
    halved = (loss <= 0.5 * loss[..., :1]).any(axis=1)  # (seed, step)
    if not halved.any(axis=1).all():
        found.append(
            not_measured(
                fastest,
                where,
                "test loss at the smallest τ, when it has first halved",
                "lowest at a δ > 0 in every seed",
                "in some seed no cell at the smallest τ halved its test loss",
            )
        )
    else:
        first = halved.argmax(axis=1)  # (seed,)
        at_first = loss[np.arange(seeds), :, first]  # (seed, delta)
        best = deltas[np.nanargmin(at_first, axis=1)]
        steps = results.step.values[first]
        found.append(
            decided(
                fastest,
                where,
                f"δ of the lowest test loss at τ = {number(taus.min())}, per seed, at the first "
                "checkpoint where a cell has halved its test loss",
                "δ > 0 in every seed",
                bool(np.all(best > 0)),
                ", ".join(
                    f"seed {seed}: {delta_label(delta)} (step {step})"
                    for seed, delta, step in zip(results.seed.values, best, steps, strict=True)
                ),
                expected="δ > 0",
            )
        )
    end = results.test_loss.isel(step=-1).sel(tau=taus.min())  # (delta, seed)
    upstream = end.sel(delta=deltas[up]).min("delta").values  # (seed,)
    others = end.sel(delta=deltas[down]).min("delta").values
    wins = int(np.sum(upstream < others))
    quantity = (
        f"final test loss at τ = {number(taus.min())}, per seed: lowest over δ > 0 against "
        "lowest over δ ≤ 0"
    )
    test = "lower over δ > 0 in every seed (fails if higher in every seed; at least 2 seeds)"
    measured = f"δ > 0 lower in {wins} of {seeds} seeds; seed means " + (
        f"{number(float(np.mean(upstream)))} vs {number(float(np.mean(others)))}"
    )
    undecided = (
        "one seed: at the paper's settings which δ ends lowest varies between seeds, so one "
        "seed cannot decide it"
        if seeds < 2
        else f"the seeds disagree ({wins} of {seeds} favour δ > 0): more seeds are needed"
        if 0 < wins < seeds
        else None
    )
    if undecided is not None:
        found.append(not_measured(lowest, where, quantity, test, undecided, measured=measured))
    else:
        found.append(decided(lowest, where, quantity, test, wins == seeds, measured))
    return found


EXPERIMENT = Experiment(
    name="fig1b",
    presets=PRESETS,
    run=run,
    plot=plot,
    headline=headline,
    styles=STYLES,
    claims=claims,
)
