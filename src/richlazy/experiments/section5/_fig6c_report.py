"""Figure 6c's figures, headline and claims, from its stored results alone
(``richlazy.experiments.section5.fig6c``, docs/section5-structure.md)."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from richlazy.experiments._style import alpha_colors, alpha_label, figure
from richlazy.experiments.claims import Claim, Rule, number
from richlazy.experiments.section5._crossing import CENSORED_ABOVE, CENSORED_BELOW
from richlazy.experiments.section5._section5 import per_seed_panel, spread

WHERE = "Figure 6c (§5)"


def ordinal_p_star(results: xr.Dataset) -> xr.DataArray:
    """P*(alpha, seed) with censored values as ±inf (below the smallest P: −inf; never below
    the threshold: +inf), so that medians and comparisons order them rightly."""
    censored = results.sample_complexity_censored
    value = results.sample_complexity.where(censored == 0, 0.0)
    return value.where(censored != CENSORED_BELOW, -np.inf).where(
        censored != CENSORED_ABOVE, np.inf
    )


def plot(results: xr.Dataset, config: Any) -> dict:
    """Test error vs P per α (seed mean ± std), and P*(α) per seed with its median."""
    alphas = results.alpha.values
    colors = alpha_colors(alphas)
    fig = figure(10, 3.8)
    curves, stars = fig.subplots(1, 2)
    sizes = results.train_size.values
    error = 1.0 - results.test_accuracy
    for i, alpha in enumerate(alphas):
        mean = error.isel(alpha=i).mean("seed").values
        std = error.isel(alpha=i).std("seed").values
        curves.plot(sizes, mean, "o-", color=colors[i], label=alpha_label(alpha), ms=3)
        curves.fill_between(sizes, mean - std, mean + std, color=colors[i], alpha=0.2, lw=0)
    threshold = config.error_fraction * config.chance_error
    curves.axhline(threshold, color="black", ls=":", lw=0.8)
    curves.axhline(config.chance_error, color="grey", ls="--", lw=0.8)
    curves.set_xscale("log")
    curves.set_xticks(sizes, [str(int(size)) for size in sizes], minor=False)
    curves.set_xticks([], minor=True)
    curves.set_xlabel("training-set size P")
    curves.set_ylabel("test error (at the target training loss)")
    curves.set_title("learning curves (dotted: P* threshold; dashed: chance)", fontsize=9)
    curves.legend(fontsize=7)
    ordinal = ordinal_p_star(results).values  # (alpha, seed)
    low, high = sizes.min() / 1.5, sizes.max() * 1.5
    per_seed_panel(stars, alphas, ordinal, colors, low, high)
    stars.set_xscale("log")
    stars.set_xticks(alphas, [alpha_label(a).removeprefix("α = ") for a in alphas])
    stars.set_xticks([], minor=True)
    stars.set_yscale("log")
    stars.set_ylim(low / 1.2, high * 1.2)
    stars.set_xlabel("α (first layer ÷ α, readout × α)")
    stars.set_ylabel("P*: test error < threshold")
    stars.set_title("sample complexity (triangles: censored at the P range)", fontsize=9)
    stars.legend(fontsize=7)
    fig.suptitle(
        f"RHM v = {config.v}, n_c = {config.n_c}, m = {config.m}, "
        f"L = {config.L}, s = {config.s}; CNN width "
        f"{config.width}; {results.seed.size} seeds",
        fontsize=10,
    )
    return {"fig6c": fig}


def headline(results: xr.Dataset, config: Any) -> dict[str, str]:
    ordinal = ordinal_p_star(results)
    lines = {
        f"P* {alpha_label(a)} (median [min, max] over seeds)": spread(ordinal.sel(alpha=a))
        for a in results.alpha.values
    }
    size = _transition_size(results)
    accuracy = results.test_accuracy.sel(train_size=size)
    lines[
        f"test accuracy at P = {size}: " + ", ".join(alpha_label(a) for a in results.alpha.values)
    ] = ", ".join(
        f"{number(accuracy.sel(alpha=a).mean())} ± {number(accuracy.sel(alpha=a).std())}"
        for a in results.alpha.values
    )
    lines["runs short of the target loss"] = (
        f"{int((~results.reached_target.astype(bool)).sum())} of {results.reached_target.size}"
    )
    return lines


def _transition_size(results: xr.Dataset) -> int:
    """The P of the grid nearest (in log P) the median P*(α = 1): the reference's transition."""
    reference = np.median(ordinal_p_star(results).sel(alpha=1.0).values)
    sizes = results.train_size.values
    if not np.isfinite(reference):
        return int(sizes[0] if reference < 0 else sizes[-1])
    return int(sizes[np.argmin(np.abs(np.log(sizes) - np.log(reference)))])


_P_STAR = (
    "P* = smallest P with test error < error_fraction × chance error (interpolated in log P; "
    "censored at the P range as ±∞)"
)
LOWERS = Rule(
    "an upstream initialization lowers the sample complexity of hierarchical data",
    WHERE,
    _P_STAR,
    "P*(largest α) < P*(α = 1) in every seed",
    expected="lower P* for α > 1",
)
FALLS = Rule(
    "P* falls from downstream to upstream initializations",
    WHERE,
    "median over seeds of P*",
    "median P*: smallest α > α = 1 > largest α",
    expected="decreasing in α",
)
AHEAD = Rule(
    "upstream ahead in the transition region (preview: 0.66 → 0.78 at P = 512)",
    WHERE,
    "test accuracy at the P nearest median P*(α = 1)",
    "seed mean of acc(largest α) − acc(α = 1) > 0",
    expected="> 0",
)
RULES = (LOWERS, FALLS, AHEAD)


def claims(results: xr.Dataset, config: Any) -> list[Claim]:
    """Upstream lowers P* (every seed); P* falls from downstream to upstream (medians); upstream
    more accurate at the reference's transition (seed mean of the difference)."""
    alphas = results.alpha.values
    top, bottom = float(alphas.max()), float(alphas.min())
    ordinal = ordinal_p_star(results)
    two = top > 1.0 and results.seed.size >= 2  # an α > 1 and two seeds
    found = []
    if not two:
        found.append(LOWERS.not_measured("needs an α > 1 and at least two seeds"))
    else:
        up, ref = ordinal.sel(alpha=top).values, ordinal.sel(alpha=1.0).values
        decidable = ~(np.isinf(up) & (up == ref))
        lower = up[decidable] < ref[decidable]
        measured = (
            f"{alpha_label(top)}: {spread(up)}; α = 1: {spread(ref)}; lower in "
            f"{int(lower.sum())} of {int(decidable.sum())} seeds"
        )
        note = f"error_fraction {number(config.error_fraction)}"
        found.append(
            LOWERS.decide(bool(lower.all()), measured, note=note)
            if decidable.any()
            else LOWERS.not_measured(
                "every seed is censored alike at both α: widen train_sizes", measured=measured
            )
        )
    if bottom >= 1.0 or top <= 1.0:
        found.append(FALLS.not_measured("needs an α < 1 and an α > 1"))
    else:
        medians = [float(np.median(ordinal.sel(alpha=a).values)) for a in (bottom, 1.0, top)]
        measured = ", ".join(
            f"{alpha_label(a)}: {number(m)}"
            for a, m in zip((bottom, 1.0, top), medians, strict=True)
        )
        found.append(FALLS.decide(medians[0] > medians[1] > medians[2], measured))
    if not two:
        return [*found, AHEAD.not_measured("needs an α > 1 and two seeds")]
    size = _transition_size(results)
    difference = (
        results.test_accuracy.sel(train_size=size, alpha=top)
        - results.test_accuracy.sel(train_size=size, alpha=1.0)
    ).values
    measured = (
        f"{number(difference.mean())} ± {number(difference.std())} (mean ± std over "
        f"{difference.size} seeds)"
    )
    note = f"P = {size}, {alpha_label(top)}"
    return [*found, AHEAD.decide(float(difference.mean()) > 0, measured, note=note)]
