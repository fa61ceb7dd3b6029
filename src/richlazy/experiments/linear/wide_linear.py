"""Wide two-layer linear networks: Theorem 4.2's function-space flow and its implicit bias.

Three panels (docs/theory.md §3). (a) β = WᵀA from the function-space flow β̇ = −PG − GQ against an
independent simulation of (W, A) gradient flow, for δ < 0 (h = d), δ = 0 (any h, here wider)
and δ > 0 (h = c). (b) The decoupled singular-value flow from a small σ0: sigmoidal (rich) at
small |δ|, exponential (lazy) at large |δ|. (c) Underdetermined aligned regression from σ0 = 0:
the interpolant of the hyperbolic-entropy mirror flow passes from the minimum-ℓ1 solution
(δ → 0) to the minimum-ℓ2 one (|δ| → ∞).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import xarray as xr
from matplotlib import colormaps
from scipy.optimize import linprog

from richlazy import _validate as check
from richlazy import deep_linear as dl
from richlazy import wide_linear as wl
from richlazy._validate import Checked, option, require
from richlazy.experiments._style import THEORY_STYLE, delta_colors, delta_label, figure
from richlazy.experiments.claims import Claim, agrees, at_least, at_most, number
from richlazy.experiments.spec import Experiment
from richlazy.sweeps import RunContext

MAGNITUDE_CMAP = colormaps["viridis"]


@dataclass(frozen=True)
class Config(Checked):
    """Settings of the wide-linear experiment (sizes chosen so every δ meets Theorem 4.2)."""

    # (a) function space vs parameter space
    deltas: tuple[float, ...] = option((-2.0, -0.5, 0.0, 0.5, 2.0), check.tuple_of())
    d: int = option(4, check.whole())  # input dimension = hidden width when δ < 0
    c: int = option(2, check.whole())  # output dimension = hidden width when δ > 0
    # hidden width at δ = 0, where any h is allowed: wider than d, c
    balanced_width: int = option(6, check.whole())
    samples: int = option(8, check.whole())  # n > d: one least-squares solution for every δ
    # small enough that δ = 0 shows a plateau, large enough to leave it fast
    scale: float = option(0.3, check.positive_float)
    eta_a: float = option(1.0, check.positive_float)
    eta_w: float = option(1.0, check.positive_float)
    t_max: float = option(12.0, check.positive_float)
    time_points: int = option(241, check.whole(2))
    # both integrators: well below the 1e-8 agreement we check
    rtol: float = option(1e-12, check.interval(0, 1e-3))
    seed: int = 0
    # (b) singular-value (mode) flow; only |δ| enters it
    mode_deltas: tuple[float, ...] = option((0.0, 0.1, 0.5, 2.0, 10.0, 50.0), check.tuple_of())
    sigma0: float = 1e-3
    sigma_star: float = 1.0
    # in units of the final rate R = √(δ² + 4η_aη_wσ*²)
    mode_time_max: float = option(15.0, check.positive_float)
    mode_time_points: int = option(301, check.whole(2))
    # (c) implicit bias on underdetermined aligned regression, from σ0 = 0
    measurements: int = 6
    modes: int = 10
    sparse_values: tuple[float, ...] = (1.5, -0.8)  # the planted σ (on the first modes)
    bias_delta_range: tuple[float, float] = (1e-12, 1e8)  # |δ|, log-spaced
    bias_points: int = option(21, check.whole(2))

    def __post_init__(self):
        super().__post_init__()
        require(
            0 < self.sigma0 < self.sigma_star,
            f"need 0 < sigma0 < sigma_star (a mode that grows), got {self.sigma0}, "
            f"{self.sigma_star}",
        )
        require(
            1 <= self.measurements < self.modes,
            f"need 1 <= measurements < modes (underdetermined), got {self.measurements}, "
            f"{self.modes}",
        )
        require(
            0 < len(self.sparse_values) <= self.modes and any(self.sparse_values),
            "sparse_values must be 1 to `modes` numbers, not all zero",
        )
        # (a) the parameters and the function at every (δ, t), and the data's (n, d) products;
        # (b) the modes at every (δ, t); (c) every mode at every |δ|
        h = max(self.d, self.c, self.balanced_width)
        check.fits_memory(
            "d, c, balanced_width, samples, time_points, mode_time_points, bias_points, modes",
            8.0
            * (
                len(self.deltas) * self.time_points * (h * (self.d + self.c) + self.d * self.c)
                + (self.samples + h) ** 2
                + len(self.mode_deltas) * self.mode_time_points
                + self.bias_points * self.modes
            ),
        )
        low, high = self.bias_delta_range
        require(
            0 < low < high and np.isfinite(high),
            "bias_delta_range must be (low, high) with 0 < low < high, got "
            f"{self.bias_delta_range}",
        )


QUICK = Config(time_points=121, mode_time_points=151, bias_points=11)
SMOKE = replace(QUICK, time_points=41, mode_time_points=41, bias_points=5)  # the tests' run
PRESETS = {"quick": QUICK, "paper": Config(), "smoke": SMOKE}


def hidden_width(config: Config, delta: float) -> int:
    """The width Theorem 4.2 allows: h = d for δ < 0, h = c for δ > 0, any h for δ = 0."""
    if delta < 0:
        return config.d
    return config.c if delta > 0 else config.balanced_width


def _function_vs_parameters(config: Config, context: RunContext) -> dict:
    """Panel (a): the function-space flow and the parameter-space simulation for every δ."""
    rng = np.random.default_rng(config.seed)
    X = rng.normal(size=(config.samples, config.d)) / np.sqrt(config.samples)  # (n, d)
    Y = rng.normal(size=(config.samples, config.c))  # (n, c)
    t = np.linspace(0.0, config.t_max, config.time_points)
    rates = {"eta_a": config.eta_a, "eta_w": config.eta_w}
    function, parameter, widths = [], [], []
    with context.progress.task("wide-linear: function vs parameter space", len(config.deltas)) as (
        advance
    ):
        for delta in config.deltas:
            h = hidden_width(config, delta)
            W, A = wl.initial_parameters(
                h, config.d, config.c, delta, scale=config.scale, rng=rng, **rates
            )
            function.append(
                wl.function_space_flow_from_parameters(W, A, X, Y, t, rtol=config.rtol, **rates)
            )
            # Independent oracle: (W, A) gradient flow, as the depth-2 network W_1 = W, W_2 = Aᵀ.
            simulated = dl.gradient_flow(
                [W, A.T], X, Y, t, etas=[config.eta_w, config.eta_a], rtol=config.rtol
            )
            parameter.append(simulated.end_to_end.transpose(0, 2, 1))  # (T, d, c)
            widths.append(h)
            advance()
    function, parameter = np.array(function), np.array(parameter)  # (D, T, d, c)
    norms = np.linalg.norm(parameter, axis=(-2, -1))  # (D, T)
    error = np.linalg.norm(function - parameter, axis=(-2, -1)) / norms  # (D, T)
    least_squares = np.linalg.lstsq(X, Y, rcond=None)[0]  # (d, c)
    gap = np.linalg.norm(parameter - least_squares, axis=(-2, -1)) / np.linalg.norm(least_squares)
    gap_function = np.linalg.norm(function - least_squares, axis=(-2, -1))
    dims, beta_dims = ("delta", "t"), ("delta", "t", "row", "col")
    return {
        "variables": {
            "beta_function": (beta_dims, function),
            "beta_parameter": (beta_dims, parameter),
            "relative_error_t": (dims, error),
            "relative_error": (("delta",), error.max(axis=1)),
            "distance_to_least_squares": (dims, gap),
            "distance_to_least_squares_function": (
                dims,
                gap_function / np.linalg.norm(least_squares),
            ),
            "hidden_width": (("delta",), np.array(widths)),
        },
        "coords": {
            "delta": list(config.deltas),
            "t": t,
            "row": np.arange(config.d),
            "col": np.arange(config.c),
        },
    }


def _mode_flow(config: Config) -> dict:
    """Panel (b): σ(t) of one mode for every |δ|, sampled on the rescaled time R t."""
    rescaled = np.linspace(0.0, config.mode_time_max, config.mode_time_points)
    deltas = np.array(config.mode_deltas)
    rate = 4 * config.eta_a * config.eta_w
    final_rate = np.sqrt(deltas**2 + rate * config.sigma_star**2)  # (D,)
    sigma = np.array(
        [
            wl.exact_singular_value_flow(
                config.sigma0,
                config.sigma_star,
                delta,
                rescaled / R,
                eta_a=config.eta_a,
                eta_w=config.eta_w,
            )
            for delta, R in zip(deltas, final_rate, strict=True)
        ]
    )  # (D, T)
    return {
        "variables": {
            "mode_sigma": (("mode_delta", "rescaled_time"), sigma),
            "mode_rate": (("mode_delta",), final_rate),
        },
        "coords": {"mode_delta": deltas, "rescaled_time": rescaled},
    }


def _implicit_bias(config: Config) -> dict:
    """Panel (c): interpolants of Mσ = b from σ0 = 0 for |δ| across the range, ℓ1 and ℓ2."""
    rng = np.random.default_rng(config.seed + 1)
    m, k = config.measurements, config.modes
    M = rng.normal(size=(m, k))  # (m, k)
    planted = np.zeros(k)
    planted[: len(config.sparse_values)] = config.sparse_values
    b = M @ planted  # (m,)
    lp = linprog(np.ones(2 * k), A_eq=np.hstack([M, -M]), b_eq=b, bounds=(0, None))
    require(lp.success, f"the minimum-ℓ1 linear program failed: {lp.message}")
    l1 = lp.x[:k] - lp.x[k:]  # argmin ‖σ‖₁ on Mσ = b
    l2 = np.linalg.pinv(M) @ b  # argmin ‖σ‖₂ on Mσ = b
    deltas = np.logspace(*np.log10(config.bias_delta_range), config.bias_points)
    sigma = np.array(
        [
            wl.aligned_interpolant(M, b, np.zeros(k), delta, eta_a=config.eta_a, eta_w=config.eta_w)
            for delta in deltas
        ]
    )  # (D, k)
    grid = np.linspace(-1.5, 1.5, 121)
    shown = np.array([1e-6, 1e-2, 1.0, 1e2])  # potentials drawn in the figure, δ ≠ 0
    potential = np.array(
        [
            wl.hyperbolic_entropy(grid, delta, eta_a=config.eta_a, eta_w=config.eta_w)
            for delta in shown
        ]
    )  # (P, G)
    at_zero = np.array(
        [wl.hyperbolic_entropy(0.0, d, eta_a=config.eta_a, eta_w=config.eta_w) for d in shown]
    )
    at_one = np.array(
        [wl.hyperbolic_entropy(1.0, d, eta_a=config.eta_a, eta_w=config.eta_w) for d in shown]
    )
    shape = (potential - at_zero[:, None]) / (at_one - at_zero)[:, None]  # φ(0) = 0, φ(1) = 1
    return {
        "variables": {
            "interpolant": (("bias_delta", "mode"), sigma),
            "l1_solution": (("mode",), l1),
            "l2_solution": (("mode",), l2),
            "planted": (("mode",), planted),
            "distance_to_l1": (
                ("bias_delta",),
                np.linalg.norm(sigma - l1, axis=1) / np.linalg.norm(l1),
            ),
            "distance_to_l2": (
                ("bias_delta",),
                np.linalg.norm(sigma - l2, axis=1) / np.linalg.norm(l2),
            ),
            "interpolant_residual": (("bias_delta",), np.abs(sigma @ M.T - b).max(axis=1)),
            "potential_shape": (("potential_delta", "sigma"), shape),
        },
        "coords": {
            "bias_delta": deltas,
            "mode": np.arange(k),
            "potential_delta": shown,
            "sigma": grid,
        },
    }


def run(config: Config, context: RunContext) -> xr.Dataset:
    """The three panels (docs/theory.md §3)."""
    variables, coords = {}, {}
    for part in (
        _function_vs_parameters(config, context),
        _mode_flow(config),
        _implicit_bias(config),
    ):
        variables.update(part["variables"])
        coords.update(part["coords"])
    return xr.Dataset(variables, coords=coords)


def plot(results: xr.Dataset, config: Config) -> dict:
    """Two figures: the dynamics (panels a, b) and the implicit bias (panel c)."""
    return {
        "wide_linear_dynamics": _plot_dynamics(results, config),
        "wide_linear_bias": _plot_bias(results),
    }


def _plot_dynamics(results: xr.Dataset, config: Config):
    fig = figure(15, 4.2)
    ax_flow, ax_error, ax_mode = fig.subplots(1, 3)
    deltas = results.delta.values
    for color, delta in zip(delta_colors(deltas), deltas, strict=True):
        row = results.sel(delta=delta)
        label = f"{delta_label(delta)} (h = {int(row.hidden_width)})"
        ax_flow.plot(row.t, row.distance_to_least_squares, color=color, linewidth=2.5, label=label)
        ax_flow.plot(row.t, row.distance_to_least_squares_function, **THEORY_STYLE)
        floor = np.finfo(float).eps
        ax_error.semilogy(
            row.t[1:], np.maximum(row.relative_error_t[1:], floor), color=color, label=label
        )
    ax_flow.plot([], [], **THEORY_STYLE, label="function-space flow")
    ax_flow.set(
        title="(a) ‖β(t) − β_LS‖ / ‖β_LS‖: (W, A) solid, β̇ = −PG − GQ dashed",
        xlabel="t",
        yscale="log",
    )
    ax_flow.legend(fontsize=8)
    ax_error.set(
        title="(a) ‖β_function − β_parameter‖ / ‖β_parameter‖",
        xlabel="t",
        ylim=(1e-16, 1e-6),
    )
    mode_deltas = results.mode_delta.values
    star = float(config.sigma_star)
    for color, delta in zip(magnitude_colors(mode_deltas), mode_deltas, strict=True):
        ax_mode.plot(
            results.rescaled_time,
            results.mode_sigma.sel(mode_delta=delta) / star,
            color=color,
            linewidth=2.5,
            label=f"|δ| = {delta:g}",
        )
    sigma0 = float(config.sigma0)
    x = results.rescaled_time.values
    ax_mode.plot(x, 1 - (1 - sigma0 / star) * np.exp(-x), **THEORY_STYLE, label="lazy: 1 − e^(−Rt)")
    ax_mode.set(
        title=f"(b) one mode σ(t)/σ*, σ0 = {sigma0 / star:g}σ*: rich sigmoid → lazy exponential",
        xlabel="R t,   R = √(δ² + 4η_aη_w σ*²)",
    )
    for ax in (ax_flow, ax_error, ax_mode):
        ax.grid(alpha=0.3)
        ax.title.set_fontsize(9)
    ax_mode.legend(fontsize=8)
    fig.suptitle("Wide linear network (Theorem 4.2): function space = parameter space")
    return fig


def _plot_bias(results: xr.Dataset):
    fig = figure(15, 4.2)
    ax_potential, ax_path, ax_distance = fig.subplots(1, 3)
    shown = results.potential_delta.values
    for color, delta in zip(magnitude_colors(shown), shown, strict=True):
        ax_potential.plot(
            results.sigma,
            results.potential_shape.sel(potential_delta=delta),
            color=color,
            linewidth=2,
            label=f"|δ| = {delta:g}",
        )
    ax_potential.set(
        title="(c) hyperbolic entropy φ_δ(σ), scaled to φ(0) = 0, φ(1) = 1",
        xlabel="σ",
        ylim=(-0.1, 2.4),
    )
    ax_potential.legend(fontsize=8)
    deltas = results.bias_delta.values
    colors = [f"C{i % 10}" for i in range(results.mode.size)]
    for color, mode in zip(colors, results.mode.values, strict=True):
        ax_path.semilogx(deltas, results.interpolant.sel(mode=mode), color=color, linewidth=1.8)
        ax_path.scatter(deltas[0], results.l1_solution.sel(mode=mode), marker="<", color=color)
        ax_path.scatter(deltas[-1], results.l2_solution.sel(mode=mode), marker=">", color=color)
    ax_path.scatter([], [], marker="<", color="grey", label="min ‖σ‖₁")
    ax_path.scatter([], [], marker=">", color="grey", label="min ‖σ‖₂")
    ax_path.set(title="(c) interpolant σ∞(δ) of Mσ = b from σ0 = 0, each mode", xlabel="|δ|")
    ax_path.legend(fontsize=8)
    ax_distance.loglog(deltas, results.distance_to_l1, marker="o", label="‖σ∞ − σ_ℓ1‖ / ‖σ_ℓ1‖")
    ax_distance.loglog(deltas, results.distance_to_l2, marker="s", label="‖σ∞ − σ_ℓ2‖ / ‖σ_ℓ2‖")
    ax_distance.set(title="(c) rich δ → 0 is ℓ1, lazy |δ| → ∞ is ℓ2", xlabel="|δ|")
    ax_distance.legend(fontsize=8)
    for ax in (ax_potential, ax_path, ax_distance):
        ax.grid(alpha=0.3)
        ax.title.set_fontsize(9)
    fig.suptitle("Wide linear network: implicit bias passes from ℓ1 (rich) to ℓ2 (lazy)")
    return fig


def magnitude_colors(magnitudes) -> list:
    """Only |δ| enters (b) and (c): one viridis color per |δ|, log-spaced (0 gets the first)."""
    magnitudes = np.abs(np.asarray(magnitudes, dtype=float))
    positive = magnitudes[magnitudes > 0]
    if positive.size == 0:
        return [MAGNITUDE_CMAP(0.0)] * magnitudes.size
    low, high = np.log10(positive.min()), np.log10(positive.max())
    logs = np.log10(np.where(magnitudes > 0, magnitudes, positive.min()))
    positions = (logs - low) / (high - low) if high > low else np.ones_like(logs)
    positions = np.where(magnitudes > 0, 0.15 + 0.75 * positions, 0.0)
    return [MAGNITUDE_CMAP(p) for p in positions]


def headline(results: xr.Dataset, config: Config) -> dict[str, str]:
    small, large = results.bias_delta.values[[0, -1]]
    nonzero = (np.abs(results.interpolant) > 1e-3 * np.abs(results.interpolant).max()).sum("mode")
    return {
        "function vs parameter space (max rel. error)": (
            f"{float(results.relative_error.max()):.1e}"
        ),
        f"ℓ1 → ℓ2: rel. dist. to min-ℓ1 / min-ℓ2 at |δ| = {small:.0e} / {large:.0e}": (
            f"{float(results.distance_to_l1[0]):.1e} / {float(results.distance_to_l2[-1]):.1e}"
        ),
        "nonzero modes of σ∞, |δ| small → large": (
            f"{int(nonzero[0])} → {int(nonzero[-1])} of {results.mode.size}"
        ),
    }


_MODE = "max over t of |σ(t)/σ* − (1 − (1 − σ0/σ*)e^(−Rt))|, R = √(δ² + 4η_aη_wσ*²)"
THEOREM = agrees(
    "with Δ = δI (h = d for δ < 0, h = c for δ > 0), β = WᵀA follows β̇ = −PG − GQ",
    "Theorem 4.2, §4",
    "max over δ and t of ‖β_function − β_parameter‖ / ‖β_parameter‖",
)
LAZY_MODE = at_most(
    "lazy (large |δ|): each singular value is learned exponentially, like linear regression",
    "§4, singular-value dynamics",
    f"{_MODE}, at the largest |δ|",
    0.01,
    expected="0 as |δ| → ∞",
)
RICH_MODE = at_least(
    "rich (small |δ|): a singular value is learned as a sigmoid, after a plateau",
    "§4, singular-value dynamics",
    f"{_MODE}, at the smallest |δ|",
    0.5,
    expected="far from the exponential",
)
SPARSE = at_most(
    "δ → 0 (rich): the interpolant from σ0 = 0 is the minimum-ℓ1 one (sparse)",
    "§4, hyperbolic entropy",
    "‖σ∞ − σ_ℓ1‖ / ‖σ_ℓ1‖ at the smallest |δ|",
    0.01,
    expected="→ 0 as δ → 0, slowly (like 1/ln(1/|δ|))",
)
MINIMUM_NORM = at_most(
    "|δ| → ∞ (lazy): the interpolant is the minimum-ℓ2 one",
    "§4, hyperbolic entropy",
    "‖σ∞ − σ_ℓ2‖ / ‖σ_ℓ2‖ at the largest |δ|",
    0.01,
    expected="→ 0 as |δ| → ∞",
)


RULES = (THEOREM, LAZY_MODE, RICH_MODE, SPARSE, MINIMUM_NORM)


def claims(results: xr.Dataset, config: Config) -> list[Claim]:
    """The wide-linear claims: Theorem 4.2, the mode flow and the implicit bias (§3)."""
    star, sigma0 = float(config.sigma_star), float(config.sigma0)
    modes = results.mode_sigma  # (mode_delta, rescaled_time); only |δ| enters
    lazy_curve = 1 - (1 - sigma0 / star) * np.exp(-modes.rescaled_time)
    off = np.abs(modes / star - lazy_curve).max("rescaled_time")  # (mode_delta,)
    magnitude = np.abs(modes.mode_delta.values)
    small, large = modes.mode_delta.values[[np.argmin(magnitude), np.argmax(magnitude)]]
    bias = results.bias_delta.values

    def at(delta):
        return f"|δ| = {number(abs(delta))}"

    return [
        THEOREM.of(float(results.relative_error.max())),
        LAZY_MODE.of(float(off.sel(mode_delta=large)), note=at(large)),
        RICH_MODE.of(float(off.sel(mode_delta=small)), note=at(small)),
        SPARSE.of(float(results.distance_to_l1.isel(bias_delta=0)), note=at(bias[0])),
        MINIMUM_NORM.of(float(results.distance_to_l2.isel(bias_delta=-1)), note=at(bias[-1])),
    ]


EXPERIMENT = Experiment("wide-linear", PRESETS, run, plot, headline, claims=claims, rules=RULES)
