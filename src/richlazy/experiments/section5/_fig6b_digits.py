"""fig6b's ``digits`` preset: the earlier recipe's filters (docs/section5-vision.md, "The digits
recipe").

The small CNN's runs of fig6a's ``digits`` preset (the same shards, loaded rather than retrained
when both run into one output directory with coinciding settings,
``richlazy.experiments.section5._vision``): its 5×5 first-layer filters at initialization and
after training per (α, seed), two smoothness scores of the mean-removed filters
(``richlazy.nn.filters``: normalised total variation, lower is smoother; low-frequency energy
share, higher is smoother; each the mean over the filters) and test accuracy. Claims: from α = 1
to every α ≥ 10 the total variation falls and the low-frequency share rises for every seed, at
test accuracy no lower.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from richlazy.experiments.claims import Claim, Rule
from richlazy.experiments.section5 import _vision
from richlazy.experiments.section5.fig6a import _band, accuracy_claim
from richlazy.nn.filters import filter_low_frequency, filter_total_variation
from richlazy.sweeps import RunContext

#: Upstream values of α the smoothness claims compare with α = 1.
UPSTREAM = 10.0
SCORES = {
    "total_variation": ("normalised total variation (lower: smoother)", "down"),
    "low_frequency": ("low-frequency energy share (higher: smoother)", "up"),
}


def run(config, context: RunContext) -> xr.Dataset:
    """The CNN's shards (fig6a's when stored), their filters and scores; dims (alpha, seed, …)."""
    shard = _vision.network_runs(config, context, ("cnn",)).sel(network="cnn", drop=True)
    final = shard.isel(step=-1)
    results = xr.Dataset(
        {
            "filters": shard.filters,
            "filters_init": shard.filters_init,
            "test_accuracy": final.test_accuracy,
            "kernel_distance": final.kernel_distance,
        }
    ).drop_vars("step", errors="ignore")
    for name, score in (("total_variation", filter_total_variation),
                        ("low_frequency", filter_low_frequency)):  # fmt: skip
        for suffix, filters in (("", shard.filters), ("_init", shard.filters_init)):
            results[name + suffix] = _score(filters, score)
    attrs = {k: shard.attrs[k] for k in ("n_train", "n_test", "probe_points") if k in shard.attrs}
    return results.transpose("alpha", "seed", ...).assign_attrs(attrs)


def _score(filters: xr.DataArray, score) -> xr.DataArray:
    """The mean over filters of ``score`` per (alpha, seed) (NaN filters skipped)."""
    stacked = filters.transpose("alpha", "seed", "filter", "channel", "fy", "fx").values
    A, S, K = stacked.shape[:3]
    values = score(stacked.reshape(A * S * K, *stacked.shape[3:])).reshape(A, S, K)
    with np.errstate(all="ignore"):
        mean = np.nanmean(values, axis=-1) if np.isfinite(values).any() else values.mean(-1)
    return xr.DataArray(mean, dims=("alpha", "seed"))


def plot(results: xr.Dataset, config) -> dict:
    """The filter grids (seed 0) at the smallest α, α = 1 and the largest α, initial and
    trained; and the two scores and test accuracy vs α."""
    alphas = results.alpha.values
    shown = [float(alphas.min()), 1.0, float(alphas.max())]
    grids = Figure(figsize=(3.2 * len(shown), 6.6), layout="constrained")
    axes = grids.subplots(2, len(shown), squeeze=False)
    seed = results.seed.values[0]
    for col, alpha in enumerate(shown):
        for row, (name, when) in enumerate((("filters_init", "init"), ("filters", "trained"))):
            filters = results[name].sel(alpha=alpha, seed=seed).isel(channel=0).values
            score = float(results["total_variation" + ("_init" if row == 0 else "")]
                          .sel(alpha=alpha, seed=seed))  # fmt: skip
            axes[row, col].imshow(_mosaic(filters), cmap="RdBu_r", vmin=-1, vmax=1)
            axes[row, col].set_title(f"α = {alpha:g}, {when}: TV {score:.2f}", fontsize=9)
            axes[row, col].set_axis_off()
    grids.suptitle(
        f"Figure 6b: first-layer filters, downstream / standard / upstream (seed {seed}; "
        "each filter mean-removed and scaled to its largest |value|)",
        fontsize=10,
    )
    scores = Figure(figsize=(13, 3.9), layout="constrained")
    panels = scores.subplots(1, 3)
    for ax, (name, (label, _)) in zip(panels, SCORES.items(), strict=False):
        _band(ax, alphas, results[name], "k", "trained")
        _band(ax, alphas, results[name + "_init"], "0.6", "at initialization")
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    _band(panels[2], alphas, results.test_accuracy, "tab:green")
    panels[2].set_ylabel("test accuracy at T")
    scores.suptitle(
        f"Figure 6b: filter smoothness vs α ({config.dataset}, knob "
        f"{config.knob}; median and min–max over {results.seed.size} seeds)",
        fontsize=10,
    )
    return {"fig6b_filters": grids, "fig6b_scores": scores}


def _mosaic(filters: np.ndarray) -> np.ndarray:
    """Filters (K, h, w), each mean-removed and scaled to [-1, 1], tiled with 1-pixel gaps."""
    K, h, w = filters.shape
    cols = int(np.ceil(np.sqrt(K)))
    rows = int(np.ceil(K / cols))
    canvas = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan)
    for k in range(K):
        f = filters[k] - filters[k].mean()
        top = np.abs(f).max()
        r, c = divmod(k, cols)
        canvas[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = (
            f / top if top > 0 else f
        )
    return canvas


def headline(results: xr.Dataset, config) -> dict[str, str]:
    """Median scores at α = 1 and the largest α (and at initialization), and test accuracy."""
    top = float(results.alpha.max())
    lines = {}
    for name in SCORES:
        values = [float(results[name].sel(alpha=a).median()) for a in (1.0, top)]
        start = float(results[name + "_init"].sel(alpha=1.0).median())
        lines[f"{name} at α = 1 → {top:g} (init {start:.3g})"] = (
            f"{values[0]:.3g} → {values[1]:.3g}"
        )
    acc = [float(results.test_accuracy.sel(alpha=a).median()) for a in (1.0, top)]
    lines[f"test accuracy at α = 1 → {top:g}"] = f"{acc[0]:.3f} → {acc[1]:.3f}"
    return lines


def score_rule(label: str, direction: str) -> Rule:
    """The rule of Figure 6b for a filter score: smoother upstream."""
    change = "total variation falls" if direction == "down" else "more low-frequency energy"
    side = "below" if direction == "down" else "above"
    return Rule(
        f"upstream CNN filters are smoother: {change}",
        "Figure 6b, §5",
        f"{label}, mean over the first-layer filters",
        f"median and every seed at each α ≥ {UPSTREAM:g} {side} α = 1's",
    )


SCORE_RULES = {name: score_rule(label, direction) for name, (label, direction) in SCORES.items()}
ACCURACY = Rule(
    "cnn: at unchanged test accuracy (upstream α vs α = 1)",
    "Figure 6b",
    "median test accuracy at T (the worst of the upstream α)",
    f"≥ α = 1's median − {_vision.ACCURACY_ERRORS:g} binomial standard errors",
)


RULES = (*SCORE_RULES.values(), ACCURACY)


def claims(results: xr.Dataset, config) -> list[Claim]:
    """TV lower and low-frequency share higher at every α ≥ 10 than at α = 1 (medians, and every
    seed apart), and test accuracy there unchanged (fig6a's tolerance)."""
    upstream = [float(a) for a in results.alpha.values if a >= UPSTREAM]
    found = []
    for name, (_, direction) in SCORES.items():
        rule = SCORE_RULES[name]
        if not upstream:
            found.append(rule.not_measured(f"no α ≥ {UPSTREAM:g} in the results"))
        elif results.seed.size < 2:
            found.append(rule.not_measured(_vision.SEEDS_NEEDED))
        else:
            outcomes = [_vision.separated(results[name], a, direction) for a in upstream]
            met = all(ok for ok, _ in outcomes)
            found.append(rule.decide(met, "; ".join(text for _, text in outcomes)))
    if upstream:
        found.append(
            accuracy_claim(
                results.test_accuracy,
                results,
                "cnn",
                upstream,
                "Figure 6b",
                rule=ACCURACY,
                two_sided=False,
            )
        )
    return found
