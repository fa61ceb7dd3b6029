"""Unbalanced initialization, per-layer rates, conserved quantities, the empirical NTK and a
feature-learning monitor for any ``torch.nn.Module`` (docs/theory.md §6)."""

from richlazy.nn.geometry import InitGeometry, unbalance
from richlazy.nn.ntk import empirical_ntk, kernel_distance

__all__ = ["InitGeometry", "empirical_ntk", "kernel_distance", "unbalance"]
