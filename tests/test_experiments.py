"""Every registered experiment: a run of its smoke preset, its figures and its measured claims.

A new experiment is tested here by being registered (with its "smoke" preset)."""

import dataclasses
import json

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure

from richlazy import experiments
from richlazy.experiments import runner
from richlazy.experiments.claims import Verdict
from richlazy.experiments.settings import value_text
from richlazy.store import RunDirectory
from test_claims import assert_claims_follow_rules


@pytest.mark.parametrize("name", experiments.names())
def test_every_experiment_runs_plots_and_summarizes(name, tmp_path):
    outcome = runner.run(name, preset="smoke", out=tmp_path)
    assert outcome.results.attrs["experiment"] == name
    assert outcome.figures and all(path.exists() for path in outcome.figures)
    assert all(isinstance(value, str) for value in outcome.headline.values())
    experiment = experiments.get(name)
    config = experiment.config_of(outcome.results)
    assert config == experiment.presets["smoke"]  # the stored config, typed again
    claims = experiment.claims(outcome.results, config)  # decided, or saying why not
    assert claims and all(c.verdict is not Verdict.NOT_MEASURED or c.note for c in claims)
    assert_claims_follow_rules(experiment, claims)  # each from one declared rule
    if name in ("fig2", "fig3", "fig4a", "fig4b", "fig7", "fig8", "deep-linear"):
        assert {c.verdict for c in claims} == {Verdict.HOLDS}  # closed forms: any size
    redrawn = runner.redraw(name, tmp_path, tmp_path / "again")
    assert all(path.exists() for path in redrawn.figures)
    assert runner.run(name, preset="smoke", out=tmp_path).reused


def test_every_experiment_has_quick_paper_and_smoke_presets_listed_unimported():
    for name in experiments.names():
        presets = experiments.get(name).presets
        assert {"quick", "paper", "smoke"} <= set(presets)
        assert experiments.preset_names(name) == tuple(presets)  # read from the source


def test_a_module_without_literal_presets_is_refused(tmp_path, monkeypatch):
    (tmp_path / "computed_presets.py").write_text("PRESETS = dict(quick=1)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(
        experiments._REGISTRY, "computed", experiments.Listing("computed_presets", "F", "s")
    )
    with pytest.raises(ValueError, match="declares no PRESETS"):
        experiments.preset_names("computed")


@pytest.mark.parametrize("name", experiments.names())
def test_every_preset_config_survives_its_round_trip_through_json(name):
    """What the runner stores (config.json, the results' attribute) gives the same typed config
    back: tuples stay tuples, ints ints."""
    experiment = experiments.get(name)
    for preset, config in experiment.presets.items():
        stored = xr.Dataset(attrs={"preset": preset})
        again = experiment.config_of(experiment.labeled(stored, config))
        assert again == config and type(again) is type(config)
        for field in dataclasses.fields(config):
            value, back = getattr(config, field.name), getattr(again, field.name)
            assert type(back) is type(value) or isinstance(value, float | np.floating), field.name
        record = {
            "preset": preset,
            **json.loads(experiment.labeled(stored, config).attrs["config"]),
        }
        assert experiment.config_from(record) == config  # config.json's form


def test_results_without_a_config_attribute_need_the_record():
    experiment = experiments.get("fig3")
    with pytest.raises(ValueError, match="no config attribute"):
        experiment.config_of(xr.Dataset())
    record = {"preset": "quick", "time_points": 7, "beta_star": [0.0, 2.0]}
    config = experiment.config_of(xr.Dataset(), record)
    assert config.time_points == 7 and config.beta_star == (0.0, 2.0)
    # "inf" as to_json writes it reads back as a float: here refused by t_max's own check
    with pytest.raises(ValueError, match="t_max must be finite"):
        experiment.config_from({"t_max": "inf"})
    with pytest.raises(ValueError, match="does not have: x"):
        experiment.config_from({**record, "x": [1.0, 0.0]})  # another experiment's record
    with pytest.raises(ValueError, match="results of fig4b, not of fig3"):
        experiment.config_of(xr.Dataset(attrs={"experiment": "fig4b"}), record)


def test_results_stored_without_their_config_are_redrawn_from_config_json(tmp_path):
    runner.run("fig3", preset="smoke", out=tmp_path)
    store = RunDirectory(tmp_path, "fig3")
    results = store.load_results()
    del results.attrs["config"]  # as stored before the results kept their config
    store.save_results(results, seconds=0.0)
    redrawn = runner.redraw("fig3", tmp_path, tmp_path / "again")
    assert redrawn.figures and all(path.exists() for path in redrawn.figures)
    assert redrawn.headline == runner.summarize("fig3", tmp_path).headline


def test_unknown_names_presets_and_options_are_refused():
    with pytest.raises(ValueError, match="choose from"):
        experiments.get("fig99")
    with pytest.raises(ValueError, match="unknown preset"):
        experiments.get("fig3").configure("huge")
    with pytest.raises(ValueError, match="no option"):
        experiments.get("fig3").configure("quick", {"learning_rate": 1.0})
    with pytest.raises(ValueError, match="time_points"):
        experiments.get("fig3").configure("quick", {"time_points": 1})


def test_settings_are_read_with_the_type_their_field_declares():
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
        (["steps=1.5"], "steps takes an integer"),
        (["seeds=0,x"], "seeds takes an integer"),
        (["lr_per_tau2=maybe"], "lr_per_tau2 takes true or false"),
        (["nope=1"], "has no option nope"),
        (["seeds=0,,1"], "comma-separated values"),
        (["steps=5", "steps=6"], "set twice"),
    ]:
        with pytest.raises(ValueError, match=message):
            fig1b.parse_settings("quick", texts)
    # fixed-length vectors take exactly their length; lists of vectors semicolon-separated
    assert experiments.get("fig3").parse_settings("quick", ["beta_star=1,2"]) == {
        "beta_star": (1.0, 2.0)
    }
    with pytest.raises(ValueError, match="exactly 2"):
        experiments.get("fig3").parse_settings("quick", ["beta_star=1"])
    assert experiments.get("fig8").parse_settings("quick", ["directions=1,1; 0,-1"]) == {
        "directions": ((1.0, 1.0), (0.0, -1.0))
    }
    with pytest.raises(ValueError, match="exactly 2"):
        experiments.get("fig8").parse_settings("quick", ["directions=1,1,1"])


def test_optional_options_take_their_type_or_none_whatever_the_preset_holds():
    """The type comes from the field's annotation: an ``int | None`` whose preset value is None
    takes integers, a ``bool | None`` takes true/false/none and nothing else."""
    fig1a = experiments.get("fig1a")
    assert fig1a.parse_settings("quick", ["teacher_seed=15"]) == {"teacher_seed": 15}
    assert fig1a.parse_settings("paper", ["teacher_seed=None"]) == {"teacher_seed": None}
    with pytest.raises(ValueError, match="teacher_seed takes an integer or none"):
        fig1a.parse_settings("paper", ["teacher_seed=fifteen"])
    with pytest.raises(ValueError, match="teacher_seed must be an integer, got str"):
        fig1a.configure("paper", {"teacher_seed": "15"})
    for name in ("fig6c", "fig6d"):
        experiment = experiments.get(name)
        for text, value in [("false", False), ("True", True), ("none", None)]:
            assert experiment.parse_settings("quick", [f"vectorize={text}"]) == {"vectorize": value}
            assert experiment.configure("quick", {"vectorize": value}).vectorize is value
        for text in ("0", "no", "maybe", ""):
            with pytest.raises(ValueError, match="vectorize takes true or false or none"):
                experiment.parse_settings("quick", [f"vectorize={text}"])
        with pytest.raises(ValueError, match="vectorize must be True or False, got str"):
            experiment.configure("quick", {"vectorize": "false"})


@pytest.mark.parametrize("name", experiments.names())
def test_every_option_is_set_from_text_to_its_preset_value(name):
    """Each option of each preset, written as text (``settings.value_text``) and read back by
    ``--set``, configures the preset's own value; and ``settings_of`` lists what differs."""
    experiment = experiments.get(name)
    for preset, config in experiment.presets.items():
        for field in dataclasses.fields(config):
            value = getattr(config, field.name)
            text = f"{field.name}={value_text(value)}"
            parsed = experiment.parse_settings(preset, [text])
            assert getattr(experiment.configure(preset, parsed), field.name) == value, text
        assert experiment.settings_of(preset, config) == []
        other = next(p for p in experiment.presets if p != preset)
        texts = experiment.settings_of(other, config)
        assert experiment.configure(other, experiment.parse_settings(other, texts)) == config


def test_single_neuron_figures_confirm_the_theory():
    """Closed form vs simulation ≤ 1e-8; theory endpoints; basins split (docs/theory.md §2)."""
    for name in ("fig2", "fig3", "fig8"):
        results = runner.run(name, preset="smoke").results
        assert float(results.relative_error.max()) <= 1e-8
    fig4b = runner.run("fig4b").results
    assert float(fig4b.interpolant_error.max()) <= 1e-8
    fig7 = runner.run("fig7", preset="smoke").results
    final = np.sign(fig7.a_simulated.isel(t=-1))
    assert bool((final.sel(side=1.0) != final.sel(side=-1.0)).all())


def test_linear_network_figures_confirm_the_theory():
    """Theorem 4.2 (function = parameter space), ℓ1 → ℓ2 bias, and who moves first
    (docs/theory.md §3–4)."""
    wide = runner.run("wide-linear", preset="smoke").results
    assert float(wide.relative_error.max()) <= 1e-8
    assert set(wide.hidden_width.values) == {4, 6, 2}  # h = d, any h, h = c
    assert float(wide.distance_to_l1[0]) <= 1e-3  # δ → 0: the minimum-ℓ1 interpolant
    assert float(wide.distance_to_l2[-1]) <= 1e-9  # |δ| → ∞: the minimum-ℓ2 interpolant
    deep = runner.run("deep-linear", preset="smoke").results
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
    outcome = runner.run("fig3", preset="smoke")
    figures = experiments.get("fig3").plot(
        outcome.results, experiments.get("fig3").presets["smoke"]
    )
    assert all(isinstance(figure, Figure) for figure in figures.values())
