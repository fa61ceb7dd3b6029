"""fig6b's DAWNBench runs (docs/section5-vision.md, "Figures 6b and 11"): the knob on the
ResNet with BatchNorm, cifar10-fast's Nesterov update, rate and augmentation, resumable shards."""

import numpy as np
import pytest
import torch
import xarray as xr

from richlazy.experiments import runner
from richlazy.experiments.section5 import _dawn, fig6b

DAWN = {"alphas": (1.0, 10.0), "seeds": (0,), "n_train": 64, "n_test": 32, "batch_size": 32,
        "epochs": 1, "warmup_epochs": 0.5, "width": 2}  # fmt: skip


def test_dawn_knob_divides_the_first_convolution_only_and_bn_keeps_the_function():
    config = fig6b.PRESETS["smoke"]
    nets = {a: _dawn.build(config, (1, 28, 28), 0, a).double() for a in (1.0, 10.0)}
    one, ten = (dict(nets[a].named_parameters()) for a in (1.0, 10.0))
    for name, value in one.items():  # built in float32, compared in float64
        if name == "prep.conv.weight":  # w·(1/10) in float32: two roundings, 2·2⁻²⁴ relative
            torch.testing.assert_close(ten[name], value / 10, rtol=2.0**-23, atol=0)
        else:  # the same seeded draw, untouched
            assert torch.equal(ten[name], value), name
    x = torch.randn(32, 1, 28, 28, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    out = {a: net.train()(x).detach() for a, net in nets.items()}
    # training-mode BatchNorm: the logits move through ε only, below max_c |r_c − 1| ≤ 2e-3 at
    # α = 10 (docs/section5-vision.md, "The DAWNBench ResNet")
    relative = float((out[10.0] - out[1.0]).abs().max() / out[1.0].abs().max())
    assert 0 < relative < 2e-3


def test_nesterov_step_is_torch_nesterov_at_a_constant_rate():
    gen = torch.Generator().manual_seed(3)
    w = torch.randn(5, dtype=torch.float64, generator=gen, requires_grad=True)
    w_torch = w.detach().clone().requires_grad_(True)
    velocity = [torch.zeros_like(w)]
    sgd = torch.optim.SGD([w_torch], lr=0.1, momentum=0.9, nesterov=True)
    target = torch.randn(5, dtype=torch.float64, generator=gen)
    for _ in range(5):
        for param in (w, w_torch):
            param.grad = None
            ((param - target) ** 3).abs().sum().backward()
        _dawn.nesterov_step([w], velocity, 0.1, 0.9, 0.0)
        sgd.step()
    torch.testing.assert_close(w, w_torch, rtol=1e-12, atol=1e-12)


def test_rate_follows_cifar10_fast_knots():
    config = fig6b.PRESETS["mnist"]
    schedule = _dawn.rate_schedule(config, steps_per_epoch=7)
    assert schedule.factor(0) == 0 and schedule.factor(35) == 1 and schedule.factor(168) == 0
    assert schedule.factor(1) == pytest.approx(1 / 35)
    assert schedule.factor(35 + 19 * 7 / 2) == pytest.approx(0.5)


def test_augment_crops_flips_and_cuts_out():
    rng = np.random.default_rng(0)
    x = torch.arange(2 * 36 * 36, dtype=torch.float32).reshape(2, 1, 36, 36) + 1
    plain = _dawn.augment(x, 36, rng, flip=False, cutout=0)
    torch.testing.assert_close(plain, x)  # no padding, no flip, no cutout: the images
    crops = _dawn.augment(x, 28, rng, flip=False, cutout=0)
    assert crops.shape == (2, 1, 28, 28)
    for crop in crops:  # each a contiguous window: its rows step by 36, its columns by 1
        assert torch.all(crop[0, 1:, 0] - crop[0, :-1, 0] == 36)
        assert torch.all(crop[0, 0, 1:] - crop[0, 0, :-1] == 1)
    holes = _dawn.augment(x, 28, rng, flip=False, cutout=8)
    assert ((holes == 0).sum(dim=(1, 2, 3)) == 64).all()
    flips = _dawn.augment(x[:1].expand(400, 1, 36, 36), 36, rng, flip=True, cutout=0)
    flipped = (flips[:, 0, 0, 0] != x[0, 0, 0, 0]).float().mean()
    assert 0.4 < float(flipped) < 0.6  # ½ ± 4 standard errors of 400 draws (0.1)


def test_dawn_shards_resume(tmp_path, monkeypatch):
    calls = []
    real = _dawn.dawn_run

    def interrupted(config, data, alpha, seed, progress=None):
        if seed == 1:
            raise KeyboardInterrupt("killed")
        calls.append((alpha, seed))
        return real(config, data, alpha, seed, progress)

    monkeypatch.setattr(_dawn, "dawn_run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.run("fig6b", preset="quick", out=tmp_path, overrides={**DAWN, "seeds": (0, 1)})
    assert calls == [(1.0, 0), (10.0, 0)]  # seed slowest: seed 0's shards finished and stored
    calls.clear()

    def counted(config, data, alpha, seed, progress=None):
        calls.append((alpha, seed))
        return real(config, data, alpha, seed, progress)

    monkeypatch.setattr(_dawn, "dawn_run", counted)
    results = runner.run("fig6b", preset="quick", out=tmp_path,
                         overrides={**DAWN, "seeds": (0, 1)}).results  # fmt: skip
    assert calls == [(1.0, 1), (10.0, 1)]  # the run resumed where it stopped
    assert results.filters.dims == ("alpha", "seed", "out_channel", "in_channel", "height", "width")
    assert results.smoothness.dims == ("alpha", "seed", "out_channel", "in_channel")
    assert results.filters.shape[2:] == (2, 1, 15, 15)
    monkeypatch.setattr(_dawn, "dawn_run", real)
    whole = runner.run("fig6b", preset="quick", overrides={**DAWN, "seeds": (0, 1)}).results
    xr.testing.assert_identical(results.smoothness, whole.smoothness)  # resumed = uninterrupted
