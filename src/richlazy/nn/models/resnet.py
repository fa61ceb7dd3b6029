"""A CIFAR-size ResNet-18 (He et al. 2016) in one file, with a width multiplier.

The usual CIFAR variant: a 3×3 stride-1 stem and no max-pool, four stages of two basic blocks
(widths w, 2w, 4w, 8w; stages 2–4 halve the resolution), global average pooling and a linear
head. ``width=64`` is the standard network (11.2M parameters); smaller widths give the same
architecture at a cost that fits tests and 2-core benchmarks. The ReLUs are in place and the
residual sums are written with ``+=``, as in common implementations, so that the tools of
``richlazy.nn`` are exercised on in-place activations and residual adds.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BasicBlock", "ResNet18"]


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with batch norm, and an identity or 1×1 projection shortcut."""

    def __init__(self, in_channels: int, channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride, bias=False), nn.BatchNorm2d(channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))  # (N, C, H/s, W/s)
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return self.relu(out)


class ResNet18(nn.Module):
    """ResNet-18 for 32×32 images.

    Args:
        num_classes: outputs of the linear head.
        width: channels of the first stage (64 is the standard network).
        in_channels: channels of the input images.
    """

    def __init__(self, num_classes: int = 10, *, width: int = 64, in_channels: int = 3) -> None:
        super().__init__()
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive integer, got {width!r}")
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        stages, channels = [], width
        for index, stride in enumerate((1, 2, 2, 2)):
            out = width * 2**index
            stages.append(nn.Sequential(BasicBlock(channels, out, stride), BasicBlock(out, out, 1)))
            channels = out
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))  # (N, w, 32, 32)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (N, 8w, 4, 4)
        return self.fc(torch.flatten(self.pool(x), 1))  # (N, num_classes)
