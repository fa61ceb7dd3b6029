"""The paper's claims as data, each decided from an experiment's stored results.

Every experiment declares what the paper claims about its figure as a function of its stored
results and config only, ``claims(results, config) -> list[Claim]`` (``Experiment.claims``), so
the claims are re-evaluated from ``results.zarr`` without recomputing (``richlazy report --from
DIR``).

A claim is declared once, as a :class:`Rule`: the paper's words (short), where they are in the
paper, the quantity measured and the test that decides it, stated before looking (a direction, a
threshold, or agreement with theory to a tolerance). An experiment declares its rules
(``Experiment.rules``) and turns each into a :class:`Claim` from its results, so that every
verdict prints the same rule text:

- ``rule.decide(holds, measured)``: holds or fails, with what was measured;
- ``rule.not_measured(reason)``: what the stored results cannot decide (one seed where seeds must
  agree, a grid without the cells the claim compares), and why.

Rules whose test is a number decide themselves from the measured values (``rule.of(...)``, a
non-finite value fails):

- :func:`at_most`, :func:`at_least`: a measured number against a bound (:class:`Threshold`);
- :func:`agrees`: a closed form against an independent integrator, to ``AGREEMENT`` = 1e-8;
- :func:`much_larger`: one quantity at least ``factor`` times another (``MUCH`` = 10 unless
  said; :class:`Ratio`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "AGREEMENT",
    "MUCH",
    "Claim",
    "Ratio",
    "Rule",
    "Threshold",
    "Verdict",
    "agrees",
    "at_least",
    "at_most",
    "much_larger",
    "number",
    "step_count",
]

# What "much larger" means in every claim that compares magnitudes: a factor of ten.
MUCH = 10.0
# Agreement of a closed form with an independent integrator: the tolerance to which
# docs/theory.md checks every closed form (the integrators run at rtol 1e-12 or tighter).
AGREEMENT = 1e-8


class Verdict(StrEnum):
    """What the stored results say of a claim."""

    HOLDS = "holds"
    FAILS = "fails"
    NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class Claim:
    """One statement of the paper next to what was measured.

    Attributes:
        statement: the paper's words, short ("lazy at large τ: the kernel barely moves").
        where: where the paper says it ("Figure 1b", "Theorem 4.2 (§4)").
        quantity: what was measured, from the stored results.
        test: the rule that decides the claim ("≤ 1e-08", "decreases as δ increases").
        verdict: holds, fails, or not measured.
        measured: the measured value(s), formatted.
        expected: what the paper or the theory predicts, in words or numbers.
        note: why a claim is not measured, or what a reader should know to read it.
    """

    statement: str
    where: str
    quantity: str
    test: str
    verdict: Verdict
    measured: str = ""
    expected: str = ""
    note: str = ""

    def __post_init__(self):
        if not isinstance(self.verdict, Verdict):
            raise TypeError(f"verdict must be a Verdict, got {self.verdict!r}")
        _check_words(self, ("statement", "where", "quantity", "test"))

    def follows(self, rule: Rule) -> bool:
        """Whether this claim prints exactly the words of ``rule``."""
        return (self.statement, self.where, self.quantity, self.test, self.expected) == (
            rule.claim,
            rule.where,
            rule.quantity,
            rule.test,
            rule.expected,
        )


def _check_words(value: object, names: tuple[str, ...]) -> None:
    for name in names:
        if not isinstance(getattr(value, name), str) or not getattr(value, name):
            raise ValueError(f"{name} must be a non-empty string")


@dataclass(frozen=True)
class Rule:
    """A claim of the paper and the test that decides it, declared once per experiment.

    Attributes:
        claim: the paper's words, short ("lazy at large τ: the kernel barely moves").
        where: where the paper says it ("Figure 1b", "Theorem 4.2 (§4)").
        quantity: what is measured, from the stored results (in words, without values: the
            values go into the verdict's ``measured``).
        test: the rule that decides the claim ("≤ 0.01", "decreases strictly as δ increases").
        expected: what the paper or the theory predicts, in words or numbers.
    """

    claim: str
    where: str
    quantity: str
    test: str
    expected: str = ""

    def __post_init__(self):
        _check_words(self, ("claim", "where", "quantity", "test"))

    def decide(self, holds: bool, measured: str, *, note: str = "") -> Claim:
        """The claim decided: it holds if ``holds``, else fails; ``measured`` says what was
        measured (formatted), ``note`` what a reader should know to read it."""
        verdict = Verdict.HOLDS if bool(holds) else Verdict.FAILS
        return self._claim(verdict, measured, note)

    def not_measured(self, reason: str, *, measured: str = "") -> Claim:
        """The claim the stored results cannot decide; ``reason`` says why (shown as its note)."""
        return self._claim(Verdict.NOT_MEASURED, measured, reason)

    def _claim(self, verdict: Verdict, measured: str, note: str) -> Claim:
        return Claim(
            self.claim,
            self.where,
            self.quantity,
            self.test,
            verdict,
            measured,
            self.expected,
            note,
        )


@dataclass(frozen=True)
class Threshold(Rule):
    """A rule "value ≤ bound" (``at_most``) or "value ≥ bound" (``at_least``); built by
    :func:`at_most`, :func:`at_least` and :func:`agrees`, which write its test."""

    bound: float = field(kw_only=True)
    above: bool = field(default=False, kw_only=True)  # True: value ≥ bound

    def of(self, value: float, *, note: str = "") -> Claim:
        """The claim decided from ``value``; a non-finite ``value`` fails, saying so."""
        value = float(value)
        finite = _finite(value)
        met = finite and (value >= self.bound if self.above else value <= self.bound)
        if not finite:
            note = "; ".join(filter(None, [note, "the measured value is not finite"]))
        return self.decide(met, number(value), note=note)


@dataclass(frozen=True)
class Ratio(Rule):
    """A rule "larger ≥ factor × smaller" between two measured magnitudes, built by
    :func:`much_larger`, which writes its test from ``names``."""

    names: tuple[str, str] = field(kw_only=True)
    factor: float = field(default=MUCH, kw_only=True)

    def of(self, larger: float, smaller: float, *, note: str = "") -> Claim:
        """The claim decided from the two magnitudes (both must be finite)."""
        larger, smaller = float(larger), float(smaller)
        finite = _finite(larger, smaller)
        if not finite:
            note = "; ".join(filter(None, [note, "a measured value is not finite"]))
        measured = f"{self.names[0]} = {number(larger)}, {self.names[1]} = {number(smaller)}"
        return self.decide(finite and larger >= self.factor * smaller, measured, note=note)


def number(value: float) -> str:
    """``value`` with three significant digits (scientific notation outside [1e-3, 1e4))."""
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:.3g}"
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{exponent}"


def step_count(value: float) -> str:
    """A number of steps as a whole number ("12346"; a median between two counts is rounded
    half up), and ±inf (a censored run) as "inf"."""
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    return str(math.floor(value + 0.5))


def _finite(*values: float) -> bool:
    return all(math.isfinite(float(v)) for v in values)


def at_most(
    claim: str, where: str, quantity: str, bound: float, *, expected: str = ""
) -> Threshold:
    """The rule "``quantity`` ≤ ``bound``" (its test reads "≤ bound")."""
    return Threshold(claim, where, quantity, f"≤ {number(bound)}", expected, bound=float(bound))


def at_least(
    claim: str, where: str, quantity: str, bound: float, *, expected: str = ""
) -> Threshold:
    """The rule "``quantity`` ≥ ``bound``" (its test reads "≥ bound")."""
    return Threshold(
        claim, where, quantity, f"≥ {number(bound)}", expected, bound=float(bound), above=True
    )


def agrees(claim: str, where: str, quantity: str) -> Threshold:
    """The rule "the relative error of a closed form against its integrator ≤ 1e-8"."""
    return at_most(
        claim, where, quantity, AGREEMENT, expected="equal, to the integrator's accuracy"
    )


def much_larger(
    claim: str,
    where: str,
    quantity: str,
    *,
    names: tuple[str, str],
    factor: float = MUCH,
    expected: str = "",
) -> Ratio:
    """The rule "``names[0]`` ≥ ``factor`` × ``names[1]``" between two measured magnitudes.

    Args:
        names: what the larger and the smaller are, for the test's text.
    """
    test = f"{names[0]} ≥ {number(factor)} × {names[1]}"
    return Ratio(claim, where, quantity, test, expected, factor=float(factor), names=tuple(names))
