"""Figure 6a: upstream initialization drives feature learning in deep networks (paper §5,
docs/section5-vision.md).

Each network starts from one seeded initialization rescaled by α (``richlazy.nn.unbalance``:
the first layer ÷ α and, with the default knob, the last × α) and is trained by SGD
(``richlazy.nn.training.fit``). Measured over training on a fixed probe subset of the test set:
the trace-NTK kernel distance S(0, t), the Hamming distance of the ReLU patterns and the
relative change of the first layer; at the end the kernel distance per layer group, losses and
test accuracy. Claim: S(0, T) grows from α = 1 to the largest α, at unchanged test accuracy.
The runs are shared with fig6b (``richlazy.experiments.section5._vision``).
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
    "train_loss",
    "test_loss",
    "train_accuracy",
    "test_accuracy",
)


@dataclasses.dataclass(frozen=True)
class Config(VisionConfig):
    """Figure 6a's settings (all of ``VisionConfig``; docs/section5-vision.md gives each
    default's reason)."""


QUICK = Config()
PRESETS = {
    # the 8×8 digits: the small CNN and a 4-hidden-layer MLP, 5 α × 5 seeds, 500 SGD steps
    "quick": QUICK,
    # CIFAR-10 from --set data_dir=..., ResNet-18 (BatchNorm after conv1: the first-only knob
    # keeps the function, see docs), 20 epochs of SGD with momentum, on a GPU
    "paper": Config(
        dataset="cifar10",
        networks=("resnet18",),
        knob="first",
        seeds=(0, 1, 2),
        steps=7820,
        lr=0.05,
        **_vision.ON_GPU,
    ),
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
    """Per network: S(0, T) vs α in total and per layer group, test accuracy vs α (median and
    min–max band over seeds), S(0, t) per α, and the Hamming distance and relative first-layer
    change at T."""
    networks = list(results.network.values)
    fig = Figure(figsize=(14, 3.1 * len(networks) + 0.6), layout="constrained")
    axes = fig.subplots(len(networks), 4, squeeze=False)
    alphas = results.alpha.values
    final = results.isel(step=-1)
    colors = _alpha_colors(alphas)
    for row, network in enumerate(networks):
        one, end = results.sel(network=network), final.sel(network=network)
        ax = axes[row, 0]
        _band(ax, alphas, end.kernel_distance, "k", "all layers")
        groups = _label(results, network, "kernel_groups")
        group_colors = _alpha_colors(np.arange(max(len(groups), 1)) + 1.0)
        for g, name in enumerate(groups):
            median = one.group_distance.isel(kernel_group=g).median("seed").values
            ax.plot(alphas, median, ".--", lw=0.8, color=group_colors[g], label=name)
        ax.set_ylabel("kernel distance S(0, T)")
        ax.legend(fontsize=6)
        ax.set_title(f"{network} ({config.dataset})", loc="left", fontsize=9)
        _band(axes[row, 1], alphas, end.test_accuracy, "tab:green")
        axes[row, 1].set_ylabel("test accuracy at T")
        ax = axes[row, 2]
        steps = one.step.values
        shown = steps > 0
        for i, alpha in enumerate(alphas):
            curve = one.kernel_distance.isel(alpha=i).median("seed").values
            ax.plot(steps[shown], curve[shown], color=colors[i], label=f"α = {alpha:g}")
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xlabel("SGD step t")
        ax.set_ylabel("S(0, t), seed median")
        ax.legend(fontsize=6)
        _band(axes[row, 3], alphas, end.hamming_distance, "tab:red", "Hamming (fraction)")
        _band(axes[row, 3], alphas, end.first_layer_change, "tab:blue", "‖ΔW₁‖/‖W₁(0)‖")
        axes[row, 3].set_ylabel("at T")
        axes[row, 3].legend(fontsize=6)
    fig.suptitle(
        f"Figure 6a: kernel distance vs α (knob: {config.knob}; median and "
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
    """Per network: median S(0, T) and test accuracy at α = 1 and the largest α."""
    top = float(results.alpha.max())
    final = results.isel(step=-1)
    lines = {}
    for network in results.network.values:
        end = final.sel(network=network)
        S = [float(end.kernel_distance.sel(alpha=a).median()) for a in (1.0, top)]
        acc = [float(end.test_accuracy.sel(alpha=a).median()) for a in (1.0, top)]
        lines[f"{network}: S(0, T) at α = 1 → {top:g}"] = f"{S[0]:.3g} → {S[1]:.3g}"
        lines[f"{network}: test accuracy at α = 1 → {top:g}"] = f"{acc[0]:.3f} → {acc[1]:.3f}"
    return lines


def kernel_rule(network: str) -> Rule:
    """The rule of Figure 6a for ``network``: the kernel moves further upstream."""
    return Rule(
        f"{network}: upstream initialization moves the kernel further",
        "Figure 6a, §5",
        "S(0, T), trace eNTK on the probe test images",
        "median and every seed at the largest α above α = 1's",
        expected="S(0, T) increases with α (upstream)",
    )


def accuracy_rule(network: str, where: str) -> Rule:
    """The rule "test accuracy unchanged upstream" for ``network`` (shared with fig6b)."""
    return Rule(
        f"{network}: at unchanged test accuracy (upstream α vs α = 1)",
        where,
        "median test accuracy at T (the worst of the upstream α)",
        f"≥ α = 1's median − {_vision.ACCURACY_ERRORS:g} binomial standard errors",
    )


RULES = tuple(
    rule
    for network in _vision.NETWORKS
    for rule in (kernel_rule(network), accuracy_rule(network, "Figure 6a"))
)


def claims(results: xr.Dataset, config: Config) -> list[Claim]:
    """Per network: S(0, T) larger at the largest α than at α = 1 for every seed, and test
    accuracy there within ``_vision.ACCURACY_ERRORS`` binomial standard errors of α = 1's."""
    top = float(results.alpha.max())
    final = results.isel(step=-1)
    note = f"α = {top:g}; {results.attrs.get('probe_points', '?')} probe images"
    found = []
    for network in results.network.values:
        end = final.sel(network=network)
        rule = kernel_rule(network)
        if top <= 1:
            found.append(rule.not_measured("no α above 1"))
        elif results.seed.size < 2:
            found.append(rule.not_measured(_vision.SEEDS_NEEDED))
        else:
            met, measured = _vision.separated(end.kernel_distance, top, "up")
            found.append(rule.decide(met, measured, note=note))
        found.append(accuracy_claim(end.test_accuracy, results, network, (top,), "Figure 6a"))
    return found


def accuracy_claim(accuracy: xr.DataArray, results, network: str, alphas, where: str) -> Claim:
    """Test accuracy at ``alphas`` (their worst median) within the binomial tolerance of α = 1's
    median (shared with fig6b)."""
    ref = float(accuracy.sel(alpha=1.0).median())
    n_test = int(results.attrs.get("n_test", 1))
    tolerance = _vision.accuracy_tolerance(ref, n_test)
    worst = min(float(accuracy.sel(alpha=a).median()) for a in alphas)
    shown = ", ".join(f"{a:g}" for a in alphas)
    measured = f"{worst:.4f} (α = {shown}); α = 1: {ref:.4f}, bound {ref - tolerance:.4f}"
    note = f"{tolerance:.4f} = {_vision.ACCURACY_ERRORS:g} standard errors on {n_test} images"
    return accuracy_rule(network, where).decide(worst >= ref - tolerance, measured, note=note)


EXPERIMENT = Experiment("fig6a", PRESETS, run, plot, headline, claims=claims, rules=RULES)
