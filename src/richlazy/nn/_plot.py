"""The figure of ``FeatureMonitor.plot`` (matplotlib is imported only when it is drawn)."""

from __future__ import annotations

import numpy as np
import xarray as xr


def monitor_figure(ds: xr.Dataset):
    """Six panels against the step: kernel distance and velocity, kernel norm, parameter
    distance (whole and per layer), Hamming distance per layer, conserved-quantity drift, and
    Hamming against parameter distance (the paper's mechanism of rapid rich learning)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 7), layout="constrained")
    step = ds.step.values
    x = np.maximum(step, 0.5)  # step 0 on a log axis

    def curves(ax, variable, dim, title, ylog=False):
        if dim is None:
            ax.plot(x, ds[variable].values, marker=".")
        else:
            for name in ds[dim].values:
                ax.plot(x, ds[variable].sel({dim: name}).values, marker=".", label=str(name))
            if 0 < ds.sizes[dim] <= 8:
                ax.legend(fontsize=7)
        ax.set_xscale("log")
        if ylog:
            ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step (0 drawn at 0.5)")

    ax = axes[0, 0]
    curves(ax, "kernel_distance", None, "kernel distance S(0, t)")
    twin = ax.twinx()
    twin.plot(x, ds.kernel_velocity.values, color="tab:orange", marker=".", alpha=0.6)
    twin.set_ylabel("velocity S(t_prev, t)/Δt", color="tab:orange", fontsize=8)
    curves(axes[0, 1], "kernel_norm", None, "kernel norm ‖K_t‖_F")
    ax = axes[0, 2]
    ax.plot(x, ds.parameter_distance.values, color="black", lw=2, label="all")
    curves(ax, "layer_parameter_distance", "param_layer", "parameter distance per layer")
    curves(axes[1, 0], "hamming_distance", "layer", "Hamming distance per ReLU layer")
    curves(axes[1, 1], "conserved_drift", "pair", "conserved-quantity drift max_k |Δδ_k|")
    ax = axes[1, 2]
    total = ds.hamming_distance.sum("layer", min_count=1).values
    ax.plot(ds.parameter_distance.values, total, marker=".")
    ax.set_xlabel("parameter distance")
    ax.set_ylabel("Hamming distance (all layers)")
    ax.set_title("Hamming vs parameter distance", fontsize=10)
    return fig
