"""Figure 6d's figures, headline and claims, from its stored results alone
(``richlazy.experiments.section5.fig6d``, docs/section5-structure.md)."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from richlazy.experiments._style import alpha_colors, alpha_label, figure
from richlazy.experiments.claims import Claim, Rule, step_count
from richlazy.experiments.section5._section5 import per_seed_panel, spread

WHERE = "Figure 6d (§5)"
STATEMENT = "an upstream initialization reduces the time to grokking"
PAIRED = "upstream groks sooner than α = 1 from the same draw, seed by seed"


def ordinal_steps(results: xr.Dataset) -> xr.DataArray:
    """steps_to_generalize (alpha, seed) with censored runs as +inf (later than any cap)."""
    return results.steps_to_generalize.where(~results.censored.astype(bool), np.inf)


def plot(results: xr.Dataset, config: Any) -> dict:
    """Train (dashed) and test (solid) accuracy per α, one line per seed; steps to generalize
    vs α per seed (triangles: censored at the cap) with the median."""
    alphas = results.alpha.values
    colors = alpha_colors(alphas)
    fig = figure(11, 4.0)
    curves, steps_panel = fig.subplots(1, 2)
    step = results.step.values
    for i, alpha in enumerate(alphas):
        for j in range(results.seed.size):
            label = alpha_label(alpha) if j == 0 else None
            run = results.isel(alpha=i, seed=j)
            curves.plot(step, run.test_accuracy.values, color=colors[i], lw=1, label=label)
            curves.plot(step, run.train_accuracy.values, color=colors[i], lw=0.7, ls="--")
    curves.axhline(float(config.threshold), color="black", ls=":", lw=0.8)
    curves.set_xlabel("step (full batch)")
    curves.set_ylabel("accuracy (solid: test, dashed: train)")
    curves.set_title("curves per α, one line per seed", fontsize=9)
    curves.legend(fontsize=7)
    cap = float(config.max_steps)
    ordinal = ordinal_steps(results).values  # (alpha, seed)
    per_seed_panel(steps_panel, alphas, ordinal, colors, 0.0, cap)
    steps_panel.axhline(cap, color="grey", ls="--", lw=0.8)
    steps_panel.set_xscale("log", base=2)
    steps_panel.set_xticks(alphas, [alpha_label(a).removeprefix("α = ") for a in alphas])
    steps_panel.set_xticks([], minor=True)
    steps_panel.set_xlabel("α (embedding ÷ α)")
    steps_panel.set_ylabel(f"steps until test accuracy > {config.threshold:g}")
    steps_panel.set_title("time to generalize (triangles: censored at the cap)", fontsize=9)
    steps_panel.legend(fontsize=7)
    fig.suptitle(
        f"(a + b) mod {config.p}, {config.fraction:g} of pairs for training; "
        f"{config.optimizer} lr {config.lr:g}, weight decay "
        f"{config.weight_decay:g}; {results.seed.size} seeds",
        fontsize=10,
    )
    return {"fig6d": fig}


def headline(results: xr.Dataset, config: Any) -> dict[str, str]:
    ordinal = ordinal_steps(results)
    lines = {}
    for alpha in results.alpha.values:
        run = results.sel(alpha=alpha)
        lines[f"steps to generalize {alpha_label(alpha)} (median [min, max]; censored)"] = (
            f"{spread(ordinal.sel(alpha=alpha), step_count)}; {int(run.censored.sum())} of "
            f"{run.seed.size}"
        )
    memorize = results.steps_to_memorize.values
    lines["steps to memorize (median over every run)"] = spread(
        memorize[np.isfinite(memorize)], step_count
    )
    if "diverged" in results:
        lines["diverged runs"] = f"{int(results.diverged.sum())} of {results.diverged.size}"
    return lines


_STEPS = "steps until test accuracy first exceeds threshold (censored at max_steps: +∞)"
SOONER = Rule(
    STATEMENT,
    WHERE,
    _STEPS,
    "median over seeds: largest α < α = 1",
    expected="fewer steps for α > 1",
)
SOONER_PER_SEED = Rule(
    PAIRED,
    WHERE,
    _STEPS,
    "largest α < α = 1 in every seed",
    expected="fewer steps for α > 1",
)
RULES = (SOONER, SOONER_PER_SEED)


def claims(results: xr.Dataset, config: Any) -> list[Claim]:
    """The paper's direction (stated before measuring): at the largest α the median time to
    generalize is below α = 1's, and it is lower in every seed. Censored runs count as later
    than any measured run."""
    top = float(results.alpha.values.max())
    if top <= 1.0 or results.seed.size < 2:
        reason = "needs an α > 1 and at least two seeds"
        return [SOONER.not_measured(reason), SOONER_PER_SEED.not_measured(reason)]
    ordinal = ordinal_steps(results)
    up, ref = ordinal.sel(alpha=top).values, ordinal.sel(alpha=1.0).values
    measured = f"{alpha_label(top)}: {spread(up, step_count)}; α = 1: {spread(ref, step_count)}"
    settings = f"threshold {config.threshold:g}, max_steps {config.max_steps}"
    found = []
    median_up, median_ref = float(np.median(up)), float(np.median(ref))
    if np.isinf(median_up) and np.isinf(median_ref):
        reason = "most runs censored at both α: raise max_steps"
        found.append(SOONER.not_measured(reason, measured=measured))
    else:
        width = float(np.ptp(ref))  # the range over seeds at α = 1 (inf with a censored run)
        close = (
            f"; the medians differ by {step_count(abs(median_ref - median_up))} steps, less than "
            f"the range over seeds at α = 1 ({step_count(width)})"
            if abs(median_ref - median_up) < width
            else ""
        )
        found.append(SOONER.decide(median_up < median_ref, measured, note=settings + close))
    decidable = ~(np.isinf(up) & np.isinf(ref))
    lower = up[decidable] < ref[decidable]
    # the steps themselves are the median claim's measured value, just above: not repeated
    per_seed = f"lower in {int(lower.sum())} of {int(decidable.sum())} seeds"
    if not decidable.any():
        reason = "every seed censored at both α"
        return [*found, SOONER_PER_SEED.not_measured(reason, measured=per_seed)]
    return [*found, SOONER_PER_SEED.decide(bool(lower.all()), per_seed, note=settings)]
