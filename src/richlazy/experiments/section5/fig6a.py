"""Figure 6a: upstream initialization drives feature learning in deep networks (paper §5,
docs/section5-vision.md).

LeNet-5 on real MNIST (mnist5k by default) starts from one seeded initialization rescaled by α
(``richlazy.nn.unbalance``: conv1 ÷ α, fc3 × α and the inner biases ÷ α, so the function at
initialization is unchanged) and is trained by SGD with momentum (``richlazy.nn.training.fit``).
Measured over training on a fixed probe subset of the test set: the trace-NTK kernel distance
S(0, t), the fraction of ReLU activation patterns changed, the relative parameter distance (in
total and per layer group); test accuracy. Claims: S(0, T) increases with α; the kernel's early
movement comes with more change of activation patterns than of parameters; test accuracy is
comparable across α. The ``digits`` preset keeps the earlier recipe (small CNN and MLP on the
8×8 digits). The runs are shared with fig6b's ``digits`` preset
(``richlazy.experiments.section5._vision``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from richlazy.experiments.claims import Claim, Rule
from richlazy.experiments.section5 import _vision
from richlazy.experiments.section5._vision import VisionConfig
from richlazy.experiments.spec import Experiment
from richlazy.sweeps import RunContext

VARIABLES = (
    "kernel_distance",
    "group_distance",
    "hamming_distance",
    "layer_hamming",
    "first_layer_change",
    "parameter_distance",
    "relative_distance",
    "group_change",
    "train_loss",
    "test_loss",
    "train_accuracy",
    "test_accuracy",
)


@dataclasses.dataclass(frozen=True)
class Config(VisionConfig):
    """Figure 6a's settings (all of ``VisionConfig``; docs/section5-vision.md gives each
    default's reason)."""


QUICK = Config(
    seeds=(0, 1), n_train=2000, n_test=500, steps=126, probe_points=32, evals_per_decade=2
)
PRESETS = {
    # LeNet-5 on 2,000 mnist5k images, the paper's grid and knob, 2 seeds, 4 epochs (126 steps)
    "quick": QUICK,
    # the CPU run: the paper's 5 α × 8 seeds, 10 epochs of the 4,000 mnist5k training images
    "mnist": Config(),
    # full MNIST from --set data_dir=..., 10 epochs (9,380 steps of 64), on a GPU
    "paper": Config(dataset="mnist", steps=9380, probe_points=256, threads=4, device="auto"),
    # the earlier recipe: small CNN and MLP on the 8×8 digits, 5 seeds, 500 plain SGD steps
    "digits": Config(**_vision.DIGITS),
    # seconds: the tests' run of every experiment
    "smoke": dataclasses.replace(QUICK, **_vision.SMOKE),
}


def run(config: Config, context: RunContext) -> xr.Dataset:
    """One shard per (network, seed), all α together; dims (network, alpha, seed, step, …)."""
    runs = _vision.network_runs(config, context, config.networks)
    results = runs[list(VARIABLES)].transpose("network", "alpha", "seed", "step", ...)
    attrs = {k: v for k, v in runs.attrs.items() if k != "vectorized"}
    return results.drop_attrs(deep=False).assign_attrs(attrs)


def _label(results: xr.Dataset, network: str, what: str) -> list[str]:
    text = results.attrs.get(f"{what}_{network}", "")
    return [name for name in text.split(", ") if name]


def plot(results: xr.Dataset, config: Config) -> dict:
    """Per network: S(0, t) against steps per α (the paper's panel: mean and min–max band over
    seeds); the fraction of changed ReLU patterns against the relative parameter distance along
    training; S(0, T) vs α in total and per layer group; test accuracy vs α."""
    networks = list(results.network.values)
    fig = Figure(figsize=(14, 3.1 * len(networks) + 0.6), layout="constrained")
    axes = fig.subplots(len(networks), 4, squeeze=False)
    alphas = results.alpha.values
    final = results.isel(step=-1)
    colors = _alpha_colors(alphas)
    for row, network in enumerate(networks):
        one, end = results.sel(network=network), final.sel(network=network)
        steps = one.step.values
        shown = steps > 0
        ax = axes[row, 0]
        for i, alpha in enumerate(alphas):
            curves = np.asarray(one.kernel_distance.isel(alpha=i).transpose("seed", "step"))
            with np.errstate(all="ignore"):
                mean, low, high = (np.nanmean(curves, 0), np.nanmin(curves, 0),
                                   np.nanmax(curves, 0))  # fmt: skip
            ax.plot(steps[shown], mean[shown], color=colors[i], label=f"α = {alpha:g}")
            ax.fill_between(steps[shown], low[shown], high[shown], color=colors[i], alpha=0.2)
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xlabel("SGD step t")
        ax.set_ylabel("kernel distance S(0, t)")
        ax.legend(fontsize=6)
        ax.set_title(f"{network} ({config.dataset})", loc="left", fontsize=9)
        ax = axes[row, 1]
        for i, alpha in enumerate(alphas):
            x = one.relative_distance.isel(alpha=i).mean("seed").values
            y = one.hamming_distance.isel(alpha=i).mean("seed").values
            ax.plot(x[shown], y[shown], ".-", color=colors[i], label=f"α = {alpha:g}")
        ax.set_xscale("log")
        ax.set_xlabel("‖θ(t) − θ(0)‖/‖θ(0)‖ (seed mean)")
        ax.set_ylabel("ReLU patterns changed (fraction)")
        ax.legend(fontsize=6)
        ax = axes[row, 2]
        _band(ax, alphas, end.kernel_distance, "k", "all layers")
        groups = _label(results, network, "kernel_groups")
        group_colors = _alpha_colors(np.arange(max(len(groups), 1)) + 1.0)
        for g, name in enumerate(groups):
            median = one.group_distance.isel(kernel_group=g).median("seed").values
            ax.plot(alphas, median, ".--", lw=0.8, color=group_colors[g], label=name)
        ax.set_ylabel("S(0, T), per layer group")
        ax.legend(fontsize=6)
        _band(axes[row, 3], alphas, end.test_accuracy, "tab:green")
        axes[row, 3].set_ylabel("test accuracy at T")
    fig.suptitle(
        f"Figure 6a: kernel distance vs α (knob: {config.knob}; mean or median and "
        f"min–max over {results.seed.size} seeds)",
        fontsize=10,
    )
    return {"fig6a": fig}


def _alpha_colors(alphas) -> list:
    from matplotlib import colormaps

    ranks = np.argsort(np.argsort(alphas))
    return [colormaps["viridis"](0.9 * r / max(len(alphas) - 1, 1)) for r in ranks]


def _band(ax, alphas, values: xr.DataArray, color, label=None) -> None:
    """Median over seeds with the min–max band, against α on a log axis."""
    array = np.asarray(values.transpose("alpha", "seed"), dtype=float)
    with np.errstate(all="ignore"):
        ax.plot(alphas, np.nanmedian(array, 1), "o-", color=color, label=label)
        ax.fill_between(alphas, np.nanmin(array, 1), np.nanmax(array, 1), color=color, alpha=0.2)
    ax.set_xscale("log")
    ax.set_xticks(alphas, [f"{a:g}" for a in alphas])
    ax.minorticks_off()
    ax.set_xlabel("α (> 1 upstream)")
    ax.axvline(1.0, color="0.7", lw=0.8, ls=":")


def headline(results: xr.Dataset, config: Config) -> dict[str, str]:
    """Per network: median S(0, T) and test accuracy at the smallest α, α = 1 and the largest."""
    shown = sorted({float(results.alpha.min()), 1.0, float(results.alpha.max())})
    final = results.isel(step=-1)
    lines = {}
    for network in results.network.values:
        end = final.sel(network=network)
        S = [f"{float(end.kernel_distance.sel(alpha=a).median()):.3g}" for a in shown]
        acc = [f"{float(end.test_accuracy.sel(alpha=a).median()):.3f}" for a in shown]
        at = " → ".join(f"{a:g}" for a in shown)
        lines[f"{network}: S(0, T) at α = {at}"] = " → ".join(S)
        lines[f"{network}: test accuracy at α = {at}"] = " → ".join(acc)
    return lines


def kernel_rule(network: str) -> Rule:
    """The rule of Figure 6a for ``network``: S(0, T) increases with α."""
    return Rule(
        f"{network}: S(0, T) increases with α (upstream amplifies, downstream damps)",
        "Figure 6a, §5",
        "S(0, T), trace eNTK on the probe test images",
        "seed medians strictly increasing along α, and every seed at the largest α above "
        "every seed at α = 1",
        expected="S(0, T) increases with α",
    )


def early_rule(network: str) -> Rule:
    """The rule "the kernel's early movement comes with activation changes, not parameters"."""
    return Rule(
        f"{network}: the early kernel movement comes with a large change of activation "
        "patterns and a small change of parameters",
        "Figure 6a, §5",
        "at t½, the first measured step where the seed-mean S(0, t) reaches half of S(0, T): "
        "the fraction of ReLU patterns changed and ‖θ(t½) − θ(0)‖/‖θ(0)‖ (seed medians)",
        "at every α the fraction of patterns changed is larger than the relative parameter "
        "distance",
    )


def accuracy_rule(network: str, where: str) -> Rule:
    """The rule "test accuracy comparable across α" for ``network`` (shared with fig6b)."""
    return Rule(
        f"{network}: test accuracy comparable across α",
        where,
        "median test accuracy at T, per α",
        f"every α within α = 1's median ± {_vision.ACCURACY_ERRORS:g} binomial standard errors",
    )


RULES = tuple(
    rule
    for network in _vision.NETWORKS
    for rule in (kernel_rule(network), early_rule(network), accuracy_rule(network, "Figure 6a"))
)


def claims(results: xr.Dataset, config: Config) -> list[Claim]:
    """Per network: ``kernel_rule``, ``early_rule`` and ``accuracy_rule``."""
    alphas = [float(a) for a in results.alpha.values]
    top = max(alphas)
    final = results.isel(step=-1)
    note = f"{results.attrs.get('probe_points', '?')} probe images"
    found = []
    for network in results.network.values:
        one = results.sel(network=network)
        end = final.sel(network=network)
        rule = kernel_rule(network)
        if top <= 1:
            found.append(rule.not_measured("no α above 1"))
        elif results.seed.size < 2:
            found.append(rule.not_measured(_vision.SEEDS_NEEDED))
        else:
            medians = [float(end.kernel_distance.sel(alpha=a).median()) for a in alphas]
            rising = bool(np.all(np.diff(medians) > 0))
            apart, measured = _vision.separated(end.kernel_distance, top, "up")
            shown = ", ".join(f"{a:g}: {m:.3g}" for a, m in zip(alphas, medians, strict=True))
            found.append(rule.decide(rising and apart, f"medians {shown}; {measured}", note=note))
        found.append(early_claim(one, network))
        found.append(accuracy_claim(end.test_accuracy, results, network, alphas, "Figure 6a"))
    return found


def early_claim(one: xr.Dataset, network: str) -> Claim:
    """``early_rule`` decided on one network's results (dims alpha, seed, step)."""
    rule = early_rule(network)
    if one.step.size < 3:
        return rule.not_measured("fewer than three measured steps")
    parts, met = [], True
    for alpha in one.alpha.values:
        run = one.sel(alpha=alpha)
        curve = run.kernel_distance.mean("seed").values  # (step,)
        reached = np.flatnonzero(curve >= curve[-1] / 2)
        at = int(reached[reached > 0][0]) if np.any(reached > 0) else one.step.size - 1
        changed = float(run.hamming_distance.isel(step=at).median())
        moved = float(run.relative_distance.isel(step=at).median())
        met = met and changed > moved
        parts.append(f"α = {alpha:g}: t½ = {int(one.step[at])}, patterns {changed:.3g}, "
                     f"parameters {moved:.3g}")  # fmt: skip
    return rule.decide(met, "; ".join(parts))


def accuracy_claim(
    accuracy: xr.DataArray, results, network: str, alphas, where: str, *, n: int | None = None,
    rule: Rule | None = None, two_sided: bool = True,
) -> Claim:  # fmt: skip
    """Accuracy (median over seeds) at every α of ``alphas`` within the binomial tolerance of
    α = 1's median (``two_sided=False``: not below it), on ``n`` images (default the results'
    ``n_test``; shared with fig6b)."""
    ref = float(accuracy.sel(alpha=1.0).median())
    n = int(n if n is not None else results.attrs.get("n_test", 1))
    tolerance = _vision.accuracy_tolerance(ref, n)
    medians = {float(a): float(accuracy.sel(alpha=a).median()) for a in alphas}
    met = all(m >= ref - tolerance and (m <= ref + tolerance or not two_sided)
              for m in medians.values())  # fmt: skip
    shown = ", ".join(f"{a:g}: {m:.4f}" for a, m in medians.items())
    measured = f"{shown}; bounds [{ref - tolerance:.4f}, {ref + tolerance:.4f}]"
    note = f"{tolerance:.4f} = {_vision.ACCURACY_ERRORS:g} standard errors on {n} images"
    return (rule or accuracy_rule(network, where)).decide(met, measured, note=note)


EXPERIMENT = Experiment("fig6a", PRESETS, run, plot, headline, claims=claims, rules=RULES)
