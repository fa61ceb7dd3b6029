"""Figure 4b: implicit bias on low-rank data (docs/theory.md §2.2).

One sample x = (0.5, 1), y = 1.1: the minima form a line. Gradient flow from the same β0 for each
δ ends at a different point of the line; the theory predicts each endpoint
(argmin Q_δ(β) − ∇Q_δ(β0)ᵀβ), from the minimum-distance point (δ = +∞, lazy) to the point along
β0 (δ = −∞).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import xarray as xr

from richlazy import _validate as check
from richlazy import single_neuron as sn
from richlazy._validate import Checked, option, require
from richlazy.experiments._style import by_delta, delta_colors, delta_label, figure
from richlazy.experiments.claims import Claim, Rule, agrees, number
from richlazy.experiments.spec import Experiment
from richlazy.sweeps import RunContext


@dataclass(frozen=True)
class Config(Checked):
    """Settings of Figure 4b (the paper's notebook)."""

    # finite: the limits δ = ±∞ are always added
    deltas: tuple[float, ...] = option((-4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0), check.tuple_of())
    x: tuple[float, float] = (0.5, 1.0)
    y: float = 1.1
    beta0: tuple[float, float] = (0.5 * (0.6 * 1.0 + 0.4 * 0.5), 0.5 * (0.6 * -0.5 + 0.4 * 1.0))
    t_max: float = option(200.0, check.positive_float)
    time_points: int = option(2001, check.whole(2))
    rtol: float = 1e-11

    def __post_init__(self):
        super().__post_init__()
        require(np.any(self.x), "x must be non-zero")
        # a simulation of (a, w1, w2) and its prediction, float64, at every (δ, t)
        check.fits_memory("time_points, deltas", 8 * 6 * len(self.deltas) * self.time_points)


QUICK = Config(time_points=501)
PRESETS = {"quick": QUICK, "paper": Config(), "smoke": replace(QUICK, time_points=81)}


def run(config: Config, context: RunContext) -> xr.Dataset:
    """Simulated trajectories and the predicted interpolants, including δ = ±∞."""
    X, y, beta0 = np.array([config.x]), np.array([config.y]), np.array(config.beta0)
    deltas = np.array(config.deltas)
    # Log-spaced: the early, fast part of each trajectory gets as many samples as the tail.
    t = np.concatenate([[0.0], np.logspace(-3, np.log10(config.t_max), config.time_points - 1)])
    a0, w0 = sn.initial_parameters(np.broadcast_to(beta0, (deltas.size, 2)), deltas)
    simulated = sn.gradient_flow(a0, w0, X, y, t, rtol=config.rtol)
    limits = np.concatenate([[-np.inf], deltas, [np.inf]])
    predicted, crossed = [], []
    for delta in limits:
        try:
            predicted.append(sn.interpolant(X, y, beta0, delta))
            crossed.append(False)
        except sn.CrossingError as crossing:  # reported: the flow ends on the other branch
            predicted.append(crossing.flipped_interpolant)
            crossed.append(True)
    end = simulated.beta[:, -1]
    error = np.linalg.norm(np.array(predicted)[1:-1] - end, axis=-1)
    return xr.Dataset(
        {
            "beta": (("delta", "t", "component"), simulated.beta),
            "interpolant": (("delta_limit", "component"), np.array(predicted)),
            "crossed_zero": (("delta_limit",), np.array(crossed)),
            "interpolant_error": (("delta",), error),
            "final_residual": (("delta",), np.abs(end @ X[0] - y[0])),
        },
        coords={"delta": deltas, "delta_limit": limits, "t": t, "component": ["beta1", "beta2"]},
    )


def plot(results: xr.Dataset, config: Config) -> dict:
    """Trajectories, the line of minima, and predicted endpoints (open circles, ±∞ stars)."""
    x, y = np.array(config.x), config.y
    fig = figure(6, 5.5)
    ax = fig.subplots()
    grid = np.linspace(-0.5, 1.8, 200)
    b1, b2 = np.meshgrid(grid, grid)
    loss = 0.5 * (x[0] * b1 + x[1] * b2 - y) ** 2
    ax.contourf(b1, b2, loss, levels=20, cmap="Greys", alpha=0.35)
    line = np.linspace(-0.5, 1.8, 2)
    ax.plot(line, (y - x[0] * line) / x[1], color="red", linewidth=1.5, label="minima xᵀβ = y")
    deltas = results.delta.values
    for color, delta in zip(delta_colors(deltas), deltas, strict=True):
        beta = results.beta.sel(delta=delta).values
        ax.plot(beta[:, 0], beta[:, 1], color=color, linewidth=2.5, label=delta_label(delta))
        ax.scatter(
            *results.interpolant.sel(delta_limit=delta).values,
            s=90,
            facecolor="none",
            edgecolor="black",
            zorder=4,
        )
    for limit, color in zip((-np.inf, np.inf), delta_colors([-np.inf, np.inf]), strict=True):
        ax.scatter(
            *results.interpolant.sel(delta_limit=limit).values,
            marker="*",
            s=220,
            color=color,
            edgecolor="black",
            zorder=4,
            label=f"theory {delta_label(limit)}",
        )
    ax.scatter([], [], s=90, facecolor="none", edgecolor="black", label="theory, each δ")
    ax.scatter(*config.beta0, color="black", zorder=4, label="β0")
    ax.set(
        xlabel="β1",
        ylabel="β2",
        aspect="equal",
        xlim=(-0.5, 1.8),
        ylim=(-0.5, 1.8),
        title="Figure 4b: implicit bias on one sample",
    )
    ax.legend(fontsize=7, loc="upper right")
    return {"fig4b": fig}


def headline(results: xr.Dataset, config: Config) -> dict[str, str]:
    return {
        "max |theory − simulated endpoint|": f"{float(results.interpolant_error.max()):.1e}",
        "flows that crossed a = 0": str(int(results.crossed_zero.sum())),
    }


PREDICTED = agrees(
    "the theory predicts where gradient flow interpolates, for every δ",
    "Figure 4b",
    "max over δ of |argmin Q_δ(β) − ∇Q_δ(β0)ᵀβ on the line of minima − simulated endpoint|",
)
MOVES = Rule(
    "as δ grows the endpoint moves from the interpolant along β0 (δ → −∞) to the one nearest "
    "β0 (δ → +∞)",
    "Figure 4b",
    "position of the simulated endpoints along the line of minima",
    "moves monotonically from the δ = −∞ limit towards the δ = +∞ one as δ increases, and "
    "stays between them",
)


RULES = (PREDICTED, MOVES)


def claims(results: xr.Dataset, config: Config) -> list[Claim]:
    """Figure 4b's claims: where gradient flow interpolates (docs/theory.md §2.2)."""
    residual = float(results.final_residual.max())
    error = float(results.interpolant_error.max())
    if residual > 1e-8:
        reason = (
            f"the simulated flows have not reached the line of minima by t_max (|xᵀβ − y| up to "
            f"{number(residual)}): a longer t_max decides it"
        )
        found = [PREDICTED.not_measured(reason, measured=number(error))]
    else:
        found = [PREDICTED.of(error)]
    x = np.array(config.x)
    direction = np.array([x[1], -x[0]]) / np.linalg.norm(x)  # along the line xᵀβ = y
    crossed = results.crossed_zero.sel(delta_limit=results.delta).values
    kept = results.delta.values[~crossed]
    if kept.size < 2:
        return [*found, MOVES.not_measured("fewer than 2 δ kept a > 0")]
    order = np.argsort(kept)
    position = (results.beta.sel(delta=kept).isel(t=-1).values @ direction)[order]
    low, high = results.interpolant.sel(delta_limit=[-np.inf, np.inf]).values @ direction
    steps = np.diff(position) * np.sign(high - low)
    between = np.all((position - low) * (position - high) <= 0)
    note = f"{int(crossed.sum())} flows crossed a = 0 and are left out" if crossed.any() else ""
    measured = f"{number(low)} (δ = −∞), {by_delta(kept[order], position)}, {number(high)} (δ = +∞)"
    return [*found, MOVES.decide(bool(np.all(steps > 0) and between), measured, note=note)]


EXPERIMENT = Experiment("fig4b", PRESETS, run, plot, headline, claims=claims, rules=RULES)
