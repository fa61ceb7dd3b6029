"""The Section 5 vision experiments: shared runs, reuse of fig6a's shards by fig6b, the paper
path on fake local files (docs/section5-vision.md)."""

import numpy as np
import pytest
import xarray as xr

from richlazy import experiments
from richlazy.experiments import runner
from richlazy.experiments.section5 import _vision
from test_data_images import _write_cifar, _write_mnist

SMALL = {"networks": ("cnn",), "seeds": (0,), "alphas": (1.0, 10.0), "steps": 3, "cnn_width": 4,
         "probe_points": 4, "evals_per_decade": 1}  # fmt: skip


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


def test_fig6b_loads_fig6a_shards_instead_of_training(tmp_path, monkeypatch):
    a = runner.run("fig6a", preset="quick", out=tmp_path, overrides=SMALL).results
    assert a.kernel_distance.dims == ("network", "alpha", "seed", "step")

    def refuse(*args, **kwargs):
        raise AssertionError("fig6b trained again")

    monkeypatch.setattr(_vision, "seed_runs", refuse)
    b = runner.run("fig6b", preset="quick", out=tmp_path, overrides=SMALL).results
    np.testing.assert_array_equal(
        b.test_accuracy.values, a.test_accuracy.sel(network="cnn").isel(step=-1).values
    )
    assert b.total_variation.dims == ("alpha", "seed")
    with pytest.raises(AssertionError, match="trained again"):  # other settings: new runs
        runner.run("fig6b", preset="quick", out=tmp_path, overrides={**SMALL, "steps": 4},
                   overwrite=True)  # fmt: skip


@pytest.mark.parametrize("name", ["fig6a", "fig6b"])
def test_the_paper_path_runs_on_fake_local_files(tmp_path, name):
    data = tmp_path / "data"
    data.mkdir()
    (_write_cifar if name == "fig6a" else _write_mnist)(data)
    alphas = (1.0,) if name == "fig6a" else (1.0, 3.0)  # a ResNet's eNTK costs: one α there
    tiny = {"data_dir": str(data), "seeds": (0,), "alphas": alphas, "steps": 1,
            "resnet_width": 2, "cnn_width": 2, "probe_points": 2, "device": "cpu"}  # fmt: skip
    outcome = runner.run(name, preset="paper", overrides=tiny)  # in memory (tiny: drawn)
    config = experiments.get(name).config_of(outcome.results)
    assert config.dataset == ("cifar10" if name == "fig6a" else "mnist")
    claims = experiments.get(name).claims(outcome.results, config)
    assert claims and all(c.verdict.value in ("holds", "fails", "not measured") for c in claims)
    with pytest.raises(ValueError, match=r"data_dir .* is not a directory"):
        runner.run(name, preset="paper", overrides={**tiny, "data_dir": str(tmp_path / "missing")})
