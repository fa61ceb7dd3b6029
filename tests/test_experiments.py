"""Every registered experiment: a tiny-config smoke run, its figures and its measured claims."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from richlazy import experiments
from richlazy.experiments import runner
from richlazy.experiments.claims import Verdict

# Small but faithful overrides for a fast run of each experiment.
TINY: dict[str, dict] = {
    "fig1a": {"steps": 1000},
    "fig1b": {
        "taus": (0.1, 1.0),
        "deltas": (0.0, 1.0),
        "seeds": (0,),
        "d": 3,
        "n": 10,
        "n_test": 50,
        "width": 6,
        "steps": 100,
    },
    "fig2": {"time_points": 41},
    "fig3": {"time_points": 41},
    "fig4a": {"time_points": 61},
    "fig4b": {"time_points": 81},
    "fig5": {
        "taus": (0.01, 1.0),
        "deltas": (-1.0, 0.0, 1.0),
        "seeds": (0,),
        "steps": 1000,
        "grid_points": 11,
        "panels": 2,
    },
    "fig7": {"time_points": 121},
    "fig8": {"time_points": 41},
    "wide-linear": {"time_points": 41, "mode_time_points": 41, "bias_points": 5},
    "deep-linear": {"t_max": 30.0, "time_points": 41, "mode_time_points": 31},
    "drift": {
        "deltas": (-1.0, 1.0),
        "lr_multiples": (0.5, 1.0),
        "batch_sizes": (16, 4),
        "seeds": (0,),
        "d": 4,
        "n": 16,
        "n_test": 64,
        "width": 8,
        "steps": 20,
    },
}
TINY["fig10"] = {**TINY["fig1b"], "steps": 1000}  # Figure 1b's grid, ten times longer
_VISION = {"seeds": (0,), "alphas": (1.0, 10.0), "steps": 3, "cnn_width": 4, "mlp_width": 16,
           "mlp_depth": 2, "probe_points": 4, "evals_per_decade": 1}  # fmt: skip
TINY["fig6a"] = TINY["fig6b"] = _VISION
TINY["fig6c"] = {"alphas": (1.0, 4.0), "train_sizes": (32, 64), "seeds": (0, 1), "width": 8,
                 "n_test": 100, "max_steps": 20}  # fmt: skip
TINY["fig6d"] = {"alphas": (1.0, 2.0), "seeds": (0, 1), "p": 7, "fraction": 0.5, "d_model": 8,
                 "n_heads": 2, "d_mlp": 16, "max_steps": 40, "eval_every": 20}  # fmt: skip


@pytest.mark.parametrize("name", experiments.names())
def test_every_experiment_runs_plots_and_summarizes(name, tmp_path):
    outcome = runner.run(name, preset="quick", out=tmp_path, overrides=TINY.get(name, {}))
    assert outcome.results.attrs["experiment"] == name
    assert outcome.figures and all(path.exists() for path in outcome.figures)
    assert all(isinstance(value, str) for value in outcome.headline.values())
    claims = experiments.get(name).claims(outcome.results)  # decided, or saying why not
    assert claims and all(c.verdict is not Verdict.NOT_MEASURED or c.note for c in claims)
    assert len({c.statement for c in claims}) == len(claims)
    if name in ("fig2", "fig3", "fig4a", "fig4b", "fig7", "fig8", "deep-linear"):
        assert {c.verdict for c in claims} == {Verdict.HOLDS}  # closed forms: any size
    redrawn = runner.redraw(name, tmp_path, tmp_path / "again")
    assert all(path.exists() for path in redrawn.figures)
    assert runner.run(name, preset="quick", out=tmp_path, overrides=TINY.get(name, {})).reused


def test_every_experiment_has_quick_and_paper_presets():
    for name in experiments.names():
        assert {"quick", "paper"} <= set(experiments.get(name).presets)


def test_unknown_names_presets_and_options_are_refused():
    with pytest.raises(ValueError, match="choose from"):
        experiments.get("fig99")
    with pytest.raises(ValueError, match="unknown preset"):
        experiments.get("fig3").configure("huge")
    with pytest.raises(ValueError, match="no option"):
        experiments.get("fig3").configure("quick", {"learning_rate": 1.0})
    with pytest.raises(ValueError, match="time_points"):
        experiments.get("fig3").configure("quick", {"time_points": 1})


def test_settings_are_read_with_the_type_of_the_preset_value():
    fig1b = experiments.get("fig1b")
    texts = ["steps=100", "seeds=0,3", "taus=0.1, 1", "rtol=1e-4", "method=gf", "lr_per_tau2=False"]
    overrides = fig1b.parse_settings("quick", texts)
    assert overrides == {
        "steps": 100,
        "seeds": (0, 3),
        "taus": (0.1, 1.0),
        "rtol": 1e-4,
        "method": "gf",
        "lr_per_tau2": False,
    }
    assert type(overrides["seeds"][0]) is int and type(overrides["taus"][1]) is float
    config = fig1b.configure("quick", overrides)
    assert (config.steps, config.seeds, config.method) == (100, (0, 3), "gf")
    for texts, message in [
        (["steps"], "NAME=VALUE"),
        (["steps=1.5"], "steps takes int values"),
        (["seeds=0,x"], "seeds takes int values"),
        (["lr_per_tau2=maybe"], "lr_per_tau2 takes bool values"),
        (["nope=1"], "has no option nope"),
        (["seeds=0,,1"], "comma-separated values"),
        (["steps=5", "steps=6"], "set twice"),
    ]:
        with pytest.raises(ValueError, match=message):
            fig1b.parse_settings("quick", texts)
    # fixed-length vectors take exactly their length; lists of vectors are not settable
    assert experiments.get("fig3").parse_settings("quick", ["beta_star=1,2"]) == {
        "beta_star": (1.0, 2.0)
    }
    with pytest.raises(ValueError, match="exactly 2"):
        experiments.get("fig3").parse_settings("quick", ["beta_star=1"])
    with pytest.raises(ValueError, match="holds vectors"):
        experiments.get("fig8").parse_settings("quick", ["directions=1,1"])


def test_single_neuron_figures_confirm_the_theory():
    """Closed form vs simulation ≤ 1e-8; theory endpoints; basins split (docs/theory.md §2)."""
    for name in ("fig2", "fig3", "fig8"):
        results = runner.run(name, overrides=TINY[name]).results
        assert float(results.relative_error.max()) <= 1e-8
    fig4b = runner.run("fig4b").results
    assert float(fig4b.interpolant_error.max()) <= 1e-8
    fig7 = runner.run("fig7", overrides=TINY["fig7"]).results
    final = np.sign(fig7.a_simulated.isel(t=-1))
    assert bool((final.sel(side=1.0) != final.sel(side=-1.0)).all())


def test_linear_network_figures_confirm_the_theory():
    """Theorem 4.2 (function = parameter space), ℓ1 → ℓ2 bias, and who moves first
    (docs/theory.md §3–4)."""
    wide = runner.run("wide-linear", overrides=TINY["wide-linear"]).results
    assert float(wide.relative_error.max()) <= 1e-8
    assert set(wide.hidden_width.values) == {4, 6, 2}  # h = d, any h, h = c
    assert float(wide.distance_to_l1[0]) <= 1e-3  # δ → 0: the minimum-ℓ1 interpolant
    assert float(wide.distance_to_l2[-1]) <= 1e-9  # |δ| → ∞: the minimum-ℓ2 interpolant
    deep = runner.run("deep-linear", overrides=TINY["deep-linear"]).results
    assert float(deep.balanced_relative_error.max()) <= 1e-8
    for depth in deep.depth.values:
        for name in ("first_layer", "fastest_layer"):
            layer = deep[name].sel(depth=depth)
            assert int(layer.sel(init="upstream")) == 1  # upstream: W_1 moves first
            assert int(layer.sel(init="downstream")) == depth  # downstream: W_L moves first
        final = deep.relative_distance.sel(depth=depth, layer=slice(1, depth)).isel(t=-1)
        assert float(final.sel(init="upstream", layer=1)) > 5 * float(
            final.sel(init="upstream", layer=depth)
        )
        assert float(final.sel(init="downstream", layer=depth)) > 5 * float(
            final.sel(init="downstream", layer=1)
        )


def test_plot_returns_matplotlib_figures():
    results = runner.run("fig3", overrides=TINY["fig3"]).results
    figures = experiments.get("fig3").plot(results)
    assert all(isinstance(figure, Figure) for figure in figures.values())
