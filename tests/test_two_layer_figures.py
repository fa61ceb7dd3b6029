"""Figures 1a and 1b at reduced size: the paper's qualitative picture, measured
(docs/theory.md §5.1)."""

import numpy as np
import pytest

from richlazy.experiments import runner

# Figure 1b's corners: small and large τ, downstream / balanced / upstream, one seed, 1e4 steps.
PHASE = {
    "taus": (0.1, 2.0),
    "deltas": (-1.0, 0.0, 1.0),
    "seeds": (0,),
    "d": 10,
    "n": 100,
    "n_test": 1000,
    "lr": 2.5e-3,
    "steps": 10_000,
}


def test_fig1b_lazy_at_large_tau_rich_and_fastest_upstream_at_small_tau():
    results = runner.run("fig1b", overrides=PHASE).results.isel(seed=0)
    final = results.isel(step=-1)
    kd = final.kernel_distance
    # Lazy at large τ, rich at small τ, for every δ.
    assert float(kd.sel(tau=2.0).max()) < 0.01
    assert float(kd.sel(tau=0.1).min()) > 10 * float(kd.sel(tau=2.0).max())
    small = final.sel(tau=0.1)
    # Upstream learns features fastest and generalizes best at small τ.
    early = results.kernel_distance.sel(tau=0.1, step=1000)
    assert float(early.sel(delta=1.0)) > 2 * float(early.sel(delta=-1.0))
    assert float(small.test_loss.sel(delta=1.0)) < 0.5 * float(small.test_loss.sel(delta=-1.0))
    # Rich learning = activation patterns change much more per unit of parameter movement.
    ratio = final.hamming_distance / final.parameter_distance
    assert float(ratio.sel(tau=0.1, delta=1.0)) > 5 * float(ratio.sel(tau=2.0, delta=1.0))
    assert not bool(results.diverged.any())
    assert float(final.conservation_drift.max()) < 1e-2  # GD nearly conserves δ_k


def test_fig1a_neurons_align_in_the_rich_regime_and_stay_put_when_lazy():
    results = runner.run("fig1a", overrides={"steps": 5000}).results.isel(seed=0)
    paths = results.scaled_weight  # (tau, delta, step, neuron, component)
    moved = np.linalg.norm(paths.isel(step=-1) - paths.isel(step=0), axis=-1).mean(-1)
    size = np.linalg.norm(paths.isel(step=0), axis=-1).mean(-1)
    relative = moved / size  # (tau, delta): mean relative displacement of |a_k| w_k
    taus = list(results.tau.values)
    small, large = taus.index(0.1), taus.index(2.0)
    deltas = list(results.delta.values)
    balanced = deltas.index(0.0)
    assert relative[small, balanced] > 10 * relative[large, balanced]
    final = results.isel(step=-1)
    assert float(final.kernel_distance.sel(tau=0.1, delta=0.0)) > 10 * float(
        final.kernel_distance.sel(tau=2.0, delta=0.0)
    )


SMALL = {
    "taus": (0.1, 1.0),
    "deltas": (0.0, 1.0),
    "seeds": (0, 1, 2),
    "d": 3,
    "n": 10,
    "n_test": 50,
    "width": 6,
    "steps": 100,
}


def test_interrupted_sweep_resumes_without_recomputing_finished_seeds(tmp_path, monkeypatch):
    from richlazy import sweeps

    complete = runner.run("fig1b", overrides=SMALL).results
    real = sweeps.two_layer.train_cells
    trained = []

    def interrupted(config, dataset, seed, progress=None, **options):
        if seed == 2:
            raise KeyboardInterrupt  # as if killed while the last seed trains
        trained.append(seed)
        return real(config, dataset, seed, progress, **options)

    monkeypatch.setattr(sweeps.two_layer, "train_cells", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.run("fig1b", out=tmp_path, overrides=SMALL)
    assert trained == [0, 1]
    assert not (tmp_path / "fig1b" / "results.zarr").exists()  # nothing half-finished
    assert sorted(p.name for p in (tmp_path / "fig1b" / "shards").iterdir()) == [
        "seed-0.zarr",
        "seed-1.zarr",
    ]

    trained.clear()

    def counting(config, dataset, seed, progress=None, **options):
        trained.append(seed)
        return real(config, dataset, seed, progress, **options)

    monkeypatch.setattr(sweeps.two_layer, "train_cells", counting)
    resumed = runner.run("fig1b", out=tmp_path, overrides=SMALL)
    assert trained == [2]  # only the unfinished seed is trained again
    for name in ("test_loss", "kernel_distance", "hamming_distance"):
        np.testing.assert_allclose(resumed.results[name], complete[name], rtol=1e-12)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"taus": (0.0, 1.0)}, "taus"),
        ({"deltas": (float("nan"),)}, "deltas"),
        ({"width": 5}, "width"),
        ({"method": "rk4"}, "method"),
        ({"dtype": "float16"}, "dtype"),
        ({"lr": -1.0}, "lr"),
        ({"taus": (1.0, 0.1)}, "taus must be strictly increasing"),
        ({"deltas": (0.0, 0.0)}, "deltas must be strictly increasing"),
        ({"seeds": (0, 0)}, "each once"),
        ({"steps": 1.5}, "steps must be an integer"),
        ({"width": 4.0}, "width must be an integer"),
    ],
)
def test_bad_grid_settings_are_refused_before_anything_is_written(tmp_path, override, message):
    with pytest.raises(ValueError, match=message):
        runner.run("fig1b", out=tmp_path, overrides={**SMALL, **override})
    assert not (tmp_path / "fig1b").exists()


def test_gradient_flow_and_descent_grids_agree():
    """The adaptive stepper reproduces GD's metrics on a sweep (reference lr, same time)."""
    # GD close to its flow: h·λ_max(NTK) ≈ 0.02 at τ = 0.1.
    small_steps = {**SMALL, "seeds": (0,), "lr": 2e-5, "steps": 20_000}
    gd = runner.run("fig1b", overrides=small_steps).results
    gf = runner.run("fig1b", overrides={**small_steps, "method": "gf", "rtol": 1e-6}).results
    for name in ("train_loss", "kernel_distance"):
        # GD lags its flow by O(h): a few percent where the loss drops by 50x within a checkpoint.
        np.testing.assert_allclose(gf[name], gd[name], rtol=5e-2, atol=1e-5)
