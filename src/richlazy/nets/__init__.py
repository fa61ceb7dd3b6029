"""Model families held as batched tensors, and their initialization geometry."""

from richlazy.nets.geometry import alpha_from, delta_from
from richlazy.nets.two_layer import TwoLayerNets, forward, per_neuron_delta, symmetric_pairs

__all__ = [
    "TwoLayerNets",
    "alpha_from",
    "delta_from",
    "forward",
    "per_neuron_delta",
    "symmetric_pairs",
]
