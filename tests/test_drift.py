"""The drift experiment: SGD and finite steps against the conservation laws (docs/theory.md §7)."""

import dataclasses

import numpy as np
import pytest

from richlazy import experiments
from richlazy.experiments.claims import Verdict
from richlazy.experiments.two_layer import drift
from richlazy.store import RunDirectory
from richlazy.sweeps import RunContext

# the smoke preset with three rates and twice its steps
LONGER = {"lr_multiples": (0.25, 0.5, 1.0), "steps": 40}


def tiny(**changes):
    return drift.EXPERIMENT.configure("smoke", {**LONGER, **changes})


def test_a_tiny_config_runs_end_to_end():
    config = tiny()
    results = drift.run(config, RunContext())
    assert set(results.conservation_drift.dims) == {
        "delta",
        "lr_multiple",
        "batch_size",
        "seed",
        "step",
    }
    assert set(results.flow_kernel_distance.dims) == {"delta", "seed", "step"}
    # every rate reaches the same flow time: lr · steps is constant
    assert results.sgd_steps.isel(step=-1).values.tolist() == [160, 80, 40]
    assert np.allclose(results.time[-1], 40 * config.lr_reference)
    assert float(results.conservation_drift.isel(step=0).max()) == 0.0
    figures = drift.plot(results, config)
    assert set(figures) == {"drift", "drift_regime"}
    assert all(isinstance(v, str) for v in drift.headline(results, config).values())
    assert len(drift.claims(results, config)) == 3


def test_flow_conserves_and_drift_grows_with_the_rate():
    config = tiny(batch_sizes=(16,), flow_refine=8)
    results = drift.run(config, RunContext())
    scale = np.sqrt(results.delta**2 + 4 * 0.1**4)
    flow = float((results.flow_conservation_drift / scale).max())
    assert flow <= drift.FLOW_BOUND
    final = results.conservation_drift.isel(step=-1, batch_size=0, seed=0)  # (delta, lr)
    assert not results.diverged.any()
    assert np.all(np.diff(final.transpose("delta", "lr_multiple").values, axis=-1) > 0)
    assert float(final.min()) > 10 * flow * float(scale.max())  # SGD drift well above the flow
    verdicts = {c.statement: c.verdict for c in drift.claims(results, config)}
    assert verdicts[next(s for s in verdicts if "learning rate" in s)] is Verdict.HOLDS


def test_a_rerun_reuses_the_finished_shard(tmp_path, monkeypatch):
    config = tiny(lr_multiples=(1.0,), batch_sizes=(16,))
    directory = RunDirectory(tmp_path, "drift")
    directory.prepare(dataclasses.asdict(config))
    first = drift.run(config, RunContext(directory=directory))
    assert directory.finished_shards() == ["seed-0"]

    def refuse(*args, **kwargs):
        raise AssertionError("the shard was recomputed")

    monkeypatch.setattr(drift, "seed_results", refuse)
    again = drift.run(config, RunContext(directory=RunDirectory(tmp_path, "drift")))
    np.testing.assert_array_equal(first.kernel_distance.values, again.kernel_distance.values)


@pytest.mark.parametrize(
    ("overrides", "option"),
    [
        ({"batch_sizes": (16, 5)}, "batch_sizes"),
        ({"lr_multiples": (0.3, 1.0)}, "lr_multiples"),
        ({"lr_multiples": (-1.0,)}, "lr_multiples"),
        ({"steps": 0}, "steps"),
        ({"width": 7}, "width"),
        ({"tau": 0.0}, "tau"),
        ({"seeds": (0, 0)}, "seeds"),
    ],
)
def test_bad_config_is_refused_naming_the_option(overrides, option):
    with pytest.raises(ValueError, match=option):
        drift.EXPERIMENT.configure("smoke", {**LONGER, **overrides})


def test_registered_last_with_its_presets():
    assert experiments.names()[-1] == "drift"
    assert experiments.preset_names("drift") == tuple(drift.PRESETS)
