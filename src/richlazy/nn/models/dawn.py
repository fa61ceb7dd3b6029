"""The DAWNBench CIFAR-10 ResNet of Page's cifar10-fast, with the paper's 15×15 first layer.

The network the paper's Figure 6b trains (docs/theory.md §6.4; docs/section5-vision.md gives its
recipe and where each fact was read): every block is conv (no bias) → BatchNorm → ReLU,

- ``prep``: a block of ``width`` channels (64 in the benchmark);
- ``layer1``: a block of 2·width channels, max-pool 2, then a residual unit x + B(B(x)) of two
  more such blocks;
- ``layer2``: a block of 4·width channels, max-pool 2;
- ``layer3``: a block of 8·width channels, max-pool 2, and a residual unit;
- a global max-pool, a linear head without bias and a fixed output scale (0.125).

The paper's change: the first convolution's kernel is 15×15 (padding 7, so the maps keep their
size) instead of 3×3. The other convolutions stay 3×3 (``kernel``): the paper's text does not
say, and only the first layer's filters are scored; these read the image itself, so a large
kernel there is what makes a filter's smoothness visible, whereas in the later layers the maps
are 16×16 to 4×4 and a 15×15 kernel with padding 7 would mostly read padding while multiplying
the network's cost by about 25 (3×3 → 15×15 everywhere). ``kernel=15`` builds that variant.

The global max-pool is the benchmark's 4×4 max-pool on 32×32 images (the maps are then 4×4);
on 28×28 images (MNIST) the maps are 28, 14, 7 and 3 wide and the pool takes the 3×3 maximum.

The α knob (docs/theory.md §6.1, §6.4): divide ``prep.conv`` by α after the standard
initialization and change nothing else (``unbalance(model, alpha, rescale_last=False)``).
BatchNorm follows that convolution, so in training mode (batch statistics) its output changes
only through BatchNorm's ε: with z the convolution's output, BN(z/α) with ε equals BN(z) with
α²ε in place of ε. In eval mode the running statistics of a fresh network (mean 0, variance 1)
are not rescaled, so there the function does change at initialization.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ConvBN", "DawnResNet", "Residual"]


class ConvBN(nn.Module):
    """conv (``kernel``×``kernel``, same size, no bias) → BatchNorm → ReLU (→ max-pool 2)."""

    def __init__(self, in_channels: int, channels: int, kernel: int = 3, *, pool: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, channels, kernel, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2) if pool else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.relu(self.bn(self.conv(x))))  # (N, channels, H or H/2, ...)


class Residual(nn.Module):
    """x + B₂(B₁(x)) with two :class:`ConvBN` blocks of the same width (no ReLU after the sum)."""

    def __init__(self, channels: int, kernel: int = 3):
        super().__init__()
        self.res1 = ConvBN(channels, channels, kernel)
        self.res2 = ConvBN(channels, channels, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res2(self.res1(x))  # (N, C, H, W)


class DawnResNet(nn.Module):
    """The cifar10-fast DAWNBench ResNet (module docstring), with a ``first_kernel`` first layer.

    Args:
        num_classes: outputs of the head.
        in_channels: channels of the images (3 for CIFAR-10, 1 for MNIST).
        width: channels of ``prep``; the stages have 2, 4 and 8 times as many (64: the
            benchmark's network, 6.6M parameters with a 3×3 first layer).
        first_kernel: side of the first convolution's kernel, odd (15: the paper's; 3: the
            benchmark's).
        kernel: side of every other convolution's kernel, odd (3).
        output_scale: the factor of the logits (0.125, the benchmark's).

    Inputs (N, in_channels, H, W) with H, W ≥ 8 → logits (N, num_classes).
    """

    def __init__(
        self, num_classes: int = 10, *, in_channels: int = 3, width: int = 64,
        first_kernel: int = 15, kernel: int = 3, output_scale: float = 0.125,
    ) -> None:  # fmt: skip
        super().__init__()
        for name, value in (("num_classes", num_classes), ("in_channels", in_channels),
                            ("width", width)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name, value in (("first_kernel", first_kernel), ("kernel", kernel)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value % 2 == 0:
                raise ValueError(f"{name} must be an odd positive integer, got {value!r}")
        if isinstance(output_scale, bool) or not isinstance(output_scale, int | float):
            raise TypeError(f"output_scale must be a real number, got {output_scale!r}")
        if not 0 < output_scale < float("inf"):
            raise ValueError(f"output_scale must be finite and > 0, got {output_scale!r}")
        w = width
        self.in_channels = in_channels
        self.output_scale = float(output_scale)
        self.prep = ConvBN(in_channels, w, first_kernel)
        self.layer1 = nn.Sequential(ConvBN(w, 2 * w, kernel, pool=True), Residual(2 * w, kernel))
        self.layer2 = ConvBN(2 * w, 4 * w, kernel, pool=True)
        self.layer3 = nn.Sequential(
            ConvBN(4 * w, 8 * w, kernel, pool=True), Residual(8 * w, kernel)
        )
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.linear = nn.Linear(8 * w, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images(x, self.in_channels)
        x = self.prep(x)  # (N, w, H, W)
        x = self.layer1(x)  # (N, 2w, H/2, W/2)
        x = self.layer2(x)  # (N, 4w, H/4, W/4)
        x = self.layer3(x)  # (N, 8w, H/8, W/8)
        x = torch.flatten(self.pool(x), 1)  # (N, 8w)
        return self.linear(x) * self.output_scale  # (N, classes)


@torch.fx.wrap  # a leaf for torch.fx: conserved_quantities traces the layers, not this check
def _check_images(x: torch.Tensor, channels: int) -> None:
    if x.ndim != 4 or x.shape[1] != channels or min(x.shape[-2:]) < 8:
        raise ValueError(
            f"x must be images (N, {channels}, H, W) with H, W ≥ 8, got shape {tuple(x.shape)}"
        )
