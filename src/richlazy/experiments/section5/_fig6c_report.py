"""Figure 6c's figures, headline and claims, from its stored results alone
(``richlazy.experiments.section5.fig6c``, docs/section5-structure.md "Figure 6c")."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from richlazy.experiments._style import alpha_colors, alpha_label, figure
from richlazy.experiments.claims import Claim, Rule, number
from richlazy.experiments.section5._crossing import CENSORED_ABOVE, CENSORED_BELOW
from richlazy.experiments.section5._section5 import direction, per_seed_panel, spread

WHERE = "Figure 6c (§5)"
#: where the paper's Fig. 6c curves cross test error 0.1, P per α (read from its SVG;
#: docs/section5-structure.md "Figure 6c"): drawn beside ours for the paper's RHM and threshold
PAPER_P_STAR = {0.03: 10_600, 0.1: 7_300, 0.3: 6_100, 1.0: 5_700, 3.0: 4_900, 10.0: 4_200}
_PAPER_RHM = {"v": 8, "n_c": 8, "m": 4, "L": 3, "s": 2, "error_threshold": 0.1}


def ordinal_p_star(results: xr.Dataset, name: str = "sample_complexity") -> xr.DataArray:
    """P*(alpha, seed) (``name``: the paper's threshold, or ``sample_complexity_relative``)
    with censored values as ±inf (below the smallest P: −inf; never below the threshold: +inf),
    so that medians and comparisons order them rightly."""
    censored = results[f"{name}_censored"]
    value = results[name].where(censored == 0, 0.0)
    return value.where(censored != CENSORED_BELOW, -np.inf).where(
        censored != CENSORED_ABOVE, np.inf
    )


def _error(results: xr.Dataset) -> xr.DataArray:
    if "test_error" in results:
        return results.test_error
    return 1.0 - results.test_accuracy


def plot(results: xr.Dataset, config: Any) -> dict:
    """The paper's Fig. 6c: test error vs P/P_max per α on log axes (median over seeds, band
    from min to max); and P*(α) per seed with its median."""
    alphas = results.alpha.values
    colors = alpha_colors(alphas)
    fig = figure(10, 3.8)
    curves, stars = fig.subplots(1, 2)
    p_max = float(results.attrs.get("p_max", config.p_max))
    share = results.train_size.values / p_max
    error = _error(results)
    floor = 0.5 / float(getattr(config, "n_test", 1e4))  # zero error drawn at half a test point
    for i, alpha in enumerate(alphas):
        runs = np.maximum(error.isel(alpha=i).transpose("train_size", "seed").values, floor)
        curves.plot(share, np.median(runs, 1), "o-", color=colors[i], ms=3,
                    label=alpha_label(alpha))  # fmt: skip
        curves.fill_between(share, runs.min(1), runs.max(1), color=colors[i], alpha=0.2, lw=0)
    threshold = float(config.error_threshold)
    curves.axhline(threshold, color="black", ls=":", lw=0.8)
    curves.set_xscale("log", base=2)
    curves.set_yscale("log")
    curves.set_xlabel("P / P_max")
    curves.set_ylabel("test error (end of training)")
    curves.set_title(f"median over seeds, band min-max (dotted: {threshold:g})", fontsize=9)
    curves.legend(fontsize=7)
    ordinal = ordinal_p_star(results).values / p_max  # (alpha, seed)
    sizes = results.train_size.values / p_max
    low, high = sizes.min() / 1.5, sizes.max() * 1.5
    per_seed_panel(stars, alphas, ordinal, colors, low, high)
    if all(getattr(config, k, None) == v for k, v in _PAPER_RHM.items()):
        paper = sorted(PAPER_P_STAR.items())
        stars.plot([a for a, _ in paper], [p / p_max for _, p in paper], "k*--", ms=8, lw=0.8,
                   label="the paper's curves at 0.1")  # fmt: skip
    stars.set_xscale("log")
    stars.set_xticks(alphas, [alpha_label(a).removeprefix("α = ") for a in alphas])
    stars.set_xticks([], minor=True)
    stars.set_yscale("log", base=2)
    stars.set_ylim(low / 1.2, high * 1.2)
    stars.set_xlabel("α (first layer ÷ α, readout × α)")
    stars.set_ylabel(f"P*/P_max: test error < {threshold:g}")
    stars.set_title("sample complexity (triangles: censored at the P range)", fontsize=9)
    stars.legend(fontsize=7)
    model = "MLP" if getattr(config, "model", "mlp") == "mlp" else "hierarchical CNN"
    fig.suptitle(
        f"RHM v = {config.v}, n_c = {config.n_c}, m = {config.m}, L = {config.L}, "
        f"s = {config.s} (P_max = {int(p_max)}); {model} width {config.width}; "
        f"{results.seed.size} seeds",
        fontsize=10,
    )
    return {"fig6c": fig}


def headline(results: xr.Dataset, config: Any) -> dict[str, str]:
    lines = {}
    for name, label in (("sample_complexity", f"error < {config.error_threshold:g}"),
                        ("sample_complexity_relative",
                         f"error < {config.error_fraction:g} × chance")):  # fmt: skip
        if name not in results:
            continue
        ordinal = ordinal_p_star(results, name)
        for a in results.alpha.values:
            key = f"P* ({label}) {alpha_label(a)} (median [min, max] over seeds)"
            lines[key] = spread(ordinal.sel(alpha=a))
    if "epochs" in results and getattr(config, "model", "mlp") == "mlp":
        stopped = results.epochs < config.epochs
        lines[f"runs stopped early (training loss < {config.target_loss:g})"] = (
            f"{int(stopped.sum())} of {stopped.size}"
        )
    if "reached_target" in results:
        lines["runs short of the target loss"] = (
            f"{int((~results.reached_target.astype(bool)).sum())} of {results.reached_target.size}"
        )
    return lines


_P_STAR = (
    "P* = smallest P with test error < error_threshold (interpolated in log P; censored at the "
    "P range as ±∞)"
)
FALLS = Rule(
    "the sample complexity falls as α grows (the paper's curves are monotone in α)",
    WHERE,
    "median over seeds of P*",
    "median P* non-increasing from each α to the next, and lower at the largest α than at "
    "the smallest",
    expected="decreasing in α",
)
LOWERS = Rule(
    "an upstream initialization lowers the sample complexity of hierarchical data",
    WHERE,
    _P_STAR,
    "P*(largest α) < P*(α = 1) in every seed",
    expected="lower P* for α > 1",
)
RULES = (FALLS, LOWERS)


def claims(results: xr.Dataset, config: Any) -> list[Claim]:
    """P* falls with α (medians over seeds, the paper's threshold); upstream lowers P* against
    α = 1 in every seed. Each measured text says, seed by seed, whether the direction is the
    paper's, mixed across seeds, or the opposite."""
    alphas = results.alpha.values
    top, bottom = float(alphas.max()), float(alphas.min())
    ordinal = ordinal_p_star(results)
    settings = f"error_threshold {number(config.error_threshold)}"
    found = []
    if bottom >= 1.0 or top <= 1.0:
        found.append(FALLS.not_measured("needs an α < 1 and an α > 1"))
    else:
        medians = np.asarray([float(np.median(ordinal.sel(alpha=a).values)) for a in alphas])
        steps = np.diff(medians)
        holds = bool(np.all((steps <= 0) | np.isnan(steps)) and medians[-1] < medians[0])
        measured = ", ".join(
            f"{alpha_label(a)}: {spread(ordinal.sel(alpha=a).values)}" for a in alphas
        )
        seeds = direction(ordinal.sel(alpha=bottom).values, ordinal.sel(alpha=top).values)
        if np.all(np.isinf(medians)) and np.all(medians == medians[0]):
            found.append(FALLS.not_measured("every median censored alike: widen the P range",
                                            measured=measured))  # fmt: skip
        else:
            overall = ("the opposite direction" if medians[-1] > medians[0] else
                       "not monotone" if not holds else "monotone")  # fmt: skip
            note = f"{settings}; medians {overall}; smallest → largest α {seeds}"
            found.append(FALLS.decide(holds, measured, note=note))
    if top <= 1.0 or results.seed.size < 2:
        return [*found, LOWERS.not_measured("needs an α > 1 and at least two seeds")]
    up, ref = ordinal.sel(alpha=top).values, ordinal.sel(alpha=1.0).values
    decidable = ~(np.isinf(up) & (up == ref))
    lower = up[decidable] < ref[decidable]
    measured = (
        f"{alpha_label(top)}: {spread(up)}; α = 1: {spread(ref)}; lower in "
        f"{int(lower.sum())} of {int(decidable.sum())} seeds"
    )
    if not decidable.any():
        reason = "every seed is censored alike at both α: widen train_sizes"
        return [*found, LOWERS.not_measured(reason, measured=measured)]
    note = f"{settings}; α = 1 → {alpha_label(top)}: {direction(ref, up)}"
    return [*found, LOWERS.decide(bool(lower.all()), measured, note=note)]
