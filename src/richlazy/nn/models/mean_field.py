"""The fully connected network the Random Hierarchy Model literature trains, in one file.

``MeanFieldMLP(d_in, width, depth, d_out)``: ``depth`` bias-free ReLU layers of ``width`` units
and a bias-free linear readout, every stored weight drawn N(0, 1), with the scales in the
forward pass instead: a hidden layer divides its pre-activation by √fan_in (the standard
scaling), the readout divides by its fan-in, the width (the mean-field readout):

    h_1 = σ(W_1 x / √d_in),  h_l = σ(W_l h_{l−1} / √width),  f(x) = W_out h_depth / width.

This is the network of Cagnetta, Petrini et al.'s released code (pcsl-epfl/hierarchy-learning,
models/fcn.py) that the paper trains on the RHM (docs/section5-structure.md "The paper's
recipes", docs/theory.md §6.4). The layers are plain ``nn.Linear`` modules holding the N(0, 1)
weights and the constant factors act on their outputs, so every any-module tool applies
unchanged: ``richlazy.nn.unbalance(model, α)`` finds ``hidden.0`` (first) and ``readout``
(last), and dividing the stored first weight by α while multiplying the stored readout by α is
the paper's knob (the forward-pass constants scale with them), which keeps the function at
initialization since the network is bias-free and positively homogeneous (§6.1). Inputs of any
shape (N, ...) are flattened: the RHM's one-hot (N, v, s^L) becomes (N, v·s^L), channels first,
as in the reference code.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn
from torch.nn import functional

__all__ = ["MeanFieldMLP"]


class MeanFieldMLP(nn.Module):
    """f(x) = W_out σ(… σ(W_1 x / √d_in) …) / width, weights N(0, 1), no biases.

    Args:
        d_in: input dimension (after flattening).
        width: units of every hidden layer (the paper's RHM runs: 64).
        depth: number of hidden layers, ≥ 1 (the paper: 3).
        d_out: outputs (the RHM's classes n_c).

    Attributes:
        hidden: the ``depth`` hidden ``nn.Linear`` layers, ``hidden.0`` the first.
        readout: the last ``nn.Linear`` layer, (d_out, width).
    """

    def __init__(self, d_in: int, width: int = 64, depth: int = 3, d_out: int = 1) -> None:
        super().__init__()
        for name, value in (("d_in", d_in), ("width", width), ("depth", depth), ("d_out", d_out)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        sizes = [d_in] + [width] * depth
        self.hidden = nn.ModuleList(
            nn.Linear(fan_in, fan_out, bias=False) for fan_in, fan_out in itertools.pairwise(sizes)
        )
        self.readout = nn.Linear(width, d_out, bias=False)
        # the forward pass's constant factors: 1/√fan_in per hidden layer, 1/width at the readout
        self.hidden_scales = tuple(1.0 / math.sqrt(fan_in) for fan_in in sizes[:-1])
        self.readout_scale = 1.0 / width
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight N(0, 1) (the scales are in the forward pass)."""
        with torch.no_grad():
            for layer in (*self.hidden, self.readout):
                layer.weight.normal_(0.0, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1)  # (N, d_in)
        _check_features(h, self.hidden[0].in_features)
        for layer, scale in zip(self.hidden, self.hidden_scales, strict=True):
            h = functional.relu(layer(h) * scale)  # (N, width)
        return self.readout(h) * self.readout_scale  # (N, d_out)


@torch.fx.wrap  # a leaf for torch.fx: conserved_quantities traces the layers, not this check
def _check_features(h: torch.Tensor, features: int) -> None:
    if h.shape[1] != features:
        raise ValueError(f"inputs must flatten to {features} features, got {h.shape[1]}")
