"""Claims as data: the builders apply the rule they print, and verdicts follow the data."""

import math

import pytest

from richlazy import experiments
from richlazy.experiments import runner
from richlazy.experiments.claims import (
    AGREEMENT,
    Claim,
    Verdict,
    agrees,
    at_least,
    at_most,
    decided,
    much_larger,
    not_measured,
    number,
)
from test_experiments import TINY


def test_builders_decide_by_the_rule_they_state():
    assert at_most("s", "Figure 1", "q", 0.5, 1.0).verdict is Verdict.HOLDS
    assert at_most("s", "Figure 1", "q", 1.5, 1.0).verdict is Verdict.FAILS
    assert at_least("s", "Figure 1", "q", 1.5, 1.0).verdict is Verdict.HOLDS
    assert at_least("s", "Figure 1", "q", 0.5, 1.0).test == "≥ 1"
    assert agrees("s", "Figure 3", "q", 2 * AGREEMENT).verdict is Verdict.FAILS
    assert agrees("s", "Figure 3", "q", AGREEMENT / 2).test == "≤ 1e-08"
    larger = much_larger("s", "Figure 1", "q", 10.0, 1.0, names=("a", "b"))
    assert larger.verdict is Verdict.HOLDS and larger.test == "a ≥ 10 × b"
    assert much_larger("s", "F", "q", 9.9, 1.0, names=("a", "b")).verdict is Verdict.FAILS
    assert decided("s", "F", "q", "rule", False, "m").verdict is Verdict.FAILS
    unmeasured = not_measured("s", "F", "q", "rule", "one seed")
    assert unmeasured.verdict is Verdict.NOT_MEASURED and unmeasured.note == "one seed"


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_value_that_is_not_finite_fails_and_says_so(value):
    for claim in (
        at_most("s", "F", "q", value, 1.0),
        at_least("s", "F", "q", value, 1.0),
        much_larger("s", "F", "q", value, 1.0, names=("a", "b")),
    ):
        assert claim.verdict is Verdict.FAILS and "not finite" in claim.note


def test_claims_are_checked_when_built():
    with pytest.raises(TypeError, match="verdict"):
        Claim("s", "F", "q", "t", "holds")
    with pytest.raises(ValueError, match="statement"):
        Claim("", "F", "q", "t", Verdict.HOLDS)
    assert number(1.5e-11) == "1.5e-11" and number(0.0144) == "0.0144" and number(2.0) == "2"


def test_an_experiment_without_claims_declares_none():
    spec = experiments.get("fig3")
    bare = experiments.Experiment(spec.name, spec.presets, spec.run, spec.plot, spec.headline)
    assert bare.claims(None) == []


def test_a_verdict_follows_the_data_it_is_decided_from():
    """Edit a variable of results in memory and the claims decided from it change."""
    fig3 = experiments.get("fig3")
    results = runner.run("fig3", overrides=TINY["fig3"]).results
    before = {claim.statement: claim.verdict for claim in fig3.claims(results)}
    assert set(before.values()) == {Verdict.HOLDS}
    broken = results.copy(deep=True)
    broken["relative_error"] = broken.relative_error + 1e-6  # the closed form off by 1e-6
    # upstream's kernel moving most: the ordering of S(0, t_max) in δ is reversed
    broken["kernel_distance_simulated"] = broken.kernel_distance_simulated.isel(
        delta=slice(None, None, -1)
    ).assign_coords(delta=broken.delta)
    after = {claim.statement: claim for claim in fig3.claims(broken)}
    assert [c.verdict for c in after.values()].count(Verdict.FAILS) == 3
    assert all(after[statement].verdict is Verdict.FAILS for statement in before)


def test_seed_sensitive_claims_are_not_decided_by_one_seed_or_disagreeing_seeds():
    results = runner.run("fig1b", overrides=TINY["fig1b"]).results  # one seed
    fig1b = experiments.get("fig1b")
    (lowest,) = [c for c in fig1b.claims(results) if "lowest test loss" in c.statement]
    assert lowest.verdict is Verdict.NOT_MEASURED and "one seed" in lowest.note
    # Two seeds that disagree: seed 1 is seed 0 with the final test losses of δ = 0 and δ = 1
    # swapped, so δ > 0 ends lower in one seed and higher in the other.
    two = results.isel(seed=[0, 0]).assign_coords(seed=[0, 1]).copy(deep=True)
    loss = two.test_loss.values  # (tau, delta, seed, step)
    loss[:, :, 1, -1] = loss[:, ::-1, 0, -1]
    two["test_loss"] = (two.test_loss.dims, loss)
    (lowest,) = [c for c in fig1b.claims(two) if "lowest test loss" in c.statement]
    assert lowest.verdict is Verdict.NOT_MEASURED and "disagree" in lowest.note
