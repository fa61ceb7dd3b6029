"""Figure 6b's runs: the DAWNBench ResNet trained by cifar10-fast's recipe (docs/section5-vision.md,
"The 6b recipe"; docs/theory.md §6.4).

One run per (α, seed): ``DawnResNet`` (BatchNorm after every convolution, a 15×15 first layer)
from torch's default initialization under ``torch.manual_seed(seed)``, its first convolution
÷ α (``richlazy.nn.unbalance(..., rescale_last=False)``: nothing else, BatchNorm follows), trained
in batches of ``batch_size`` (shuffled each epoch, the last incomplete batch dropped) on the
mean cross-entropy with Nesterov momentum in cifar10-fast's form (:func:`nesterov_step`) at the
piecewise-linear rate 0 → lr → 0 (``richlazy.nn.schedules.PiecewiseLinear``, knots at epoch 0,
``warmup_epochs`` and ``epochs``, evaluated at update k = 1, 2, … as epoch k / steps per epoch),
on images augmented afresh every epoch (:func:`augment`). The minibatch order and the
augmentation come from a generator seeded by the seed alone, so every α sees the same batches.
Stored: the first layer's filters and the paper's smoothness score per filter at initialization
and at the end, train and test loss and accuracy at the end (eval mode, unaugmented images), the
mean training loss of every epoch.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr
from torch import nn
from torch.nn import functional

from richlazy.nn import unbalance
from richlazy.nn.filters import filter_smoothness
from richlazy.nn.models import DawnResNet
from richlazy.nn.schedules import PiecewiseLinear
from richlazy.runtime import device_of, progress_task, torch_threads

__all__ = ["augment", "dawn_run", "nesterov_step", "rate_schedule"]


def rate_schedule(config, steps_per_epoch: int) -> PiecewiseLinear:
    """The rate factor per update: 0 at epoch 0, 1 at ``warmup_epochs``, 0 at ``epochs``
    (knots given in updates, so the rate moves within an epoch, as cifar10-fast's does)."""
    spe = steps_per_epoch
    return PiecewiseLinear(
        ((0, 0.0), (config.warmup_epochs * spe, 1.0), (config.epochs * spe, 0.0))
    )


@torch.no_grad()
def nesterov_step(params, velocities, lr: float, momentum: float, weight_decay: float) -> None:
    """cifar10-fast's Nesterov update of every parameter with a gradient:
    g ← −lr·(∇ + weight_decay·w); v ← momentum·v + g; w ← w + g + momentum·v (the rate sits
    inside the velocity; with a constant rate this is torch's ``SGD(nesterov=True)``)."""
    for p, v in zip(params, velocities, strict=True):
        if p.grad is None:
            continue
        g = p.grad.add(p, alpha=weight_decay).mul_(-lr)
        v.mul_(momentum).add_(g)
        p.add_(g).add_(v, alpha=momentum)


def augment(
    padded: torch.Tensor, size: int, rng: np.random.Generator, *, flip: bool, cutout: int
) -> torch.Tensor:
    """cifar10-fast's augmentation of a reflect-padded batch (N, C, size + 2p, size + 2p): a
    random size×size crop, a left-right flip with probability ½ (if ``flip``), a cutout×cutout
    square set to 0 inside the image (if ``cutout`` > 0); per image, drawn from ``rng``."""
    n, _, side, _ = padded.shape
    device = padded.device
    oy, ox = (torch.as_tensor(rng.integers(0, side - size + 1, n), device=device) for _ in "yx")
    span = torch.arange(size, device=device)
    rows = (oy[:, None] + span)[:, None, :, None]  # (N, 1, size, 1)
    cols = (ox[:, None] + span)[:, None, None, :]  # (N, 1, 1, size)
    batch = torch.arange(n, device=device)[:, None, None, None]
    chans = torch.arange(padded.shape[1], device=device)[None, :, None, None]
    out = padded[batch, chans, rows, cols]  # (N, C, size, size)
    if flip:
        flipped = torch.as_tensor(rng.random(n) < 0.5, device=device)
        out = torch.where(flipped[:, None, None, None], out.flip(-1), out)
    if cutout > 0:
        cy, cx = (torch.as_tensor(rng.integers(0, size - cutout + 1, n), device=device)
                  for _ in "yx")  # fmt: skip
        inside_y = (span[None] >= cy[:, None]) & (span[None] < cy[:, None] + cutout)  # (N, size)
        inside_x = (span[None] >= cx[:, None]) & (span[None] < cx[:, None] + cutout)
        hole = inside_y[:, :, None] & inside_x[:, None, :]  # (N, size, size)
        out = out.masked_fill(hole[:, None], 0.0)
    return out


def build(config, shape: tuple[int, int, int], seed: int, alpha: float) -> DawnResNet:
    """The seeded network with its first convolution ÷ α (nothing else)."""
    torch.manual_seed(seed)
    model = DawnResNet(10, in_channels=shape[0], width=config.width,
                       first_kernel=config.first_kernel, kernel=config.kernel)  # fmt: skip
    unbalance(model, alpha, rescale_last=False, first="prep.conv")
    return model


def dawn_run(config, data, alpha: float, seed: int, progress=None) -> xr.Dataset:
    """One (α, seed) run of the recipe (module docstring); dims (alpha, seed, …)."""
    with torch_threads(config.threads), progress_task(progress, f"α = {alpha:g}, seed {seed}",
                                                      config.epochs) as advance:  # fmt: skip
        return _run(config, data, alpha, seed, advance)


def _run(config, data, alpha, seed, progress) -> xr.Dataset:
    device = device_of(config.device)
    x_train = torch.as_tensor(data.x_train).to(device)  # (N, C, H, W)
    y_train = torch.as_tensor(data.y_train).to(device)
    x_test = torch.as_tensor(data.x_test).to(device)
    y_test = torch.as_tensor(data.y_test).to(device)
    model = build(config, data.shape, seed, alpha).to(device)
    filters0 = model.prep.conv.weight.detach().cpu().numpy().copy()  # (out, in, k, k)
    p = config.crop_padding
    padded = functional.pad(x_train, (p, p, p, p), mode="reflect") if p else x_train
    n, size = x_train.shape[0], x_train.shape[-1]
    batch = min(config.batch_size, n)
    steps_per_epoch = n // batch
    schedule = rate_schedule(config, steps_per_epoch)
    params = list(model.parameters())
    velocities = [torch.zeros_like(q) for q in params]
    rng = np.random.default_rng([seed, 6])
    epoch_loss = np.zeros(config.epochs)
    step = 0
    for epoch in range(config.epochs):
        model.train()
        images = augment(padded, size, rng, flip=config.flip, cutout=config.cutout)
        order = torch.as_tensor(rng.permutation(n), device=device)
        total = 0.0
        for b in range(steps_per_epoch):
            pick = order[b * batch : (b + 1) * batch]
            loss = functional.cross_entropy(model(images[pick]), y_train[pick])
            model.zero_grad(set_to_none=True)
            loss.backward()
            step += 1
            lr = config.lr * schedule.factor(step)
            nesterov_step(params, velocities, lr, config.momentum, config.weight_decay)
            total += float(loss.detach())
        epoch_loss[epoch] = total / steps_per_epoch
        if progress is not None:
            progress(1)
    measured = {
        f"{split}_{what}": value
        for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test))
        for what, value in zip(("loss", "accuracy"), _evaluate(model, x, y), strict=True)
    }
    filters = model.prep.conv.weight.detach().cpu().numpy().copy()
    dims = ("out_channel", "in_channel")
    results = xr.Dataset(
        {
            "filters": ((*dims, "height", "width"), filters),
            "filters_init": ((*dims, "height", "width"), filters0),
            "smoothness": (dims, filter_smoothness(filters)),
            "smoothness_init": (dims, filter_smoothness(filters0)),
            "epoch_loss": ("epoch", epoch_loss),
            **{name: ((), value) for name, value in measured.items()},
        },
        coords={"epoch": np.arange(1, config.epochs + 1)},
    )
    results = results.expand_dims(alpha=[float(alpha)], seed=[int(seed)])
    return results.assign_attrs(
        n_train=int(n), n_test=int(x_test.shape[0]), steps_per_epoch=int(steps_per_epoch)
    )


@torch.no_grad()
def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy in eval mode (BatchNorm's running statistics)."""
    model.eval()
    loss, right = 0.0, 0
    for xs, ys in zip(x.split(500), y.split(500), strict=True):
        out = model(xs)  # (n, classes)
        loss += float(functional.cross_entropy(out, ys, reduction="sum"))
        right += int((out.argmax(1) == ys).sum())
    return loss / x.shape[0], right / x.shape[0]
