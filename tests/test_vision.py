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
from richlazy.experiments.section5 import _vision, fig6a, fig6b
from test_data_images import _write_cifar, _write_mnist

SMALL = {"networks": ("cnn",), "seeds": (0,), "alphas": (1.0, 10.0), "steps": 3, "cnn_width": 4,
         "probe_points": 4, "evals_per_decade": 1}  # fmt: skip
DAWN = {"alphas": (1.0, 10.0), "seeds": (0,), "n_train": 64, "n_test": 32, "batch_size": 32,
        "epochs": 1, "warmup_epochs": 0.5, "width": 2}  # fmt: skip


def test_a_shard_is_deterministic_and_alpha_keeps_the_initial_function():
    config = experiments.get("fig6a").configure("quick", {**SMALL, "alphas": (1.0, 8.0)})
    first, again = (_vision.seed_runs(config, "cnn", 0) for _ in range(2))
    xr.testing.assert_identical(first, again)
    start = first.isel(step=0)
    # First ÷ α, last × α: the same function at step 0, filters divided by α. Tolerance: α = 8
    # is a power of two, so W1/8 and 8·W3 are exact in float32 and the scaling commutes with
    # every rounding of the forward pass (conv, ReLU, max-pool and the readout are positively
    # homogeneous and the CNN has no biases): both α give the same float32 logits whatever the
    # kernels' summation order, since both run through the same kernels (same shapes, same
    # process). With α = 10 the agreement would rest on the kernels: the bound γ_K·|W3||W2||W1||x|
    # with K = 25 + 36 + 32 + 2 roundings along a path is ~1e-3 of the loss at init.
    np.testing.assert_allclose(start.test_loss.sel(alpha=8.0), start.test_loss.sel(alpha=1.0),
                               rtol=1e-12)  # fmt: skip
    np.testing.assert_allclose(first.filters_init.sel(alpha=8.0) * 8,
                               first.filters_init.sel(alpha=1.0), rtol=1e-12)  # fmt: skip
    assert float(first.kernel_distance.isel(step=-1).min()) > 0
    assert np.isfinite(first.group_distance).all() and first.kernel_group.size == 3


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
