"""Model families held as batched tensors, and their initialization geometry."""

from richlazy.nets.geometry import alpha_from, delta_from, weight_scales
from richlazy.nets.two_layer import (
    TwoLayerNets,
    check_data,
    check_same_batch,
    forward,
    per_neuron_delta,
    symmetric_pairs,
)

__all__ = [
    "TwoLayerNets",
    "alpha_from",
    "check_data",
    "check_same_batch",
    "delta_from",
    "forward",
    "per_neuron_delta",
    "symmetric_pairs",
    "weight_scales",
]
