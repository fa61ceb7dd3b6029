"""The Section 5 vision experiments (docs/section5-vision.md): the knob at the experiment level
(LeNet-5's function kept, the DAWN ResNet's first convolution alone ÷ α), the DAWN recipe's
pieces, resumable shards, the presets, the claims on hand-made results, reuse of fig6a's shards
by fig6b's digits preset, and the paper path on fake local files."""

import dataclasses

import numpy as np
import pytest
import torch
import xarray as xr

from richlazy import experiments
from richlazy.experiments import runner
from richlazy.experiments.section5 import _dawn, _vision, fig6a, fig6b
from test_data_images import _write_cifar, _write_mnist

SMALL = {"networks": ("cnn",), "seeds": (0,), "alphas": (1.0, 10.0), "steps": 3, "cnn_width": 4,
         "probe_points": 4, "evals_per_decade": 1}  # fmt: skip
DAWN = {"alphas": (1.0, 10.0), "seeds": (0,), "n_train": 64, "n_test": 32, "batch_size": 32,
        "epochs": 1, "warmup_epochs": 0.5, "width": 2}  # fmt: skip


@pytest.mark.parametrize("alpha", [0.1, 10.0])
def test_lenet5_knob_of_the_experiment_keeps_the_function_and_first_only_does_not(alpha):
    config = experiments.get("fig6a").configure("quick")
    x = torch.randn(16, 1, 28, 28, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    outputs = {}
    for knob, a in (("first_last", 1.0), ("first_last", alpha), ("first", alpha)):
        torch.manual_seed(0)
        model = _vision.build_model(config, "lenet5", (1, 28, 28)).double()
        setup = dataclasses.replace(config, knob=knob)
        _vision.unbalance(model, a, **_vision.knob_options(setup, model, a))
        outputs[knob, a] = model(x).detach()
    reference = outputs["first_last", 1.0]
    size = float(reference.abs().max())
    # float64: exact in real arithmetic, so only rounding (≈ 1e-16 per operation) remains
    assert float((outputs["first_last", alpha] - reference).abs().max()) < 1e-12 * size
    assert float((outputs["first", alpha] - reference).abs().max()) > 1e-3 * size


def test_the_experiment_runs_start_from_one_function_at_every_alpha():
    config = experiments.get("fig6a").configure("smoke")
    shard = _vision.seed_runs(config, "lenet5", 0)
    start = shard.isel(step=0)
    # float32 losses of the same function computed with rescaled weights: rounding of ~1e-7
    # per operation over a few thousand multiply-adds per logit stays far below 1e-4
    np.testing.assert_allclose(start.test_loss.sel(alpha=10.0), start.test_loss.sel(alpha=1.0),
                               rtol=1e-4)  # fmt: skip
    assert float(start.relative_distance.max()) == 0.0
    assert shard.group_change.dims == ("seed", "alpha", "step", "kernel_group")
    assert shard.kernel_group.size == 5  # conv1, conv2, fc1, fc2, fc3
    assert float(shard.relative_distance.isel(step=-1).min()) > 0


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
        if alpha == 10.0:
            raise KeyboardInterrupt("killed")
        calls.append((alpha, seed))
        return real(config, data, alpha, seed, progress)

    monkeypatch.setattr(_dawn, "dawn_run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.run("fig6b", preset="quick", out=tmp_path, overrides={**DAWN, "seeds": (0, 1)})
    assert calls == [(1.0, 0), (1.0, 1)]  # α slowest: both α = 1 shards finished and stored
    calls.clear()

    def counted(config, data, alpha, seed, progress=None):
        calls.append((alpha, seed))
        return real(config, data, alpha, seed, progress)

    monkeypatch.setattr(_dawn, "dawn_run", counted)
    results = runner.run("fig6b", preset="quick", out=tmp_path,
                         overrides={**DAWN, "seeds": (0, 1)}).results  # fmt: skip
    assert calls == [(10.0, 0), (10.0, 1)]  # the run resumed where it stopped
    assert results.filters.dims == ("alpha", "seed", "out_channel", "in_channel", "height", "width")
    assert results.smoothness.dims == ("alpha", "seed", "out_channel", "in_channel")
    assert results.filters.shape[2:] == (2, 1, 15, 15)
    fresh = real(fig6b.PRESETS["quick"].__class__(**{**dataclasses.asdict(
        fig6b.PRESETS["quick"]), **DAWN, "seeds": (0, 1)}), _vision.load_data(
        experiments.get("fig6b").configure("quick", DAWN)), 1.0, 1)  # fmt: skip
    xr.testing.assert_identical(  # a stored shard is the shard computed again (same code path)
        results.smoothness.sel(alpha=[1.0], seed=[1]), fresh.smoothness
    )


def test_presets_follow_the_paper():
    a = fig6a.PRESETS
    assert a["mnist"].alphas == (0.1, 0.3, 1.0, 3.0, 10.0) and len(a["mnist"].seeds) == 8
    assert a["mnist"].networks == ("lenet5",) and a["mnist"].knob == "first_last"
    assert a["mnist"].dataset == "mnist5k" and a["paper"].dataset == "mnist"
    assert a["paper"].steps == 10 * 938  # 10 epochs of 60,000 images in batches of 64
    b = fig6b.PRESETS["paper"]
    assert b.alphas == (0.1, 0.33, 1.0, 3.33, 10.0) and b.dataset == "cifar10"
    assert (b.epochs, b.warmup_epochs, b.batch_size, b.lr, b.momentum, b.weight_decay) == (
        24, 5.0, 512, 0.4, 0.9, 0.0)  # fmt: skip
    assert (b.width, b.first_kernel, b.kernel, b.flip, b.crop_padding, b.cutout) == (
        64, 15, 3, True, 4, 8)  # fmt: skip
    mnist = fig6b.PRESETS["mnist"]
    assert dataclasses.replace(mnist, dataset="cifar10", width=64, flip=True, threads=4,
                               device="auto") == b  # fmt: skip
    assert (
        fig6a.PRESETS["digits"].dataset == "digits" and fig6b.PRESETS["digits"].recipe == "digits"
    )
    with pytest.raises(ValueError, match="warmup_epochs"):
        experiments.get("fig6b").configure("mnist", {"warmup_epochs": 30.0})


def _smoothness_results(medians, accuracy=(0.9, 0.9, 0.9, 0.9, 0.9)):
    alphas = (0.1, 0.33, 1.0, 3.33, 10.0)
    spread = np.array([-0.02, 0.0, 0.02])  # three seeds
    values = np.asarray(medians)[:, None] + spread  # (alpha, seed)
    filters = np.broadcast_to(values[:, :, None, None], (5, 3, 4, 1))
    acc = np.broadcast_to(np.asarray(accuracy)[:, None], (5, 3))
    data = {
        "smoothness": (("alpha", "seed", "out_channel", "in_channel"), filters),
        "train_accuracy": (("alpha", "seed"), acc),
        "test_accuracy": (("alpha", "seed"), acc),
    }
    return xr.Dataset(data, coords={"alpha": list(alphas), "seed": [0, 1, 2]},
                      attrs={"n_train": 4000, "n_test": 1000})  # fmt: skip


def test_fig6b_claims_on_hand_made_results():
    config = fig6b.PRESETS["mnist"]
    verdicts = lambda results: [c.verdict.value for c in fig6b.claims(results, config)]  # noqa: E731
    paper = _smoothness_results([3.8, 2.4, 1.1, 0.66, 0.61])
    assert verdicts(paper) == ["holds"] * 4
    still_falling = _smoothness_results([3.8, 2.4, 1.1, 0.66, 0.2])  # 0.46 > ½·0.44
    assert verdicts(still_falling)[:2] == ["holds", "fails"]
    overlapping = _smoothness_results([3.8, 2.4, 1.1, 1.09, 1.08])  # seeds overlap at 3.33
    assert verdicts(overlapping)[0] == "fails"
    # 3 standard errors of 0.9 on 1,000 images: 0.028; on 4,000: 0.014
    worse = _smoothness_results([3.8, 2.4, 1.1, 0.66, 0.61], (0.9, 0.9, 0.9, 0.9, 0.88))
    assert verdicts(worse)[2:] == ["fails", "holds"]


def test_fig6a_claims_on_hand_made_results():
    alphas, steps = (0.1, 0.3, 1.0, 3.0, 10.0), np.array([0, 1, 10, 100])
    growth = np.array([0.0, 0.2, 0.6, 1.0])  # S(0, t) / S(0, T): half reached at step 10
    final = np.array([0.01, 0.02, 0.04, 0.08, 0.16])[:, None, None] * np.array([0.9, 1.0, 1.1])[
        None, :, None]  # (alpha, seed, 1)  # fmt: skip
    kernel = final * growth  # (alpha, seed, step)
    dims = ("network", "alpha", "seed", "step")
    acc = np.full((1, 5, 3, 4), 0.95)

    def results(hamming, relative):
        data = {"kernel_distance": (dims, kernel[None]), "test_accuracy": (dims, acc),
                "hamming_distance": (dims, np.full((1, 5, 3, 4), hamming)),
                "relative_distance": (dims, np.full((1, 5, 3, 4), relative))}  # fmt: skip
        coords = {"network": ["lenet5"], "alpha": list(alphas), "seed": [0, 1, 2], "step": steps}
        return xr.Dataset(data, coords=coords, attrs={"n_test": 1000})

    config = fig6a.PRESETS["mnist"]
    outcome = [c.verdict.value for c in fig6a.claims(results(0.2, 0.01), config)]
    assert outcome == ["holds", "holds", "holds"]
    outcome = [c.verdict.value for c in fig6a.claims(results(0.01, 0.2), config)]
    assert outcome[1] == "fails"
    flat = results(0.2, 0.01).assign(kernel_distance=lambda d: d.kernel_distance[:, ::-1]
                                      .assign_coords(alpha=list(alphas)))  # fmt: skip
    assert fig6a.claims(flat, config)[0].verdict.value == "fails"


def test_fig6b_digits_loads_fig6a_digits_shards_instead_of_training(tmp_path, monkeypatch):
    a = runner.run("fig6a", preset="digits", out=tmp_path, overrides=SMALL).results
    assert a.kernel_distance.dims == ("network", "alpha", "seed", "step")

    def refuse(*args, **kwargs):
        raise AssertionError("fig6b trained again")

    monkeypatch.setattr(_vision, "seed_runs", refuse)
    b = runner.run("fig6b", preset="digits", out=tmp_path, overrides=SMALL).results
    np.testing.assert_array_equal(
        b.test_accuracy.values, a.test_accuracy.sel(network="cnn").isel(step=-1).values
    )
    assert b.total_variation.dims == ("alpha", "seed")
    with pytest.raises(AssertionError, match="trained again"):  # other settings: new runs
        runner.run("fig6b", preset="digits", out=tmp_path, overrides={**SMALL, "steps": 4},
                   overwrite=True)  # fmt: skip


@pytest.mark.parametrize("name", ["fig6a", "fig6b"])
def test_the_paper_path_runs_on_fake_local_files(tmp_path, name):
    data = tmp_path / "data"
    data.mkdir()
    (_write_mnist if name == "fig6a" else _write_cifar)(data)
    if name == "fig6a":
        tiny = {"seeds": (0,), "alphas": (1.0, 3.0), "steps": 1, "probe_points": 2}
    else:
        tiny = {**DAWN, "n_train": 0, "n_test": 0}
    tiny = {**tiny, "data_dir": str(data), "device": "cpu"}
    outcome = runner.run(name, preset="paper", overrides=tiny)  # in memory (tiny: drawn)
    config = experiments.get(name).config_of(outcome.results)
    assert config.dataset == ("mnist" if name == "fig6a" else "cifar10")
    claims = experiments.get(name).claims(outcome.results, config)
    assert claims and all(c.verdict.value in ("holds", "fails", "not measured") for c in claims)
    with pytest.raises(ValueError, match=r"data_dir .* is not a directory"):
        runner.run(name, preset="paper", overrides={**tiny, "data_dir": str(tmp_path / "missing")})
