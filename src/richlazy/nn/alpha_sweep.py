"""One call that trains a model at several α and returns the FeatureMonitor's measures
(docs/theory.md §6.1–6.2; guide: docs/nn.md "α sweep"): the paper's Figure 6a for any model.

    ds = alpha_sweep(make_model, [0.25, 1, 4, 16], (X, y), optimizer=SGD(0.05), steps=200)
    plot_alpha_sweep(ds).savefig("alpha_sweep.png")     # S(0, t) against t, one line per α

Like a coordinate check (one tidy table of a measure against training time for each setting of
one knob, and one plot), with α as the knob: for each seed the model is built once per α from
the same initial weights (``torch.manual_seed(seed)`` before ``make_model()``), unbalanced with
``unbalance(model, α)``, trained with ``fit`` and measured by a ``FeatureMonitor`` on the
probe points at ``fit``'s measured steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import xarray as xr
from torch import nn

from richlazy.nn import _checks, ntk
from richlazy.nn.geometry import unbalance
from richlazy.nn.monitor import FeatureMonitor
from richlazy.nn.optimizers import SGD, AdamW
from richlazy.nn.training import fit

__all__ = ["alpha_sweep", "plot_alpha_sweep"]


def alpha_sweep(
    make_model: Callable[[], nn.Module],
    alphas: Sequence[float],
    data: tuple[torch.Tensor, torch.Tensor],
    *,
    optimizer: SGD | AdamW,
    steps: int,
    seeds: Sequence[int] = (0,),
    probe: torch.Tensor | None = None,
    loss: Any = "mse",
    batch_size: int | None = None,
    eval_steps: Sequence[int] | None = None,
    unbalance_options: Mapping[str, Any] | None = None,
    kernel: ntk.Kernel = "sum",
) -> xr.Dataset:
    """Train ``make_model()`` at every α and seed; the monitor's measures over training.

    Args:
        make_model: builds a fresh model; called after ``torch.manual_seed(seed)``, so each
            seed's α share their initial weights.
        alphas: the values of α (finite, > 0); α = 1 trains the plain model.
        data: ``(x, y)``, the training set of ``fit``.
        optimizer: ``SGD(lr, ...)`` or ``AdamW(lr, ...)``; its rate, times each parameter's
            ``lr_scales`` from ``unbalance``, also weights the kernel.
        steps: updates per run.
        seeds: the initialization seeds (each also orders the minibatches).
        probe: the probe points of the kernel and activation patterns; default the first 64
            training inputs.
        loss, batch_size, eval_steps: as in ``fit`` (default loss "mse").
        unbalance_options: more keywords of ``unbalance`` (``rescale_last``, ``first``, …).
        kernel: "sum" or "trace", as in ``FeatureMonitor``.

    Returns:
        Dataset with dims (alpha, seed, step): ``kernel_distance`` S(0, t), ``kernel_velocity``,
        ``kernel_norm``, ``parameter_distance``, ``train_loss``, and with the further dims of
        ``FeatureMonitor.to_xarray`` ``layer_parameter_distance``, ``hamming_distance``,
        ``hamming_fraction``, ``conserved_drift``. A run whose outputs on the probe points stop
        being finite (it diverged) has NaN measures from then on; its ``train_loss`` is ``fit``'s.

    Raises:
        TypeError: ``make_model`` is not callable or does not return a module; ``data`` is not
            a pair of tensors.
        ValueError: no α or seed, an α ≤ 0 or not finite, repeated values.
    """
    if not callable(make_model):
        raise TypeError(f"make_model must be callable, got {type(make_model).__name__}")
    alphas = _values("alphas", alphas, float)
    for alpha in alphas:
        if not (math.isfinite(alpha) and alpha > 0):
            raise ValueError(f"alphas must be finite and > 0, got {alpha}")
    seeds = _values("seeds", seeds, int)
    if not (isinstance(data, tuple | list) and len(data) == 2
            and all(isinstance(t, torch.Tensor) for t in data)):  # fmt: skip
        raise TypeError("data must be a pair of tensors (x, y)")
    x, y = data
    probe = x[:64] if probe is None else _checks.probe("probe", probe, like=x)
    options = dict(unbalance_options or {})
    per_alpha = []
    for alpha in alphas:
        per_seed = []
        for seed in seeds:
            torch.manual_seed(seed)
            model = make_model()
            if not isinstance(model, nn.Module):
                raise TypeError(f"make_model must return a torch.nn.Module, got {type(model)}")
            geometry = unbalance(model, alpha, **options)
            rates = torch.optim.SGD(geometry.param_groups(optimizer.lr))  # the kernel's rates
            monitor = FeatureMonitor(model, probe, optimizer=rates, kernel=kernel)

            def evaluate(step, run, trained, monitor=monitor):
                with torch.no_grad():
                    finite = bool(trained(probe).isfinite().all())
                if finite:
                    monitor.log(step)  # a diverged run has no kernel: NaN from here on
                return {}

            history = fit(model, x, y, optimizer=optimizer, steps=steps, batch_size=batch_size,
                          seed=seed, loss=loss, eval_steps=eval_steps, evaluate=evaluate,
                          lr_scales=dict(geometry.lr_scales))  # fmt: skip
            measures = monitor.to_xarray().drop_attrs().reindex(step=history.step.values)
            measures["train_loss"] = history.train_loss.isel(run=0, drop=True).drop_vars(
                "epoch", errors="ignore"
            )
            per_seed.append(measures)
        per_alpha.append(xr.concat(per_seed, dim="seed"))
    ds = xr.concat(per_alpha, dim="alpha")
    ds = ds.assign_coords(alpha=list(alphas), seed=list(seeds))
    order = ("alpha", "seed", "step")
    ds = ds.transpose(*order, ...)
    ds.attrs.update(kernel=kernel, steps=steps, probe_points=int(probe.shape[0]))
    return ds


def plot_alpha_sweep(ds: xr.Dataset, variable: str = "kernel_distance", *, ax=None):
    """``variable`` against the step, one line per α (mean over seeds, the band their range),
    log step axis: with "kernel_distance", the paper's Figure 6a. Returns the Figure.

    Raises:
        ValueError: ``variable`` is not an (alpha, seed, step) variable of ``ds``.
    """
    if not isinstance(ds, xr.Dataset) or variable not in ds.data_vars:
        raise ValueError(f"variable must name a variable of ds, got {variable!r}")
    if set(ds[variable].dims) != {"alpha", "seed", "step"}:
        raise ValueError(f"variable must have dims (alpha, seed, step), {variable!r} has "
                         f"{ds[variable].dims}")  # fmt: skip
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.6), layout="constrained")
    x = ds.step.values.clip(min=0.5)  # step 0 on a log axis
    colors = plt.get_cmap("viridis")
    count = ds.sizes["alpha"]
    for i, alpha in enumerate(ds.alpha.values):
        values = ds[variable].sel(alpha=alpha)  # (seed, step)
        color = colors(i / max(count - 1, 1))
        ax.plot(x, values.mean("seed"), color=color, label=f"α = {alpha:g}")
        if ds.sizes["seed"] > 1:
            ax.fill_between(x, values.min("seed"), values.max("seed"), color=color, alpha=0.2)
    ax.set_xscale("log")
    ax.set_xlabel("step (0 drawn at 0.5)")
    ax.set_ylabel(variable.replace("_", " "))
    ax.legend(fontsize=8)
    return ax.figure


def _values(name: str, values, kind) -> list:
    try:
        found = [kind(v) for v in values]
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a sequence of numbers, got {values!r}") from None
    if not found or len(set(found)) != len(found):
        raise ValueError(f"{name} must list at least one value, none repeated, got {found}")
    return found
