"""Feature-learning metrics computed from parameters (no per-sample Jacobians)."""

from richlazy.metrics.two_layer import (
    conservation_drift,
    hamming_distance,
    kernel_distance,
    kernel_distances,
    mean_squared_error,
    ntk,
    parameter_distance,
)

__all__ = [
    "conservation_drift",
    "hamming_distance",
    "kernel_distance",
    "kernel_distances",
    "mean_squared_error",
    "ntk",
    "parameter_distance",
]
