"""Claims as data: a rule prints the same text whatever its verdict, applies the test it states,
and every experiment's claims come from its declared rules."""

import math

import pytest

from richlazy import experiments
from richlazy.experiments import runner
from richlazy.experiments.claims import (
    AGREEMENT,
    Claim,
    Rule,
    Verdict,
    agrees,
    at_least,
    at_most,
    much_larger,
    number,
)


def assert_claims_follow_rules(experiment: experiments.Experiment, claims: list[Claim]) -> None:
    """Every claim prints the words of one of the experiment's declared rules, each rule once."""
    assert experiment.rules and len(set(experiment.rules)) == len(experiment.rules)
    for claim in claims:
        matching = [rule for rule in experiment.rules if claim.follows(rule)]
        assert len(matching) == 1, f"{experiment.name}: {claim.statement!r} follows no one rule"
    assert len({claim.statement for claim in claims}) == len(claims)


def test_a_rule_prints_the_same_text_whatever_its_verdict():
    rule = Rule("s", "Figure 1", "q", "decreases strictly as δ increases", expected="e")
    held, failed = rule.decide(True, "1, 2"), rule.decide(False, "2, 1", note="n")
    unmeasured = rule.not_measured("one δ only")
    assert [c.verdict for c in (held, failed, unmeasured)] == [
        Verdict.HOLDS,
        Verdict.FAILS,
        Verdict.NOT_MEASURED,
    ]
    for claim in (held, failed, unmeasured):
        assert claim.follows(rule)
        assert (claim.statement, claim.where, claim.quantity, claim.test, claim.expected) == (
            "s",
            "Figure 1",
            "q",
            "decreases strictly as δ increases",
            "e",
        )
    assert unmeasured.note == "one δ only" and failed.note == "n" and held.measured == "1, 2"
    bound = at_most("s", "Figure 1", "q", 0.01)
    assert bound.of(0.5).test == bound.not_measured("one τ").test == "≤ 0.01"


def test_a_claim_whose_words_drifted_from_its_rule_is_caught():
    spec = experiments.get("fig3")
    good = [rule.not_measured("why") for rule in spec.rules]
    assert_claims_follow_rules(spec, good)
    drifted = Claim(
        spec.rules[1].claim, spec.rules[1].where, spec.rules[1].quantity, "decreases",
        Verdict.NOT_MEASURED, note="one δ only",
    )  # fmt: skip
    with pytest.raises(AssertionError, match="follows no one rule"):
        assert_claims_follow_rules(spec, [good[0], drifted])


def test_rules_decide_by_the_test_they_state():
    assert at_most("s", "Figure 1", "q", 1.0).of(0.5).verdict is Verdict.HOLDS
    assert at_most("s", "Figure 1", "q", 1.0).of(1.5).verdict is Verdict.FAILS
    assert at_least("s", "Figure 1", "q", 1.0).of(1.5).verdict is Verdict.HOLDS
    assert at_least("s", "Figure 1", "q", 1.0).of(0.5).test == "≥ 1"
    assert agrees("s", "Figure 3", "q").of(2 * AGREEMENT).verdict is Verdict.FAILS
    assert agrees("s", "Figure 3", "q").of(AGREEMENT / 2).test == "≤ 1e-08"
    ratio = much_larger("s", "Figure 1", "q", names=("a", "b"))
    larger = ratio.of(10.0, 1.0)
    assert larger.verdict is Verdict.HOLDS and larger.test == "a ≥ 10 × b"
    assert larger.measured == "a = 10, b = 1"
    assert ratio.of(9.9, 1.0).verdict is Verdict.FAILS
    with pytest.raises(ValueError, match="test"):
        Rule("s", "F", "q", "")


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_value_that_is_not_finite_fails_and_says_so(value):
    for claim in (
        at_most("s", "F", "q", 1.0).of(value),
        at_least("s", "F", "q", 1.0).of(value),
        much_larger("s", "F", "q", names=("a", "b")).of(value, 1.0),
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
    assert bare.claims(None, None) == []


def test_a_verdict_follows_the_data_it_is_decided_from():
    """Edit a variable of results in memory and the claims decided from it change."""
    fig3 = experiments.get("fig3")
    results = runner.run("fig3", preset="smoke").results
    config = fig3.presets["smoke"]
    before = {claim.statement: claim.verdict for claim in fig3.claims(results, config)}
    assert set(before.values()) == {Verdict.HOLDS}
    broken = results.copy(deep=True)
    broken["relative_error"] = broken.relative_error + 1e-6  # the closed form off by 1e-6
    # upstream's kernel moving most: the ordering of S(0, t_max) in δ is reversed
    broken["kernel_distance_simulated"] = broken.kernel_distance_simulated.isel(
        delta=slice(None, None, -1)
    ).assign_coords(delta=broken.delta)
    after = {claim.statement: claim for claim in fig3.claims(broken, config)}
    assert [c.verdict for c in after.values()].count(Verdict.FAILS) == 3
    assert all(after[statement].verdict is Verdict.FAILS for statement in before)


def test_seed_sensitive_claims_are_not_decided_by_one_seed_or_disagreeing_seeds():
    results = runner.run("fig1b", preset="smoke").results  # one seed
    fig1b = experiments.get("fig1b")
    config = fig1b.presets["smoke"]
    (lowest,) = [c for c in fig1b.claims(results, config) if "lowest test loss" in c.statement]
    assert lowest.verdict is Verdict.NOT_MEASURED and "one seed" in lowest.note
    # Two seeds that disagree: seed 1 is seed 0 with the final test losses of δ = 0 and δ = 1
    # swapped, so δ > 0 ends lower in one seed and higher in the other.
    two = results.isel(seed=[0, 0]).assign_coords(seed=[0, 1]).copy(deep=True)
    loss = two.test_loss.values  # (tau, delta, seed, step)
    loss[:, :, 1, -1] = loss[:, ::-1, 0, -1]
    two["test_loss"] = (two.test_loss.dims, loss)
    (lowest,) = [c for c in fig1b.claims(two, config) if "lowest test loss" in c.statement]
    assert lowest.verdict is Verdict.NOT_MEASURED and "disagree" in lowest.note
