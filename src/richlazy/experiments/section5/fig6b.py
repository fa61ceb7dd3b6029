"""Figures 6b and 11: upstream initialization makes the first-layer filters of the DAWNBench
ResNet smoother (paper §5, docs/section5-vision.md).

The paper's recipe (``richlazy.experiments.section5._dawn``): cifar10-fast's ResNet with BatchNorm
and a 15×15 first convolution, ÷ α after the standard initialization and nothing else; 24
epochs in batches of 512, Nesterov momentum 0.9, a piecewise-linear rate 0 → 0.4 → 0, crops,
flips (CIFAR-10 only) and cutout, weight decay 0. One resumable shard per (α, seed). Stored: the
first layer's filters and the paper's smoothness ‖(w/‖w‖₂) ∗ Δ‖₂² per filter
(``richlazy.nn.filters.filter_smoothness``) at initialization and at the end, train and test
accuracy. Claims: smoothness decreases with α and levels off (the paper's Fig. 11: ≈ 3.8, 2.4,
1.1, 0.66, 0.61 from α = 0.1 to 10); train and test accuracy comparable across α. The ``digits``
preset keeps the earlier recipe (``_fig6b_digits``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from functools import partial

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from richlazy import _validate as check
from richlazy._validate import option, require
from richlazy.experiments.claims import Claim, Rule
from richlazy.experiments.section5 import _dawn, _fig6b_digits, _vision
from richlazy.experiments.section5._section5 import check_alphas
from richlazy.experiments.section5._vision import VisionConfig
from richlazy.experiments.section5.fig6a import _alpha_colors, _band, accuracy_claim
from richlazy.experiments.spec import Experiment
from richlazy.store import to_json
from richlazy.sweeps import RunContext

RECIPES = ("dawn", "digits")
#: The paper's Fig. 11, read from its plot: median smoothness per α (−smoothness is plotted).
PAPER_SMOOTHNESS = {0.1: 3.8, 0.33: 2.4, 1.0: 1.1, 3.33: 0.66, 10.0: 0.61}
# Settings that change neither a DAWN run nor its measurements (left out of its shard key).
PRESENTATION = ("alphas", "seeds", "threads", "device", "networks")


@dataclasses.dataclass(frozen=True)
class Config(VisionConfig):
    """Figure 6b's settings (docs/section5-vision.md gives each default's reason).

    The defaults are the CPU run: the paper's recipe on mnist5k at 1/8 of the width.

    Attributes (besides ``VisionConfig``'s data, α, seeds, optimizer and device settings):
        recipe: "dawn" (the paper's: ``DawnResNet`` and cifar10-fast's training) or "digits"
            (the earlier recipe: fig6a's small CNN runs on the 8×8 digits, ``_fig6b_digits``).
        batch_size, lr, momentum, weight_decay: the recipe's 512, peak rate 0.4, Nesterov
            momentum 0.9 (cifar10-fast's form), weight decay 0 (the paper's change).
        epochs, warmup_epochs: training length and the epoch of the rate's peak (24 and 5).
        width, first_kernel, kernel: ``DawnResNet``'s width (64: the benchmark's), first-layer
            kernel (15: the paper's) and the other kernels (3).
        flip, crop_padding, cutout: the augmentation: left-right flips (CIFAR-10 only: digits
            are not mirror-symmetric), reflect padding for the random crops, cutout side.
    """

    recipe: str = option("dawn", check.one_of(RECIPES))
    networks: tuple[str, ...] = option(("cnn",), check.tuple_of(check.one_of(_vision.NETWORKS)))
    alphas: tuple[float, ...] = option((0.1, 0.33, 1.0, 3.33, 10.0), check_alphas)
    seeds: tuple[int, ...] = option((0, 1, 2), check.seeds)
    batch_size: int = option(512, check.whole())
    lr: float = 0.4
    momentum: float = 0.9
    epochs: int = option(24, check.whole())
    warmup_epochs: float = option(5.0, check.positive_float)
    width: int = option(8, check.whole())
    first_kernel: int = option(15, check.whole())
    kernel: int = option(3, check.whole())
    flip: bool = False
    crop_padding: int = option(4, check.whole(0))
    cutout: int = option(8, check.whole(0))

    def __post_init__(self):
        super().__post_init__()
        if self.recipe == "digits":
            require(self.networks == ("cnn",), f"networks must be ('cnn',), got {self.networks!r}")
        else:
            require(
                self.dataset != "digits", "dataset: the DAWN recipe needs 28×28 or 32×32 images"
            )
            require(
                self.warmup_epochs < self.epochs,
                f"warmup_epochs must be below epochs ({self.epochs}), got {self.warmup_epochs}",
            )
            require(
                self.first_kernel % 2 == 1, f"first_kernel must be odd, got {self.first_kernel}"
            )
            require(self.kernel % 2 == 1, f"kernel must be odd, got {self.kernel}")


QUICK = Config(
    n_train=1024, n_test=500, batch_size=128, epochs=6, warmup_epochs=1.25, width=4, seeds=(0, 1)
)
PRESETS = {
    # seconds of the main job: 1,024 mnist5k images, width 4, batches of 128 (8 per epoch), 6
    # epochs (the peak at 5/24 of them), 2 seeds
    "quick": QUICK,
    # the CPU run: the recipe on mnist5k (4,000 images, 24 epochs) at width 8, 3 seeds
    "mnist": Config(),
    # CIFAR-10 from --set data_dir=..., the full-width network with flips, on one GPU
    "paper": Config(dataset="cifar10", width=64, flip=True, threads=4, device="auto"),
    # the earlier recipe: fig6a's digits CNN runs and their filter scores
    "digits": Config(recipe="digits", batch_size=64, **{**_vision.DIGITS, "networks": ("cnn",)}),
    # seconds: the tests' run of every experiment
    "smoke": dataclasses.replace(
        QUICK,
        alphas=(1.0, 10.0),
        seeds=(0,),
        n_train=64,
        n_test=32,
        batch_size=32,
        epochs=1,
        warmup_epochs=0.5,
        width=2,
    ),
}


def dawn_key(config: Config, alpha: float, seed: int) -> str:
    """A DAWN shard's key: its α and seed and a hash of every setting of its run."""
    fields = {k: v for k, v in dataclasses.asdict(config).items() if k not in PRESENTATION}
    digest = hashlib.sha256(json.dumps(to_json(fields), sort_keys=True).encode()).hexdigest()
    return f"alpha-{alpha:g}-seed-{seed}-{digest[:12]}"


def run(config: Config, context: RunContext) -> xr.Dataset:
    """One shard per (seed, α), every α of a seed before the next seed; dims (alpha, seed,
    out_channel, in_channel, height, width)."""
    if config.recipe == "digits":
        return _fig6b_digits.run(config, context)
    data = _vision.load_data(config)
    results = context.map(
        partial(_dawn.dawn_run, config, data),
        {"seed": config.seeds, "alpha": config.alphas},  # seed slowest: whole sweeps first
        "DAWN runs",
        key=partial(dawn_key, config),
    )
    return results.transpose("alpha", "seed", ...)


def plot(results: xr.Dataset, config: Config) -> dict:
    """Fig. 6b: the first-layer filters per α (seed 0, at initialization and trained); Fig. 11:
    violins of the smoothness of every filter per α, with the train and test accuracy."""
    if config.recipe == "digits":
        return _fig6b_digits.plot(results, config)
    alphas = results.alpha.values
    seed = results.seed.values[0]
    grids = Figure(figsize=(2.8 * len(alphas), 6.0), layout="constrained")
    axes = grids.subplots(2, len(alphas), squeeze=False)
    for col, alpha in enumerate(alphas):
        for row, (name, when) in enumerate((("filters_init", "init"), ("filters", "trained"))):
            filters = results[name].sel(alpha=alpha, seed=seed).values  # (out, in, k, k)
            score = float(results["smoothness" + ("_init" if row == 0 else "")]
                          .sel(alpha=alpha, seed=seed).median())  # fmt: skip
            axes[row, col].imshow(filter_mosaic(filters), cmap="RdBu_r", vmin=0, vmax=1)
            axes[row, col].set_title(f"α = {alpha:g}, {when}: {score:.2f}", fontsize=9)
            axes[row, col].set_axis_off()
    grids.suptitle(
        f"Figure 6b: first-layer filters ({config.dataset}, seed {seed}; each scaled to its "
        "largest |value|; titles: median smoothness, lower is smoother)",
        fontsize=10,
    )
    violins = Figure(figsize=(12, 4.0), layout="constrained")
    left, right = violins.subplots(1, 2, width_ratios=(2, 1))
    positions = np.arange(len(alphas))
    colors = _alpha_colors(alphas)
    for name, shift, shade in (("smoothness_init", -0.2, "0.75"), ("smoothness", 0.2, None)):
        data = [np.ravel(results[name].sel(alpha=a).values) for a in alphas]
        data = [d[np.isfinite(d)] for d in data]
        parts = left.violinplot(data, positions + shift, widths=0.35, showmedians=True)
        for i, body in enumerate(parts["bodies"]):
            body.set_facecolor(shade or colors[i])
        for lines in ("cbars", "cmins", "cmaxes", "cmedians"):
            parts[lines].set_color(shade or "k")
    paper = [PAPER_SMOOTHNESS.get(round(float(a), 2), np.nan) for a in alphas]
    left.plot(positions + 0.2, paper, "k*", ms=9, label="the paper's Fig. 11 (read)")
    left.set_xticks(positions, [f"{a:g}" for a in alphas])
    left.set_xlabel("α (> 1 upstream); grey: at initialization")
    left.set_ylabel("smoothness ‖(w/‖w‖) ∗ Δ‖² (lower: smoother)")
    left.legend(fontsize=7)
    _band(right, alphas, results.test_accuracy, "tab:green", "test")
    _band(right, alphas, results.train_accuracy, "tab:blue", "train")
    right.set_ylabel("accuracy at the end")
    right.legend(fontsize=7)
    violins.suptitle(
        f"Figure 11: smoothness of every first-layer filter per α ({config.dataset}, "
        f"{results.seed.size} seeds pooled)",
        fontsize=10,
    )
    return {"fig6b_filters": grids, "fig11_smoothness": violins}


def filter_mosaic(filters: np.ndarray) -> np.ndarray:
    """Filters (out, in, k, k) tiled with 1-pixel gaps, each scaled to [0, 1] by its largest
    |value| (0.5 is zero): grey images for one input channel, colour for three."""
    out, channels, k, _ = filters.shape
    cols = int(np.ceil(np.sqrt(out)))
    rows = int(np.ceil(out / cols))
    depth = 3 if channels == 3 else 1
    gap = 1.0 if depth == 3 else np.nan  # white either way (NaN: not drawn)
    canvas = np.full((rows * (k + 1) - 1, cols * (k + 1) - 1, depth), gap)
    for i in range(out):
        f = filters[i, :depth]  # (depth, k, k)
        top = np.abs(f).max()
        tile = (f / top + 1) / 2 if top > 0 else np.full_like(f, 0.5)
        r, c = divmod(i, cols)
        canvas[r * (k + 1) : r * (k + 1) + k, c * (k + 1) : c * (k + 1) + k] = tile.transpose(
            1, 2, 0
        )
    return canvas if depth == 3 else canvas[..., 0]


def _seed_means(values: xr.DataArray) -> xr.DataArray:
    """The mean over a seed's filters: dims (alpha, seed)."""
    return values.mean(("out_channel", "in_channel"), skipna=True)


def headline(results: xr.Dataset, config: Config) -> dict[str, str]:
    """Median smoothness per α (trained and at initialization) and the accuracies."""
    if config.recipe == "digits":
        return _fig6b_digits.headline(results, config)
    means = _seed_means(results.smoothness).median("seed")
    start = float(_seed_means(results.smoothness_init).median())
    alphas = " / ".join(f"{a:g}" for a in results.alpha.values)
    lines = {f"smoothness at α = {alphas} (init {start:.3g})": " / ".join(
        f"{float(m):.3g}" for m in means.values)}  # fmt: skip
    for split in ("train", "test"):
        values = results[f"{split}_accuracy"].median("seed").values
        lines[f"{split} accuracy"] = " / ".join(f"{v:.3f}" for v in values)
    return lines


DECREASE = Rule(
    "smoothness decreases with α (upstream: smoother first-layer filters)",
    "Figures 6b and 11, §5",
    "the paper's smoothness, mean over a seed's first-layer filters",
    "seed medians strictly decreasing along α up to the second-largest α, and every seed there "
    "below every seed at α = 1",
    expected="≈ 3.8, 2.4, 1.1, 0.66, 0.61 at α = 0.1, 0.33, 1, 3.33, 10 (Fig. 11)",
)
LEVELS_OFF = Rule(
    "smoothness levels off at large α",
    "Figure 11, §5",
    "the seed medians of the mean smoothness at the two largest α and at α = 1",
    "|m(largest) − m(second-largest)| ≤ ½ (m(1) − m(second-largest))",
    expected="0.66 → 0.61 from α = 3.33 to 10 against 1.1 → 0.66 from 1 to 3.33 (Fig. 11)",
)
ACCURACY = {
    split: Rule(
        f"{split} accuracy comparable across α",
        "Figure 11, §5",
        f"median {split} accuracy at the end, per α",
        f"every α within α = 1's median ± {_vision.ACCURACY_ERRORS:g} binomial standard errors",
    )
    for split in ("train", "test")
}
RULES = (DECREASE, LEVELS_OFF, *ACCURACY.values(), *_fig6b_digits.RULES)


def claims(results: xr.Dataset, config: Config) -> list[Claim]:
    """``DECREASE``, ``LEVELS_OFF`` and the train and test ``ACCURACY`` rules."""
    if config.recipe == "digits":
        return _fig6b_digits.claims(results, config)
    alphas = sorted(float(a) for a in results.alpha.values)
    means = _seed_means(results.smoothness)
    medians = {a: float(means.sel(alpha=a).median()) for a in alphas}
    shown = ", ".join(f"{a:g}: {m:.3g}" for a, m in medians.items())
    found = []
    upstream = [a for a in alphas if a > 1]
    if len(upstream) < 2:
        found += [r.not_measured("needs two α above 1") for r in (DECREASE, LEVELS_OFF)]
    elif results.seed.size < 2:
        found += [DECREASE.not_measured(_vision.SEEDS_NEEDED)]
        found += [LEVELS_OFF.not_measured(_vision.SEEDS_NEEDED)]
    else:
        knee, top = upstream[-2], upstream[-1]
        falling = [medians[a] for a in alphas if a <= knee]
        apart, text = _vision.separated(means, knee, "down")
        met = bool(np.all(np.diff(falling) < 0)) and apart
        found.append(DECREASE.decide(met, f"medians {shown}; {text}"))
        drop, tail = medians[1.0] - medians[knee], abs(medians[top] - medians[knee])
        found.append(LEVELS_OFF.decide(tail <= drop / 2, f"{tail:.3g} vs ½·{drop:.3g}; {shown}"))
    for split, rule in ACCURACY.items():
        n = int(results.attrs.get(f"n_{split}", 1))
        found.append(accuracy_claim(results[f"{split}_accuracy"], results, "resnet", alphas,
                                    "Figure 11", n=n, rule=rule))  # fmt: skip
    return found


EXPERIMENT = Experiment("fig6b", PRESETS, run, plot, headline, claims=claims, rules=RULES)
