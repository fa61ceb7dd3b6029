"""LeNet-5 (LeCun et al. 1998) with ReLU and max-pooling, the network of the paper's Figure 6a.

conv1 (5×5, 6 filters) → ReLU → max-pool 2 → conv2 (5×5, 16) → ReLU → max-pool 2 → flatten
(16·5·5 = 400) → fc1 (120) → ReLU → fc2 (84) → ReLU → fc3 (classes). A 28×28 image (MNIST) is
padded by 2 in conv1 (the original network read 32×32 images: the padding gives conv1 the same
28×28 output); a 32×32 image (CIFAR-10) is not padded. ReLU and max-pooling in place of the
original's scaled tanh and trainable sub-sampling, as in today's usual LeNet-5 (both are
positively homogeneous, which the α knob needs).

The α knob (docs/theory.md §6.1 and §6.4): the paper divides the first layer by α and multiplies
the last by α. The layers keep their biases (the standard network), so the function at
initialization stays the same only if the biases of the layers in between are divided by α too:
with h₁ = ReLU(W₁x/α + b₁/α) = ReLU(W₁x + b₁)/α every later pre-activation is divided by α as long
as its bias is, and fc3's α·W₃ undoes it. :meth:`LeNet5.inner_bias_scales` gives those factors
for ``richlazy.nn.unbalance``::

    unbalance(model, alpha, scales=model.inner_bias_scales(alpha))

By the same rescaling symmetry the divided biases learn α² times faster relative to their size,
like W₁ (they become part of the upstream side). ``bias=False`` gives the bias-free network, for
which ``unbalance(model, alpha)`` alone keeps the function.
"""

from __future__ import annotations

import torch
from torch import nn

from richlazy.nn import _checks

__all__ = ["LeNet5"]

_PADDING = {28: 2, 32: 0}  # conv1's padding per image side: both give 28×28 maps


class LeNet5(nn.Module):
    """LeNet-5 for 28×28 (MNIST) or 32×32 (CIFAR-10) images.

    Args:
        image_size: side of the square input images, 28 or 32.
        in_channels: channels of the images (1 for MNIST, 3 for CIFAR-10).
        num_classes: outputs.
        bias: give every layer a bias (the standard network).

    torch's default initialization (uniform, fan-in scaled); inputs (N, C, s, s) → logits (N,
    classes).
    """

    def __init__(
        self, image_size: int = 28, in_channels: int = 1, num_classes: int = 10, *,
        bias: bool = True,
    ) -> None:  # fmt: skip
        super().__init__()
        if image_size not in _PADDING or isinstance(image_size, bool):
            raise ValueError(f"image_size must be 28 or 32, got {image_size!r}")
        for name, value in (("in_channels", in_channels), ("num_classes", num_classes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be True or False, got {bias!r}")
        self.image_size = image_size
        self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=_PADDING[image_size], bias=bias)
        self.conv2 = nn.Conv2d(6, 16, 5, bias=bias)
        self.fc1 = nn.Linear(16 * 5 * 5, 120, bias=bias)
        self.fc2 = nn.Linear(120, 84, bias=bias)
        self.fc3 = nn.Linear(84, num_classes, bias=bias)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)

    def inner_bias_scales(self, alpha: float) -> dict[str, float]:
        """``{name: 1/α}`` for the biases of conv2, fc1 and fc2 (none without biases).

        With ``unbalance(model, alpha, scales=...)`` (conv1 ÷ α with its bias, fc3's weight × α)
        the function at initialization is unchanged (module docstring).
        """
        alpha = _checks.real("alpha", alpha)
        inner = {"conv2": self.conv2, "fc1": self.fc1, "fc2": self.fc2}
        return {f"{name}.bias": 1.0 / alpha for name, m in inner.items() if m.bias is not None}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images(x, self.image_size)
        x = self.pool(self.relu(self.conv1(x)))  # (N, 6, 14, 14)
        x = self.pool(self.relu(self.conv2(x)))  # (N, 16, 5, 5)
        x = self.relu(self.fc1(torch.flatten(x, 1)))  # (N, 120)
        x = self.relu(self.fc2(x))  # (N, 84)
        return self.fc3(x)  # (N, classes)


@torch.fx.wrap  # a leaf for torch.fx: conserved_quantities traces the layers, not this check
def _check_images(x: torch.Tensor, size: int) -> None:
    if x.ndim != 4 or x.shape[-2:] != (size, size):
        raise ValueError(f"x must be images (N, C, {size}, {size}), got shape {tuple(x.shape)}")
