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


# Figure 1a as published (docs/theory.md §5.1): the paper preset's draw, a few GD steps.
PUBLISHED_STEPS = {"steps": 30}


@pytest.fixture(scope="module")
def published():
    return runner.run("fig1a", preset="paper", overrides=PUBLISHED_STEPS).results


def _config():
    from richlazy import experiments

    return experiments.get("fig1a").configure("paper", PUBLISHED_STEPS)


def test_fig1a_paper_preset_is_the_notebook_setting():
    from richlazy.experiments.two_layer import fig1a

    config = fig1a.PRESETS["paper"]
    assert config.seeding == "reference" and config.teacher_seed == 15 and config.seeds == (100,)
    assert (config.d, config.n, config.width) == (2, 20, 50)
    assert (config.method, config.lr, config.lr_per_tau2, config.steps) == (
        "gd",
        1e-4,
        False,
        10**6,
    )
    assert config.taus == (0.1, 2.0) and config.deltas == (-0.9999, 0.0, 0.9999)
    # The notebook's cells (τ, δ): rich, lazy, upstream, downstream; δ = τ²(α_ref⁻² − α_ref²).
    cells = {(tau, delta) for tau in config.taus for delta in config.deltas}
    for tau, ratio in ((0.1, 1), (2, 1), (0.1, 0.1), (0.1, 10)):
        delta = tau**2 * (1 / ratio**2 - ratio**2)
        assert any(t == tau and abs(d - delta) <= 1e-15 for t, d in cells)
    # Flow time of the run (docs/theory.md §0): 2·lr·steps/n = 10.
    assert 2 * config.lr * config.steps / config.n == pytest.approx(10.0)


def test_fig1a_teacher_seed_needs_reference_seeding():
    from richlazy.experiments.two_layer.fig1a import Config

    with pytest.raises(ValueError, match=r"^teacher_seed .*seeding 'reference'"):
        Config(teacher_seed=15)
    with pytest.raises(ValueError, match=r"^teacher_seed"):
        Config(seeding="reference", teacher_seed=-1)
    with pytest.raises(TypeError, match=r"^teacher_seed"):
        Config(seeding="reference", teacher_seed="15")


def _ray_directions(ax):
    """The dashed lines of an axes (the teacher's rays): unit directions and colours."""
    rays = [line for line in ax.lines if line.get_linestyle() == "--"]
    ends = np.array([line.get_xydata()[-1] for line in rays])  # (m0, 2)
    return ends / np.linalg.norm(ends, axis=1, keepdims=True), [line.get_color() for line in rays]


def test_fig1a_published_panels_draw_the_papers_cells_and_insets(published):
    from matplotlib.colors import to_rgba

    from richlazy.experiments.two_layer import fig1a

    fig = fig1a.plot(published, _config())["fig1a_published"]
    mains = [ax for ax in fig.axes if ax.child_axes]
    assert len(mains) == 2 and all(len(ax.child_axes) == 1 for ax in mains)
    readouts = published.teacher_readout.sel(seed=100).values  # (3,)
    directions = readouts[:, None] * published.teacher.sel(seed=100).values  # u_j: (3, 2)
    expected = {  # axes -> its cell (τ, δ)
        mains[0]: (0.1, 0.0),
        mains[0].child_axes[0]: (2.0, 0.0),
        mains[1]: (0.1, 0.9999),
        mains[1].child_axes[0]: (0.1, -0.9999),
    }
    for ax, (tau, delta) in expected.items():
        assert f"τ = {tau:g}," in ax.get_title()
        assert ax.get_title().endswith(f"δ = {delta:g})".replace("-", "−"))
        cell = published.sel(tau=tau, delta=delta, seed=100)
        # End points at the last checkpoint, blue where a_k ≥ 0 and red where a_k < 0.
        (points,) = ax.collections
        end = cell.scaled_weight.isel(step=-1).values  # (m, 2)
        assert np.array_equal(points.get_offsets(), end)
        positive = cell.readout.isel(step=-1).values >= 0
        colors = points.get_facecolors()[:, :3]
        assert np.allclose(colors[positive], to_rgba("tab:blue")[:3])
        assert np.allclose(colors[~positive], to_rgba("tab:red")[:3])
        # One path per neuron; the teacher's rays along u_j (not s_j u_j), coloured by s_j.
        assert sum(line.get_linestyle() == "-" for line in ax.lines) == 50 + 1  # + the circle
        rays, ray_colors = _ray_directions(ax)
        np.testing.assert_allclose(rays, directions, atol=1e-12)
        assert ray_colors == ["tab:red", "tab:red", "tab:blue"]
        low, high = ax.get_xlim()
        paths = cell.scaled_weight.values  # (C, m, 2)
        assert low < paths.min() and paths.max() < high and ax.get_ylim() == (low, high)
    # The existing per-cell figure draws the same teacher directions.
    for ax in fig1a.plot(published, _config())["fig1a"].axes:
        rays = [line for line in ax.lines if line.get_linestyle() == ":"]
        ends = np.array([line.get_xydata()[-1] for line in rays])
        np.testing.assert_allclose(ends / np.linalg.norm(ends, axis=1)[:, None], directions)


def _upstream_on(results, which):
    """``results`` with the upstream cell fitted and its neurons' final |a_k| w_k moved onto the
    direction of teacher neuron ``which(sign of a_k)``, keeping their norms."""
    results = results.copy(deep=True)
    teacher = results.teacher_readout.values[0][:, None] * results.teacher.values[0]  # (3, 2)
    cell = {"tau": 0.1, "delta": 0.9999, "seed": 100}
    end = results.scaled_weight.loc[cell].isel(step=-1).values  # (m, 2)
    signs = np.sign(results.readout.loc[cell].isel(step=-1).values)  # (m,)
    moved = np.linalg.norm(end, axis=1)[:, None] * teacher[[which(s) for s in signs]]
    results.scaled_weight.loc[cell][-1] = moved
    results.train_loss.loc[cell][-1] = 0.0
    return results


def test_fig1a_alignment_claim_matches_neurons_to_teacher_neurons_of_their_sign(published):
    from richlazy.experiments.claims import Verdict
    from richlazy.experiments.two_layer import fig1a

    def alignment(results):
        (claim,) = [
            c for c in fig1a.claims(results, _config()) if "striking alignment" in c.statement
        ]
        return claim

    # Teacher readouts (−1, −1, +1): a neuron with a_k > 0 can only match teacher neuron 2.
    on = alignment(_upstream_on(published, lambda s: 2 if s > 0 else 0))
    assert on.verdict == Verdict.HOLDS and float(on.measured) == pytest.approx(1.0)
    crossed = alignment(_upstream_on(published, lambda s: 0 if s > 0 else 2))
    assert crossed.verdict == Verdict.FAILS and float(crossed.measured) < 0
    # Results of an earlier version, without the readouts, cannot decide it; they still draw.
    older = published.drop_vars(["readout", "teacher_readout"])
    assert alignment(older).verdict == Verdict.NOT_MEASURED
    assert set(fig1a.plot(older, _config())) == {"fig1a", "fig1a_published"}
