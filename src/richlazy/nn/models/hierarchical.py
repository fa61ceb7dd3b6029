"""The hierarchical CNN of the Random Hierarchy Model literature, bias-free, in one file.

``HierarchicalCNN(v, width, L, s, n_c)`` maps one-hot inputs (N, v, s^L) through L convolutions
whose filters do not overlap (kernel size = stride = s), each followed by a ReLU, so that after
layer l every unit sees one s^l-symbol block, the tree's structure; a linear readout maps the
last layer's (N, width, 1) to n_c logits. Layers: ``layers.0`` (first), ``layers.2``, …,
``layers.{2(L−1)}``, then ``readout`` (last). Bias-free and ReLU, so positively homogeneous:
``richlazy.nn.unbalance(model, α)`` divides the first convolution and multiplies the readout
without changing the function (docs/theory.md §6.1).

Initialization: the convolutions He-normal (std √(2/fan_in), fan_in = channels·s), keeping the
pre-activations O(1) through depth; the readout N(0, 1/width). This is α = 1, the standard
parameterization, before ``unbalance``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["HierarchicalCNN"]


class HierarchicalCNN(nn.Module):
    """f(x) = W_r · σ(C_L ∗ … σ(C_1 ∗ x)), C_l non-overlapping filters of size s.

    Args:
        v: input channels (the RHM's vocabulary).
        width: channels of every convolution.
        L: number of convolutions (the RHM's depth): the input length must be s^L.
        s: filter size and stride (the RHM's branching).
        n_c: outputs (classes).
    """

    def __init__(self, v: int, width: int, L: int, s: int = 2, n_c: int | None = None) -> None:
        super().__init__()
        for name, value in (("v", v), ("width", width), ("L", L), ("s", s)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        n_c = v if n_c is None else n_c
        if not isinstance(n_c, int) or isinstance(n_c, bool) or n_c < 1:
            raise ValueError(f"n_c must be a positive integer, got {n_c!r}")
        self.length = s**L
        layers: list[nn.Module] = []
        for level in range(L):
            layers.append(nn.Conv1d(v if level == 0 else width, width, s, stride=s, bias=False))
            layers.append(nn.ReLU())
        self.layers = nn.Sequential(*layers)
        self.readout = nn.Linear(width, n_c, bias=False)
        with torch.no_grad():
            for conv in self.layers[::2]:
                fan_in = conv.in_channels * s
                conv.weight.normal_(0.0, math.sqrt(2.0 / fan_in))
            self.readout.weight.normal_(0.0, 1.0 / math.sqrt(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_length(x, self.length)
        h = self.layers(x)  # (N, v, s^L) -> (N, width, 1): layer l leaves s^(L−l) positions
        return self.readout(h.flatten(1))  # (N, n_c)


@torch.fx.wrap  # a leaf for torch.fx: conserved_quantities traces the layers, not this check
def _check_length(x: torch.Tensor, length: int) -> None:
    if x.shape[-1] != length:
        raise ValueError(f"inputs must have length s^L = {length}, got {x.shape[-1]}")
