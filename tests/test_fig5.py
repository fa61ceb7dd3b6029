"""Figure 5 (XOR, two-layer ReLU): a small run, its figures, and the claims it measures."""

import numpy as np
import pytest
import xarray as xr

from richlazy.experiments import runner
from richlazy.experiments.two_layer import fig5

# Rich (τ = 0.01) and lazy (τ = 1) ends of the quick grid, δ ∈ {−1, 0, 1}: about a second.
SMALL = {
    "taus": (0.01, 0.1, 1.0),
    "deltas": (-1.0, 0.0, 1.0),
    "seeds": (0, 1),
    "steps": 2500,
    "grid_points": 21,
    "panels": 3,
}
RICH, LAZY = 0.01, 1.0


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    return runner.run("fig5", preset="quick", out=tmp_path_factory.mktemp("fig5"), overrides=SMALL)


@pytest.fixture(scope="module")
def final(outcome):
    """Seed-mean metrics at the last checkpoint, by init name."""
    results = outcome.results
    mean = results.isel(step=-1).mean("seed")
    return {
        "balanced": mean.sel(tau=RICH, delta=0.0),
        "upstream": mean.sel(tau=RICH, delta=1.0),
        "downstream": mean.sel(tau=RICH, delta=-1.0),
        "lazy": mean.sel(tau=LAZY, delta=0.0),
    }


def test_run_writes_results_figures_and_headline(outcome):
    results = outcome.results
    assert {"fig5_surfaces", "fig5_grid", "fig5_mechanism"} == {p.stem for p in outcome.figures}
    assert all(path.exists() for path in outcome.figures)
    assert (outcome.directory / "results.zarr").exists()
    assert dict(results.surface.sizes) == {
        "init": 4,
        "seed": 2,
        "step": results.step.size,
        "x2": 21,
        "x1": 21,
    }
    assert list(results.init.values) == ["balanced rich", "upstream rich", "downstream", "lazy"]
    assert all(isinstance(value, str) for value in outcome.headline.values())
    assert int(results.diverged.sum()) == 0
    reopened = xr.open_zarr(outcome.directory / "results.zarr")
    config = fig5.EXPERIMENT.config_of(reopened)  # the results say how they were made
    assert set(fig5.plot(reopened, config)) == {"fig5_surfaces", "fig5_grid", "fig5_mechanism"}


def test_every_cell_fits_xor(outcome):
    assert float(outcome.results.train_loss.isel(step=-1).max()) <= 1e-8  # measured ≤ 2e-29


def test_rich_learning_changes_patterns_with_small_parameter_change(final):
    """Rich cells flip ~10 neurons' patterns; lazy ≤ 0.5; upstream moves parameters least."""
    for name in ("balanced", "upstream"):
        assert float(final[name].hamming_distance) >= 5.0  # measured 10–12.5
    assert float(final["lazy"].hamming_distance) <= 1.0  # measured 0–0.5
    assert float(final["downstream"].hamming_distance) <= 1.0  # fixed features: measured ≤ 0.5

    def ratio(name):
        return float(final[name].hamming_distance / final[name].parameter_distance)

    assert ratio("upstream") >= 10 * ratio("lazy")  # measured 26 vs ≤ 1
    assert ratio("balanced") >= 2 * ratio("lazy")  # measured 5 vs ≤ 1
    # Upstream changes as many patterns as balanced with a fraction of the parameter change.
    assert float(final["upstream"].parameter_distance) <= 0.5 * float(
        final["balanced"].parameter_distance
    )  # measured 0.41 vs 2.30
    assert float(final["upstream"].hamming_distance) >= 0.7 * float(
        final["balanced"].hamming_distance
    )


def test_lazy_kernel_stays_put_rich_kernel_moves(final):
    lazy = float(final["lazy"].kernel_distance)
    assert lazy <= 1e-3  # measured 1e-7 to 2e-4
    for name in ("balanced", "upstream"):
        rich = float(final[name].kernel_distance)
        assert rich >= 0.01 and rich >= 30 * lazy  # measured 0.05–0.13


def test_upstream_learns_fastest_at_small_scale(outcome):
    results = outcome.results
    times = fig5.fit_time(results, level=1e-3).mean("seed").sel(tau=RICH)
    upstream, balanced, downstream = (float(times.sel(delta=d)) for d in (1.0, 0.0, -1.0))
    assert upstream <= 0.6 * downstream  # measured 0.11 vs 0.32–0.51
    assert upstream <= 0.1 * balanced  # measured 0.11 vs 3.5
    hamming = results.hamming_distance.min("seed").sel(tau=RICH)
    first = {d: int(results.step[np.argmax(hamming.sel(delta=d).values >= 5)]) for d in (0, 1)}
    assert bool((hamming.sel(delta=1.0) >= 5).any()) and first[1] <= first[0]


def test_rich_surfaces_are_piecewise_linear_xor_lazy_ones_kernel_interpolants(outcome):
    """Rich ends at f* = sign(x1x2)min(|x1|, |x2|); lazy and downstream at the init-NTK one."""
    to_xor = fig5.xor_gap(outcome.results).mean("seed")
    to_kernel = fig5.interpolant_gap(outcome.results).mean("seed")
    assert float(to_xor.sel(init="balanced rich")) <= 1e-6  # measured 3e-15
    assert float(to_xor.sel(init="upstream rich")) <= 0.05  # measured ≤ 0.017
    for init in ("downstream", "lazy"):
        assert float(to_xor.sel(init=init)) >= 0.05  # measured 0.09–0.13
        assert float(to_kernel.sel(init=init)) <= 0.05  # measured ≤ 0.022
    for init in ("balanced rich", "upstream rich"):
        assert float(to_kernel.sel(init=init)) >= 3 * float(to_kernel.sel(init="lazy"))


def test_kernel_interpolant_depends_on_geometry_not_scale(outcome):
    """Balanced inits differ only by τ, which scales the NTK by τ²: the same interpolant."""
    kernel = outcome.results.kernel_surface
    np.testing.assert_allclose(
        kernel.sel(init="balanced rich"), kernel.sel(init="lazy"), rtol=1e-8, atol=1e-10
    )


def test_fit_time_interpolates_between_checkpoints():
    loss = xr.DataArray(
        [[[[1.0, 1.0, 1e-2, 1e-4], [1.0, 0.5, 0.5, 0.5]]]],
        dims=("tau", "delta", "seed", "step"),
        coords={"tau": [0.1], "delta": [0.0], "seed": [0, 1], "step": [0, 1, 10, 100]},
    ).transpose("tau", "delta", "seed", "step")
    results = xr.Dataset({"train_loss": loss, "time": loss * 0 + loss.step})
    times = fig5.fit_time(results, level=1e-3)
    assert float(times.sel(seed=0).squeeze()) == pytest.approx(
        10**1.5
    )  # loss ∝ t⁻² between 10 and 100
    assert np.isnan(float(times.sel(seed=1).squeeze()))  # never fitted


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"deltas": (-1.0, 1.0)}, "deltas must hold 0"),
        ({"deltas": (0.0, 1.0)}, "deltas must hold 0"),
        ({"taus": (0.1,)}, "at least 2"),
        ({"grid_points": 1}, "grid_points"),
        ({"fit_loss": 1.0}, "fit_loss"),
        ({"width": 3}, "even"),
    ],
)
def test_bad_configs_are_refused(overrides, match):
    with pytest.raises(ValueError, match=match):
        fig5.EXPERIMENT.configure("quick", overrides)
