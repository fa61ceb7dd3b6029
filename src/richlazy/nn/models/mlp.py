"""A deep fully connected network with a positively homogeneous activation, in one file.

``MLP(d_in, width, depth, d_out)`` is ``depth`` hidden layers of ``width`` units followed by a
linear readout: ``layers.0`` (first), ``layers.2``, …, ``layers.{2·depth}`` (last), with the
activations at the odd indices. Bias-free by default, so that it is positively homogeneous and
``richlazy.nn.unbalance`` keeps its function (docs/theory.md §6.1).
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

__all__ = ["MLP"]


class MLP(nn.Module):
    """f(x) = W_L σ(… σ(W_1 x)) with σ(z) = max(z, γz).

    Args:
        d_in: input dimension.
        width: units of every hidden layer.
        depth: number of hidden layers (≥ 1).
        d_out: outputs.
        bias: give every layer a bias.
        leak: γ: 0 for ReLU, in (0, 1) for leaky ReLU.
    """

    def __init__(
        self, d_in: int, width: int, depth: int, d_out: int = 1, *, bias: bool = False,
        leak: float = 0.0,
    ) -> None:  # fmt: skip
        super().__init__()
        for name, value in (("d_in", d_in), ("width", width), ("depth", depth), ("d_out", d_out)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 <= leak < 1.0:
            raise ValueError(f"leak must be in [0, 1), got {leak!r}")
        layers: list[nn.Module] = []
        sizes = [d_in] + [width] * depth
        for fan_in, fan_out in itertools.pairwise(sizes):
            layers.append(nn.Linear(fan_in, fan_out, bias=bias))
            layers.append(nn.LeakyReLU(leak) if leak else nn.ReLU())
        layers.append(nn.Linear(width, d_out, bias=bias))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x.flatten(1))  # (N, d_out)
