"""Deep linear networks: learning-speed profiles across layers, and the balanced closed form.

Part 1 (docs/theory.md §4, §1): at depth 3 and 4, gradient flow from inits with Δ_l = δI for δ > 0
(upstream: later layers larger, so earlier layers move first and farthest), δ = 0 (balanced) and
δ < 0 (downstream: the mirror image), same data and the same smallest-layer scale; the relative
distance ‖W_l(t) − W_l(0)‖/‖W_l(0)‖ of every layer over time, and which layer moves first,
measured two ways: ``first_layer``, the first to reach half its own final move
(``learning_speed_profile(...).order``), and ``fastest_layer``, the largest relative speed at
t = 0. For the imbalanced inits they agree at depths 3 and 4; at depth 5 (upstream) the first
layer is still by far the fastest and moves farthest, but the barely moving later layers finish
half of their small move sooner, so the two measures part there. Part 2: balanced, aligned init
with Σ = I, where each singular value of E = W_L ⋯ W_1 follows the closed-form flow
σ̇ = −Lσ^{2−2/L}(σ − σ*) (Arora, Cohen & Hazan 2018), against the simulated weights.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import xarray as xr
from matplotlib import colormaps

from richlazy import _validate as check
from richlazy import deep_linear as dl
from richlazy._validate import Checked, option, require
from richlazy.experiments._style import THEORY_STYLE, delta_colors, delta_label, figure
from richlazy.experiments.claims import MUCH, Claim, Rule, agrees, number
from richlazy.experiments.spec import Experiment
from richlazy.sweeps import RunContext

INITS = ("upstream", "balanced", "downstream")  # sign of δ: +, 0, −
LAYER_CMAP = colormaps["plasma"]


@dataclass(frozen=True)
class Config(Checked):
    """Settings of the deep-linear experiment."""

    depths: tuple[int, ...] = option((3, 4), check.tuple_of(check.whole(2)))
    imbalance: float = option(1.0, check.positive_float)  # |δ| of the upstream and downstream inits
    # every layer n × n: Δ_l = δI needs square hidden layers
    width: int = option(3, check.whole())
    samples: int = option(20, check.whole())
    # singular values of the smallest layer, uniform in [scale/2, 3 scale/2]
    scale: float = option(0.3, check.positive_float)
    t_max: float = 10**2.5  # long enough for every init to converge
    time_points: int = option(221, check.whole(3))  # log-spaced from 1e-3, plus t = 0
    # who moves first is decided at the percent level, not at 1e-8
    rtol: float = option(1e-8, check.interval(0, 1e-3))
    seed: int = 0
    # balanced closed form vs simulation (Σ = I, aligned singular vectors); σ0 > 0 (σ = 0 is a
    # fixed point) and small: the modes are learned one by one
    sigma0: tuple[float, ...] = option(
        (0.05, 0.05, 0.05), check.tuple_of(check.positive_float, once=False)
    )
    sigma_star: tuple[float, ...] = (2.0, 1.0, 0.5)
    mode_t_max: float = option(10.0, check.positive_float)
    mode_time_points: int = option(201, check.whole(2))
    # well below the 1e-8 agreement we check
    mode_rtol: float = option(1e-12, check.interval(0, 1e-3))

    def __post_init__(self):
        super().__post_init__()
        require(
            self.t_max > 1e-3, f"t_max must be > 1e-3 (the first sampled time), got {self.t_max}"
        )
        require(
            len(self.sigma0) == len(self.sigma_star) == self.width,
            f"sigma0 and sigma_star need one entry per mode (width = {self.width})",
        )
        # every layer's weights at every time, for each depth and initialization; the modes
        layers = len(INITS) * sum(self.depths) * self.width**2
        check.fits_memory(
            "time_points, mode_time_points, width, depths",
            8.0 * (self.time_points * layers + self.mode_time_points * len(INITS) * self.width),
        )


# t_max = 100: the slowest run (balanced, L = 4) is within 1e-6 of its loss's minimum by
# t ≈ 64; the stiff tail after convergence is what costs time in an explicit integrator.
QUICK = Config(t_max=100.0, time_points=81, mode_time_points=81)
SMOKE = replace(QUICK, t_max=30.0, time_points=41, mode_time_points=31)  # the tests' run
PRESETS = {"quick": QUICK, "paper": Config(), "smoke": SMOKE}


def _profiles(config: Config, context: RunContext) -> dict:
    """Part 1: a learning-speed profile per (depth, init)."""
    rng = np.random.default_rng(config.seed)
    n = config.width
    X = rng.normal(size=(config.samples, n)) / np.sqrt(config.samples)  # (samples, n)
    Y = X @ rng.normal(size=(n, n)).T  # realizable targets, (samples, n)
    t = np.concatenate([[0.0], np.logspace(-3, np.log10(config.t_max), config.time_points - 1)])
    layers = max(config.depths)
    shape = (len(config.depths), len(INITS))
    distance = np.full((*shape, layers, t.size), np.nan)
    half_time = np.full((*shape, layers), np.nan)
    speed = np.full((*shape, layers), np.nan)
    first = np.zeros(shape, dtype=int)
    fastest = np.zeros(shape, dtype=int)
    loss = np.zeros((*shape, t.size))
    signs = {"upstream": 1.0, "balanced": 0.0, "downstream": -1.0}
    with context.progress.task("deep-linear: learning-speed profiles", shape[0] * shape[1]) as (
        advance
    ):
        for i, depth in enumerate(config.depths):
            for j, init in enumerate(INITS):
                weights0 = dl.initial_parameters(
                    [n] * (depth + 1),
                    signs[init] * config.imbalance,
                    scale=config.scale,
                    rng=config.seed + 1,  # the same draw for every init
                )
                trajectory = dl.gradient_flow(weights0, X, Y, t, rtol=config.rtol)
                profile = dl.learning_speed_profile(trajectory)
                distance[i, j, :depth] = profile.relative_distance
                half_time[i, j, :depth] = profile.half_time
                speed[i, j, :depth] = profile.initial_speed
                first[i, j] = profile.order[0] + 1  # layers are numbered 1 … L
                fastest[i, j] = np.argmax(profile.initial_speed) + 1
                loss[i, j] = trajectory.loss
                advance()
    dims = ("depth", "init")
    return {
        "variables": {
            "relative_distance": ((*dims, "layer", "t"), distance),
            "half_time": ((*dims, "layer"), half_time),
            "initial_speed": ((*dims, "layer"), speed),
            "first_layer": (dims, first),
            "fastest_layer": (dims, fastest),
            "loss": ((*dims, "t"), loss),
        },
        "coords": {
            "depth": list(config.depths),
            "init": list(INITS),
            "delta": ("init", [config.imbalance, 0.0, -config.imbalance]),
            "layer": np.arange(1, layers + 1),
            "t": t,
        },
    }


def _balanced(config: Config) -> dict:
    """Part 2: balanced aligned weights, simulated, against the closed-form mode flow."""
    rng = np.random.default_rng(config.seed + 2)
    n = config.width
    sigma0, sigma_star = np.array(config.sigma0), np.array(config.sigma_star)
    t = np.linspace(0.0, config.mode_t_max, config.mode_time_points)
    simulated, closed = [], []
    for depth in config.depths:
        frames = [np.linalg.qr(rng.normal(size=(n, n)))[0] for _ in range(depth + 1)]
        # W_l = R_l diag(σ0^{1/L}) R_{l−1}ᵀ: balanced, E(0) = R_L diag(σ0) R_0ᵀ
        weights0 = [(frames[l + 1] * sigma0 ** (1 / depth)) @ frames[l].T for l in range(depth)]
        target = (frames[-1] * sigma_star) @ frames[0].T  # E*, (n, n)
        trajectory = dl.gradient_flow(weights0, np.eye(n), target.T, t, rtol=config.mode_rtol)
        simulated.append(
            np.einsum("ck,tcd,dk->tk", frames[-1], trajectory.end_to_end, frames[0])
        )  # (T, k): the diagonal of R_Lᵀ E(t) R_0
        closed.append(dl.exact_singular_value_flow(sigma0, sigma_star, depth, t))
    simulated, closed = np.array(simulated), np.array(closed)  # (D, T, k)
    error = np.abs(closed - simulated) / np.abs(simulated)
    return {
        "variables": {
            "sigma_simulated": (("depth", "mode_t", "mode"), simulated),
            "sigma_closed_form": (("depth", "mode_t", "mode"), closed),
            "balanced_relative_error": (("depth",), error.max(axis=(1, 2))),
        },
        "coords": {"mode_t": t, "mode": np.arange(n)},
    }


def run(config: Config, context: RunContext) -> xr.Dataset:
    """Both parts (docs/theory.md §4)."""
    profiles, balanced = _profiles(config, context), _balanced(config)
    return xr.Dataset(
        {**profiles["variables"], **balanced["variables"]},
        coords={**profiles["coords"], **balanced["coords"]},
    )


def plot(results: xr.Dataset, config: Config) -> dict:
    """Rows: depths. Columns: relative distance per layer for each init; balanced modes."""
    depths = results.depth.values
    fig = figure(17, 3.6 * depths.size)
    axes = np.atleast_2d(fig.subplots(depths.size, len(INITS) + 1, squeeze=False))
    t = results.t.values
    for row, depth in zip(axes, depths, strict=True):
        colors = [LAYER_CMAP(0.85 * l / max(depth - 1, 1)) for l in range(depth)]
        for ax, init in zip(row[:-1], INITS, strict=True):
            cell = results.sel(depth=depth, init=init)
            for layer, color in zip(range(1, depth + 1), colors, strict=True):
                ax.semilogx(
                    t[1:],
                    cell.relative_distance.sel(layer=layer)[1:],
                    color=color,
                    linewidth=2,
                    label=f"W_{layer}",
                )
                half = float(cell.half_time.sel(layer=layer))
                if np.isfinite(half) and half > 0:
                    value = np.interp(half, t, cell.relative_distance.sel(layer=layer))
                    ax.scatter(half, value, color=color, edgecolor="black", zorder=4, s=30)
            ax.set(
                title=f"L = {depth}, {init} ({delta_label(float(cell.delta))}): "
                f"W_{int(cell.first_layer)} moves first",
                xlabel="t",
            )
            ax.title.set_fontsize(9)
            ax.grid(alpha=0.3)
        row[0].set_ylabel("‖W_l(t) − W_l(0)‖ / ‖W_l(0)‖")
        row[0].scatter([], [], color="grey", edgecolor="black", s=30, label="half its final move")
        row[0].legend(fontsize=8)
        ax = row[-1]
        modes = results.mode.values
        for color, mode in zip(delta_colors(np.linspace(-1, 1, modes.size)), modes, strict=True):
            ax.plot(
                results.mode_t,
                results.sigma_simulated.sel(depth=depth, mode=mode),
                color=color,
                linewidth=2.5,
            )
            ax.plot(
                results.mode_t,
                results.sigma_closed_form.sel(depth=depth, mode=mode),
                **THEORY_STYLE,
            )
        ax.plot([], [], color="grey", linewidth=2.5, label="simulated weights")
        ax.plot([], [], **THEORY_STYLE, label="σ̇ = −Lσ^(2−2/L)(σ − σ*)")
        ax.set(title=f"L = {depth}, balanced: singular values of E(t)", xlabel="t", ylabel="σ")
        ax.title.set_fontsize(9)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(
        "Deep linear networks: upstream (later layers larger) moves W_1 first, downstream W_L"
    )
    return {"deep_linear": fig}


def headline(results: xr.Dataset, config: Config) -> dict[str, str]:
    summary = {}
    for depth in results.depth.values:
        for name, label in (
            ("first_layer", "first to half its move"),
            ("fastest_layer", "fastest at t = 0"),
        ):
            layer = results[name].sel(depth=depth)
            summary[f"L = {depth}, {label}, up / bal. / down"] = " / ".join(
                f"W_{int(layer.sel(init=init))}" for init in INITS
            )
    summary["balanced flow vs simulation (max rel. error)"] = (
        f"{float(results.balanced_relative_error.max()):.1e}"
    )
    return summary


_WHERE = "§4, deep linear networks"
_FIRST = (
    "the layer first to reach half its final move, and the fastest at t = 0 "
    "(‖Ẇ_l(0)‖/‖W_l(0)‖), each depth"
)
UPSTREAM = Rule(
    "upstream (later layers larger): the earlier layers learn faster; W_1 moves first",
    _WHERE,
    _FIRST,
    "W_1 by both measures, at every depth",
)
DOWNSTREAM = Rule(
    "downstream (earlier layers larger): the last layer W_L moves first",
    _WHERE,
    _FIRST,
    "W_L by both measures, at every depth",
)
BALANCED = Rule(
    "balanced: all layers learn at similar speeds",
    _WHERE,
    "largest over smallest initial relative speed ‖Ẇ_l(0)‖/‖W_l(0)‖ across the layers",
    f"< {number(MUCH)} at every depth",
)
FLOW = agrees(
    "balanced, aligned: each singular value follows σ̇ = −Lσ^(2−2/L)(σ − σ*) (Arora et al., 2018)",
    _WHERE,
    "max relative error of the closed form against the simulated weights",
)


RULES = (UPSTREAM, DOWNSTREAM, BALANCED, FLOW)


def claims(results: xr.Dataset, config: Config) -> list[Claim]:
    """The deep-linear claims: which layer moves first, and the balanced closed form (§4)."""
    depths = results.depth.values

    def layers(init):
        def which(name):
            return ", ".join(
                f"L = {depth}: W_{int(results[name].sel(depth=depth, init=init))}"
                for depth in depths
            )

        return f"first: {which('first_layer')}; fastest: {which('fastest_layer')}"

    def moves_first(init, layer_of):
        return all(
            int(results[name].sel(depth=depth, init=init)) == layer_of(depth)
            for name in ("first_layer", "fastest_layer")
            for depth in depths
        )

    speed = results.initial_speed.sel(init="balanced")  # (depth, layer), NaN beyond the depth
    spread = (speed.max("layer") / speed.min("layer")).values  # (depth,)
    return [
        UPSTREAM.decide(moves_first("upstream", lambda depth: 1), layers("upstream")),
        DOWNSTREAM.decide(moves_first("downstream", lambda depth: depth), layers("downstream")),
        BALANCED.decide(
            bool(np.all(spread < MUCH)),
            ", ".join(f"L = {d}: {number(v)}" for d, v in zip(depths, spread, strict=True)),
        ),
        FLOW.of(float(results.balanced_relative_error.max())),
    ]


EXPERIMENT = Experiment("deep-linear", PRESETS, run, plot, headline, claims=claims, rules=RULES)
