"""fig6c and fig6d: resumable shards, censored runs kept, claims on hand-made results."""

import dataclasses

import numpy as np
import pytest
import torch
import xarray as xr

from richlazy import experiments
from richlazy.experiments.claims import Verdict
from richlazy.experiments.section5 import fig6c, fig6d
from richlazy.store import RunDirectory
from richlazy.sweeps import RunContext

pytestmark = pytest.mark.usefixtures("single_thread")


def test_fig6c_reruns_reuse_every_finished_shard(tmp_path, monkeypatch):
    config = experiments.get("fig6c").configure("smoke", {"seeds": (0,)})
    directory = RunDirectory(tmp_path, "fig6c")
    directory.prepare(dataclasses.asdict(config))
    first = fig6c.run(config, RunContext(directory=directory))
    assert directory.finished_shards() == ["seed-0-P-32", "seed-0-P-64"]
    assert first.test_accuracy.dims == ("alpha", "train_size", "seed")
    assert first.sample_complexity.dims == ("alpha", "seed")

    def refuse(*args, **kwargs):
        raise AssertionError("a shard was recomputed")

    monkeypatch.setattr(fig6c, "shard_results", refuse)
    again = fig6c.run(config, RunContext(directory=RunDirectory(tmp_path, "fig6c")))
    np.testing.assert_array_equal(first.test_accuracy.values, again.test_accuracy.values)


@pytest.mark.parametrize("threshold", [0.95, 0.01])
def test_fig6d_keeps_censored_runs_and_stops_the_others(threshold):
    config = experiments.get("fig6d").configure(
        "quick",
        dict(alphas=(1.0, 2.0), seeds=(0,), p=7, fraction=0.5, d_model=8, n_heads=2, d_mlp=16,
             lr=3e-2, weight_decay=0.0, max_steps=200, eval_every=20, threshold=threshold),
    )  # fmt: skip
    results = fig6d.run(config, RunContext())
    assert results.train_accuracy.dims == ("alpha", "seed", "step")
    censored = results.censored.values
    steps = results.steps_to_generalize.values
    assert np.array_equal(np.isnan(steps), censored)  # NaN exactly where censored
    assert np.isfinite(results.steps_to_memorize.values).all()  # the table is memorized
    assert not results.diverged.any()
    # 95% is out of reach of 24 training pairs in 200 steps; 1% is passed at once
    assert censored.all() if threshold > 0.5 else not censored.any()
    for i in range(2):  # a run that generalized stopped there: NaN after its step
        if not censored[i, 0]:
            after = results.step.values > steps[i, 0]
            assert after.any() and np.isnan(results.test_accuracy.values[i, 0, after]).all()


def _grokking(steps: np.ndarray) -> xr.Dataset:
    """Hand-made fig6d results: steps (alpha, seed) with NaN for censored runs."""
    return xr.Dataset(
        {
            "steps_to_generalize": (("alpha", "seed"), steps),
            "censored": (("alpha", "seed"), np.isnan(steps)),
        },
        coords={"alpha": [1.0, 4.0], "seed": [0, 1, 2]},
    )


def test_fig6d_claims_count_censored_runs_as_later_than_any():
    config = fig6d.EXPERIMENT.configure("quick", {"threshold": 0.95, "max_steps": 1000})
    verdicts = lambda steps: [c.verdict for c in fig6d.claims(_grokking(steps), config)]  # noqa: E731
    sooner = np.array([[500.0, np.nan, 800.0], [300.0, 900.0, 700.0]])
    assert verdicts(sooner) == [Verdict.HOLDS, Verdict.HOLDS]
    later = np.array([[500.0, 600.0, 800.0], [300.0, np.nan, np.nan]])
    assert verdicts(later) == [Verdict.FAILS, Verdict.FAILS]
    never = np.full((2, 3), np.nan)
    assert verdicts(never) == [Verdict.NOT_MEASURED, Verdict.NOT_MEASURED]


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        ("fig6c", {"alphas": (4.0, 16.0)}, r"alphas must include 1"),
        ("fig6c", {"train_sizes": (10000, 20000)}, r"exceeds the 17496 distinct inputs"),
        ("fig6c", {"error_fraction": 1.5}, r"error_fraction must be in \(0, 1\)"),
        ("fig6d", {"p": 1}, r"p must be an integer"),
        ("fig6d", {"fraction": 1.0}, r"fraction must be in \(0, 1\)"),
        ("fig6d", {"max_steps": 3010}, r"must be a multiple of eval_every"),
        ("fig6d", {"device": "tpu"}, r"device must be one of auto, cpu, cuda"),
    ],
)
def test_bad_section5_options_are_refused(name, overrides, message):
    with pytest.raises(ValueError, match=message):
        experiments.get(name).configure("quick", overrides)


def test_fig6c_trains_the_same_runs_vectorized_as_one_by_one(monkeypatch):
    """The GPU path (vectorize=True) with runs stopping at different steps, on the CPU.

    In float64 (data and models): float32 results of the two paths take different kernels, whose
    rounding the ReLU kinks amplify differently on different CPUs (AVX2 vs AVX-512), so only
    float64, where the two paths are bitwise equal, gives a comparison that holds everywhere.
    """
    import richlazy.data.hierarchy as hierarchy

    float32_one_hot = hierarchy.one_hot
    monkeypatch.setattr(hierarchy, "one_hot", lambda s, v: float32_one_hot(s, v).astype(float))
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        shards = {}
        for vectorize in (True, False):
            config = fig6c.Config(
                alphas=(1.0, 16.0), train_sizes=(64, 128), seeds=(0,), width=16, n_test=200,
                max_steps=300, vectorize=vectorize, device="cpu",
            )  # fmt: skip
            shards[vectorize] = fig6c.shard_results(config, 0, 64)
    finally:
        torch.set_default_dtype(previous)
    stops = shards[True].epochs.values.ravel().tolist()
    assert len(set(stops)) == 2  # the runs stop at different steps
    xr.testing.assert_identical(shards[True], shards[False])
