"""A small bias-free CNN for 8×8 digits or 28×28 MNIST, with 5×5 first-layer filters.

conv1 (5×5, ``width`` filters) → ReLU → max-pool 2 → conv2 (3×3, 2·``width``) → ReLU →
max-pool 2 → flatten → fc. Without biases every layer is positively homogeneous (max-pooling
too), so ``richlazy.nn.unbalance`` keeps its function and the first-layer filters are the ones
whose smoothness the paper's Figure 6b measures (docs/theory.md §6).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SmallCNN"]


class SmallCNN(nn.Module):
    """Two convolutions and a linear readout.

    Args:
        image_size: side of the square input images (divisible by 4): 8 for the digits, 28
            for MNIST.
        in_channels: channels of the images.
        num_classes: outputs.
        width: filters of the first convolution (the second has twice as many).
        bias: give every layer a bias.
    """

    def __init__(
        self, image_size: int = 8, in_channels: int = 1, num_classes: int = 10, *,
        width: int = 16, bias: bool = False,
    ) -> None:  # fmt: skip
        super().__init__()
        if not isinstance(image_size, int) or image_size < 4 or image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4, ≥ 4; got {image_size!r}")
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive integer, got {width!r}")
        self.conv1 = nn.Conv2d(in_channels, width, 5, padding=2, bias=bias)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1, bias=bias)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(2 * width * (image_size // 4) ** 2, num_classes, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu(self.conv1(x)))  # (N, w, s/2, s/2)
        x = self.pool(self.relu(self.conv2(x)))  # (N, 2w, s/4, s/4)
        return self.fc(torch.flatten(x, 1))  # (N, classes)
