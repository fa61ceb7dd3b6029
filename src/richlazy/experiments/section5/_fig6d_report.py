"""Figure 6d's figures, headline and claims, from its stored results alone
(``richlazy.experiments.section5.fig6d``, docs/section5-structure.md "Figure 6d")."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from richlazy.experiments._style import alpha_colors, alpha_label, figure
from richlazy.experiments.claims import Claim, Rule, step_count
from richlazy.experiments.section5._section5 import direction, per_seed_panel, spread

WHERE = "Figure 6d and Fig. 12 (§5)"
#: the steps to grok that the paper's Fig. 12 shows at τ = 1, (low, high) per α, read from the
#: plot (docs/section5-structure.md "Figure 6d"): drawn beside ours for the paper's p = 97 task
PAPER_TAU1 = {0.1: (12_000, 15_000), 0.3: (9_000, 12_000), 1.0: (9_000, 12_000),
              3.0: (9_000, 12_000), 10.0: (6_000, 9_000)}  # fmt: skip


def _with_tau(results: xr.Dataset) -> xr.Dataset:
    """Results without a τ axis (stored before τ existed) get τ = 1."""
    return results if "tau" in results.dims else results.expand_dims(tau=[1.0], axis=1)


def ordinal_steps(results: xr.Dataset, name: str = "steps_to_generalize") -> xr.DataArray:
    """``name`` (alpha, tau, seed) with censored runs as +inf (later than any budget)."""
    results = _with_tau(results)
    flag = "censored" if name == "steps_to_generalize" else "memorize_censored"
    if flag in results:
        return results[name].where(~results[flag].astype(bool), np.inf)
    return results[name].fillna(np.inf)


def _reference_tau(results: xr.Dataset) -> float:
    """τ = 1 if it was run, else the τ nearest 1."""
    taus = _with_tau(results).tau.values
    return float(taus[np.argmin(np.abs(np.log(taus)))])


def plot(results: xr.Dataset, config: Any) -> dict:
    """fig6d: validation (solid) and training (dashed) accuracy per α at τ = 1, one line per
    seed; steps to grok vs α at τ = 1 per seed with the median. fig12: the medians over seeds
    of the steps until trained and until grokked over the (τ, α) grid (the paper's Fig. 12)."""
    results = _with_tau(results)
    alphas = results.alpha.values
    colors = alpha_colors(alphas)
    tau = _reference_tau(results)
    row = results.sel(tau=tau)
    fig = figure(11, 4.0)
    curves, steps_panel = fig.subplots(1, 2)
    step = results.step.values
    for i, alpha in enumerate(alphas):
        for j in range(row.seed.size):
            label = alpha_label(alpha) if j == 0 else None
            run = row.isel(alpha=i, seed=j)
            curves.plot(step, run.test_accuracy.values, color=colors[i], lw=1, label=label)
            curves.plot(step, run.train_accuracy.values, color=colors[i], lw=0.7, ls="--")
    curves.axhline(float(config.threshold), color="black", ls=":", lw=0.8)
    curves.set_xscale("symlog", linthresh=max(float(step[1]) if step.size > 1 else 1.0, 1.0))
    curves.set_xlim(left=0)  # steps are never negative: no empty symlog half
    curves.set_xlabel("step")
    curves.set_ylabel("accuracy (solid: validation, dashed: train)")
    curves.set_title(f"τ = {tau:g}: one line per seed", fontsize=9)
    curves.legend(fontsize=7)
    cap = float(config.max_steps)
    ordinal = ordinal_steps(results).sel(tau=tau).values  # (alpha, seed)
    first = float(step[1]) if step.size > 1 else 1.0  # the first measured step after 0
    per_seed_panel(steps_panel, alphas, ordinal, colors, first / 2, cap)
    steps_panel.axhline(cap, color="grey", ls="--", lw=0.8)
    steps_panel.set_xscale("log")
    steps_panel.set_yscale("log")  # times from hundreds of steps to the cap
    if (
        tau == 1.0
        and getattr(config, "p", None) == 97
        and getattr(config, "model", "") == "grokking"
    ):
        for k, (alpha, (low, high)) in enumerate(sorted(PAPER_TAU1.items())):
            label = "the paper's Fig. 12 at τ = 1 (read)" if k == 0 else None
            steps_panel.plot([alpha, alpha], [low, high], color="grey", lw=6, alpha=0.5,
                             solid_capstyle="butt", label=label)  # fmt: skip
    steps_panel.set_xticks(alphas, [alpha_label(a).removeprefix("α = ") for a in alphas])
    steps_panel.set_xticks([], minor=True)
    steps_panel.set_xlabel("α (embeddings ÷ α)")
    steps_panel.set_ylabel(f"steps until validation accuracy ≥ {config.threshold:g}")
    steps_panel.set_title(f"time to grok at τ = {tau:g} (triangles: censored)", fontsize=9)
    steps_panel.legend(fontsize=7)
    fig.suptitle(_title(results, config), fontsize=10)
    return {"fig6d": fig, "fig12": _grid_figure(results, config)}


def _title(results: xr.Dataset, config: Any) -> str:
    model = getattr(config, "model", "nanda")
    batch = getattr(config, "batch_size", None)
    return (
        f"{model} transformer, {config.operation} mod {config.p}, {config.fraction:g} of the table "
        f"for training; {config.optimizer} lr {config.lr:g}/τ², weight decay "
        f"{config.weight_decay:g}, batch {batch or 'full'}; {results.seed.size} seeds"
    )


def _grid_figure(results: xr.Dataset, config: Any):
    """Two heat maps over (τ, α): median steps until trained and until grokked."""
    fig = figure(10, 3.6)
    panels = fig.subplots(1, 2)
    alphas, taus = results.alpha.values, results.tau.values
    cap = float(config.max_steps)
    for ax, name, title in zip(panels, ("steps_to_memorize", "steps_to_generalize"),
                               ("steps until trained", "steps until grokked"),
                               strict=True):  # fmt: skip
        median = ordinal_steps(results, name).median("seed").transpose("tau", "alpha").values
        shown = np.where(np.isinf(median), cap, median)
        image = ax.imshow(np.log10(np.maximum(shown, 1.0)), origin="lower", cmap="viridis",
                          aspect="auto")  # fmt: skip
        for (t, a), value in np.ndenumerate(median):
            text = f">{cap:.0f}" if np.isinf(value) else f"{value:.0f}"
            ax.text(a, t, text, ha="center", va="center", fontsize=6, color="white")
        ax.set_xticks(range(alphas.size), [f"{a:g}" for a in alphas])
        ax.set_yticks(range(taus.size), [f"{t:g}" for t in taus])
        ax.set_xlabel("α (embeddings ÷ α)")
        ax.set_ylabel("τ (logits × τ, rate ÷ τ²)")
        ax.set_title(f"{title} (median over seeds)", fontsize=9)
        fig.colorbar(image, ax=ax, label="log10 steps")
    fig.suptitle(_title(results, config), fontsize=9)
    return fig


def headline(results: xr.Dataset, config: Any) -> dict[str, str]:
    results = _with_tau(results)
    tau = _reference_tau(results)
    ordinal = ordinal_steps(results).sel(tau=tau)
    censored = ordinal_steps(results).sel(tau=tau)
    lines = {}
    for alpha in results.alpha.values:
        values = ordinal.sel(alpha=alpha).values
        lines[f"steps to grok τ = {tau:g}, {alpha_label(alpha)} (median [min, max]; censored)"] = (
            f"{spread(values, step_count)}; "
            f"{int(np.isinf(censored.sel(alpha=alpha).values).sum())} of {values.size}"
        )
    memorize = ordinal_steps(results, "steps_to_memorize").sel(tau=tau).values
    lines[f"steps to memorize τ = {tau:g} (median [min, max] over every run)"] = spread(
        memorize, step_count
    )
    if results.tau.size > 1:
        alpha, best_tau, value = _fastest(results)
        lines["fastest grokking (median over seeds)"] = (
            f"τ = {best_tau:g}, {alpha_label(alpha)}: {step_count(value)} steps"
        )
    if "diverged" in results:
        lines["diverged runs"] = f"{int(results.diverged.sum())} of {results.diverged.size}"
    return lines


def _fastest(results: xr.Dataset) -> tuple[float, float, float]:
    """(α, τ, median steps) of the (τ, α) cell with the smallest median steps to grok."""
    median = ordinal_steps(results).median("seed").transpose("alpha", "tau")
    a, t = np.unravel_index(np.argmin(median.values), median.shape)
    return float(results.alpha[a]), float(results.tau[t]), float(median.values[a, t])


_STEPS = "steps until validation accuracy first ≥ threshold (censored at max_steps: +∞)"
FALLS = Rule(
    "the time to grok falls as α grows (at τ = 1)",
    WHERE,
    "median over seeds of " + _STEPS,
    "median non-increasing from each α to the next (ties within eval_every count as "
    "non-increasing), and lower at the largest α than at the smallest",
    expected="decreasing in α",
)
UNBALANCED = Rule(
    "the fastest grokking is unbalanced",
    WHERE,
    "median over seeds of " + _STEPS + ", over the (τ, α) grid",
    "the cell with the smallest median has α ≠ 1",
    expected="α ≠ 1",
)
RULES = (FALLS, UNBALANCED)


def claims(results: xr.Dataset, config: Any) -> list[Claim]:
    """The time to grok falls with α at τ = 1 (medians over seeds); the fastest (τ, α) cell is
    unbalanced. The notes say, seed by seed, whether the direction is the paper's, mixed across
    seeds, or the opposite."""
    results = _with_tau(results)
    alphas = results.alpha.values
    tau = _reference_tau(results)
    ordinal = ordinal_steps(results)
    row = ordinal.sel(tau=tau)
    found = []
    if alphas.size < 2 or results.seed.size < 2:
        reason = "needs two α and two seeds"
        return [FALLS.not_measured(reason), UNBALANCED.not_measured(reason)]
    medians = np.asarray([float(np.median(row.sel(alpha=a).values)) for a in alphas])
    measured = ", ".join(
        f"{alpha_label(a)}: {spread(row.sel(alpha=a).values, step_count)}" for a in alphas
    )
    settings = f"τ = {tau:g}, threshold {config.threshold:g}, max_steps {config.max_steps}"
    if np.all(np.isinf(medians)):
        found.append(FALLS.not_measured("most runs censored at every α: raise max_steps",
                                        measured=measured))  # fmt: skip
    else:
        with np.errstate(invalid="ignore"):
            rises = np.diff(medians) > float(config.eval_every)
        holds = bool(not rises.any() and medians[-1] < medians[0])
        overall = ("the opposite direction" if medians[-1] > medians[0] else
                   "not monotone" if not holds else "monotone")  # fmt: skip
        seeds = direction(row.isel(alpha=0).values, row.isel(alpha=-1).values)
        note = f"{settings}; medians {overall}; smallest → largest α {seeds}"
        found.append(FALLS.decide(holds, measured, note=note))
    alpha, best_tau, value = _fastest(results)
    if np.isinf(value):
        return [*found, UNBALANCED.not_measured("every cell's median is censored")]
    balanced = ordinal.sel(alpha=1.0).median("seed")
    best_balanced = float(balanced.min())
    balanced_tau = float(results.tau[int(np.argmin(balanced.values))])
    measured = (
        f"fastest τ = {best_tau:g}, {alpha_label(alpha)}: {step_count(value)} steps; fastest at "
        f"α = 1: {step_count(best_balanced)} (τ = {balanced_tau:g})"
    )
    note = f"{results.tau.size} τ × {alphas.size} α, {results.seed.size} seeds"
    return [*found, UNBALANCED.decide(alpha != 1.0, measured, note=note)]
