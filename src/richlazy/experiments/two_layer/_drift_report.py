"""The drift experiment's figures, headline and claims, from its stored results alone
(``richlazy.experiments.two_layer.drift``, docs/theory.md §7)."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from richlazy.experiments._style import delta_colors, delta_label
from richlazy.experiments.claims import Claim, Rule, at_most, number

#: The flow reference's bound on max_k |δ_k(t) − δ_k(0)| relative to the initial scale
#: sqrt(δ² + 4τ⁴) = max_k (a_k² + ‖w_k‖²)(0). The engine's GradientFlow never steps below its
#: GD step (docs/theory.md §5.3), so the reference runs at ``flow_refine`` times smaller steps
#: than the smallest SGD rate; a probe of the integrator alone (no SGD result seen) drifted
#: ~1e-6 absolute at refine 16 by t = 250, hence this bound (1e-6 relative was unaffordable).
FLOW_BOUND = 1e-4


def _scale(results: xr.Dataset, tau: float) -> xr.DataArray:
    """sqrt(δ² + 4τ⁴) = a_k² + ‖w_k‖² at initialization: the scale of δ_k per network."""
    return np.sqrt(results.delta**2 + 4 * float(tau) ** 4)


def _positive(values: np.ndarray) -> np.ndarray:
    """``values`` with non-finite and non-positive entries as NaN (for log axes)."""
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values) & (values > 0), values, np.nan)


def plot(results: xr.Dataset, config: Any) -> dict:
    """Drift over time per (rate, batch size); the regime at T against gradient flow.

    Diverged runs are left out (gaps; their count is in the headline)."""
    R, B = results.lr_multiple.size, results.batch_size.size
    colors = delta_colors(results.delta.values)
    time = results.time.values
    shown = time > 0
    fig = Figure(figsize=(3.0 * B, 2.4 * R + 0.6), layout="constrained")
    axes = fig.subplots(R, B, sharex=True, sharey=True, squeeze=False)
    drift = results.conservation_drift.where(~results.diverged).mean("seed")  # diverged: gaps
    flow = results.flow_conservation_drift.mean("seed")
    for j, r in enumerate(results.lr_multiple.values):
        for k, batch in enumerate(results.batch_size.values):
            ax = axes[j, k]
            for i, delta in enumerate(results.delta.values):
                curve = _positive(drift.isel(delta=i, lr_multiple=j, batch_size=k).values)
                ax.plot(time[shown], curve[shown], color=colors[i], label=delta_label(delta))
                reference = _positive(flow.isel(delta=i).values)
                ax.plot(time[shown], reference[shown], color=colors[i], ls=":")
            ax.set_xscale("log")
            ax.set_yscale("log")
            full = " (full)" if batch == config.n else ""
            ax.set_title(f"lr × {number(r)}, batch {batch}{full}", fontsize=9)
            if k == 0:
                ax.set_ylabel("max_k |δ_k(t) − δ_k(0)|")
            if j == R - 1:
                ax.set_xlabel("flow time t = lr · steps")
    values = _positive(np.concatenate([drift.values.ravel(), flow.values.ravel()]))
    if np.isfinite(values).any():
        axes[0, 0].set_ylim(np.nanmin(values) / 2, np.nanmax(values) * 2)
    axes[0, 0].legend(fontsize=7, title="δ (dotted: flow)", title_fontsize=7)
    fig.suptitle(
        f"Conservation drift under SGD at τ = {number(config.tau)} (seed mean)",
        fontsize=10,
    )
    regime = Figure(figsize=(11, 6.5), layout="constrained")
    panels = regime.subplots(2, 2, squeeze=False)
    final = results.isel(step=-1).mean("seed")
    kept = {
        name: results[name].where(~results.diverged).isel(step=-1).mean("seed")
        for name in ("kernel_distance", "test_loss")
    }
    rates = results.lr_multiple.values
    sizes = results.batch_size.values
    full = int(sizes.argmax())
    for row, name in enumerate(("kernel_distance", "test_loss")):
        left, right = panels[row]
        for i in range(results.delta.size):
            reference = float(final[f"flow_{name}"].isel(delta=i))
            by_rate = _positive(kept[name].isel(delta=i, batch_size=full).values)
            by_size = _positive(kept[name].isel(delta=i, lr_multiple=0).values)
            left.plot(rates, by_rate, "o-", color=colors[i])
            right.plot(sizes, by_size, "o-", color=colors[i])
            for ax in (left, right):
                if np.isfinite(reference) and reference > 0:
                    ax.axhline(reference, color=colors[i], ls="--", lw=0.8)
        left.set_xscale("log", base=2)
        right.set_xscale("log")
        left.set_xlabel(f"lr multiple (batch {sizes[full]}, full)")
        right.set_xlabel(f"batch size (lr × {number(rates[0])})")
        label = "S(0, T)" if name == "kernel_distance" else "test loss at T"
        left.set_ylabel(label)
        right.set_ylabel(label)
        if name == "test_loss":
            left.set_yscale("log")
            right.set_yscale("log")
    panels[0, 0].legend(
        [f"δ = {delta_label(d)}" for d in results.delta.values], fontsize=7, title="dashed: flow"
    )
    regime.suptitle(
        f"The regime at T = {number(float(results.time[-1]))}: SGD against gradient flow "
        "(seed mean)",
        fontsize=10,
    )
    return {"drift": fig, "drift_regime": regime}


def _final_drift(results: xr.Dataset, tau: float) -> xr.DataArray:
    """Max-over-units drift at the last checkpoint, relative to the δ scale, seed mean:
    (delta, lr_multiple, batch_size)."""
    return (results.conservation_drift.isel(step=-1) / _scale(results, tau)).mean("seed")


def headline(results: xr.Dataset, config: Any) -> dict[str, str]:
    final = _final_drift(results, config.tau)
    full, small = results.batch_size.values.max(), results.batch_size.values.min()
    low, high = results.lr_multiple.values.min(), results.lr_multiple.values.max()
    flow = (results.flow_conservation_drift.isel(step=-1) / _scale(results, config.tau)).max()
    end = results.isel(step=-1).mean("seed")
    full_low = end.sel(batch_size=full, lr_multiple=low)
    small_high = end.sel(batch_size=small, lr_multiple=high)
    return {
        "flow time T (lr · steps)": number(float(results.time[-1])),
        f"relative drift at T, full batch: lr × {number(high)} vs × {number(low)}": (
            f"{number(final.sel(batch_size=full, lr_multiple=high).mean())} vs "
            f"{number(final.sel(batch_size=full, lr_multiple=low).mean())}"
        ),
        f"relative drift at T, lr × {number(low)}: batch {small} vs {full}": (
            f"{number(final.sel(batch_size=small, lr_multiple=low).mean())} vs "
            f"{number(final.sel(batch_size=full, lr_multiple=low).mean())}"
        ),
        "relative drift at T, gradient flow (max)": number(float(flow)),
        "S(0, T): flow vs full batch lr min vs batch min lr max": (
            f"{number(end.flow_kernel_distance.mean())} vs "
            f"{number(full_low.kernel_distance.mean())} vs "
            f"{number(small_high.kernel_distance.mean())}"
        ),
        "test loss at T: flow vs full batch lr min vs batch min lr max": (
            f"{number(end.flow_test_loss.mean())} vs {number(full_low.test_loss.mean())} vs "
            f"{number(small_high.test_loss.mean())}"
        ),
        "diverged SGD runs": f"{int(results.diverged.sum())} of {results.diverged.size}",
    }


def _increasing(values: np.ndarray) -> bool:
    """Finite values strictly increasing, and any infinite (diverged) ones after them all."""
    finite = np.isfinite(values)
    if not finite.any():
        return False
    last = np.flatnonzero(finite)[-1]
    return bool(finite[: last + 1].all() and np.all(np.diff(values[finite]) > 0))


_WHERE = "this experiment (docs/theory.md §7)"
CONSERVED = at_most(
    "gradient flow conserves δ_k = a_k² − ‖w_k‖² for every neuron",
    "Section 4 (Theorem 4.1), §5.1",
    "max over δ, seeds and checkpoints of max_k |δ_k(t) − δ_k(0)| / sqrt(δ² + 4τ⁴), "
    "gradient-flow reference (at flow_rtol)",
    FLOW_BOUND,
    expected="0 up to the integrator's error",
)
GROWS = Rule(
    "finite step size breaks conservation: drift grows with the learning rate",
    _WHERE,
    "relative drift at T (seed mean), per δ and batch size, against the lr multiple",
    "strictly increasing in the lr multiple for every δ and batch size (a diverged run is "
    "infinite drift: it may only follow the finite ones)",
    expected="O(lr) at a fixed flow time (second order per step)",
)
NOISY = Rule(
    "stochastic minibatches break conservation more than full batch",
    _WHERE,
    "relative drift at T (seed mean), smallest batch against full batch, per δ and lr",
    "larger at the smallest batch for every δ and lr multiple (a diverged run is infinite "
    "drift; cells where both diverged are left out)",
    expected="larger: the minibatch gradient's noise adds to its square",
)
RULES = (CONSERVED, GROWS, NOISY)


def claims(results: xr.Dataset, config: Any) -> list[Claim]:
    """δ conserved by the flow (§4); drift growing with lr; minibatches drifting more.

    Drift is max_k |δ_k(T) − δ_k(0)| at the last checkpoint relative to sqrt(δ² + 4τ⁴) (the
    initial a_k² + ‖w_k‖²), seed mean. The direction claims compare every δ (and every batch
    size, resp. lr multiple); a diverged run counts as infinite drift.
    """
    scale = _scale(results, config.tau)
    flow = float((results.flow_conservation_drift / scale).max())
    found = [CONSERVED.of(flow, note=f"flow_rtol {number(config.flow_rtol)}")]
    final = (
        (results.conservation_drift.isel(step=-1) / scale)
        .where(~results.diverged, np.inf)
        .mean("seed")
    )
    rates, sizes = results.lr_multiple.values, results.batch_size.values
    if rates.size < 2:
        found.append(GROWS.not_measured("one lr multiple"))
    else:
        ordered = final.sortby("lr_multiple").transpose("delta", "batch_size", "lr_multiple")
        cells = ordered.values.reshape(-1, rates.size)
        increasing = sum(_increasing(cell) for cell in cells)
        low, high = ordered.isel(lr_multiple=0), ordered.isel(lr_multiple=-1)
        measured = (
            f"increasing in {increasing} of {cells.shape[0]} (δ, batch) cells; mean drift "
            f"{number(float(low.mean()))} at × {number(rates.min())}, "
            f"{number(float(high.mean()))} at × {number(rates.max())}"
        )
        found.append(GROWS.decide(increasing == cells.shape[0], measured))
    if sizes.size < 2:
        return [*found, NOISY.not_measured("one batch size")]
    small = final.sel(batch_size=sizes.min())
    full = final.sel(batch_size=sizes.max())
    both = np.isinf(small.values) & np.isinf(full.values)  # both diverged: no order
    larger = (small > full).values[~both]
    measured = (
        f"larger in {int(larger.sum())} of {larger.size} (δ, lr) cells; mean drift "
        f"{number(float(small.mean()))} at batch {sizes.min()}, "
        f"{number(float(full.mean()))} at batch {sizes.max()}"
    )
    return [*found, NOISY.decide(bool(larger.size and np.all(larger)), measured)]
