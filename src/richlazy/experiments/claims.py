"""The paper's claims as data, each decided from an experiment's stored results.

Every experiment declares what the paper claims about its figure as a function of its results
only, ``claims(results: xarray.Dataset) -> list[Claim]`` (``Experiment.claims``), so the claims
are re-evaluated from ``results.zarr`` without recomputing (``richlazy report --from DIR``).

A claim holds the paper's words (short), where they are in the paper, the quantity measured, the
rule that decides it and the verdict. The rule is stated before looking: a direction, a
threshold, or agreement with theory to a tolerance. A claim whose rule is not met is reported as
failing; where the stored results cannot decide it (one seed where seeds must agree, a grid
without the cells the claim compares), the verdict is "not measured" with the reason.

The builders below state the rule in the claim they return, so the rule printed is the rule
applied:

- :func:`at_most`, :func:`at_least`: a measured number against a bound;
- :func:`agrees`: a closed form against an independent integrator, to ``AGREEMENT`` = 1e-8;
- :func:`much_larger`: one quantity at least ``factor`` times another (``MUCH`` = 10 unless said);
- :func:`decided`: any other rule, given as its text and its outcome;
- :func:`not_measured`: what the results cannot decide, and why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "AGREEMENT",
    "MUCH",
    "Claim",
    "Verdict",
    "agrees",
    "at_least",
    "at_most",
    "decided",
    "much_larger",
    "not_measured",
    "number",
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
        for name in ("statement", "where", "quantity", "test"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"{name} must be a non-empty string")


def number(value: float) -> str:
    """``value`` with three significant digits (scientific notation outside [1e-3, 1e4))."""
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:.3g}"
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{exponent}"


def _finite(*values: float) -> bool:
    return all(math.isfinite(float(v)) for v in values)


def at_most(
    statement: str,
    where: str,
    quantity: str,
    value: float,
    bound: float,
    *,
    expected: str = "",
    note: str = "",
) -> Claim:
    """Holds when ``value`` ≤ ``bound``; a non-finite ``value`` fails."""
    return _bounded(statement, where, quantity, value, bound, "≤", expected, note)


def at_least(
    statement: str,
    where: str,
    quantity: str,
    value: float,
    bound: float,
    *,
    expected: str = "",
    note: str = "",
) -> Claim:
    """Holds when ``value`` ≥ ``bound``; a non-finite ``value`` fails."""
    return _bounded(statement, where, quantity, value, bound, "≥", expected, note)


def _bounded(statement, where, quantity, value, bound, sign, expected, note) -> Claim:
    value = float(value)
    finite = _finite(value)
    met = finite and (value <= bound if sign == "≤" else value >= bound)
    if not finite:
        note = "; ".join(filter(None, [note, "the measured value is not finite"]))
    return Claim(
        statement,
        where,
        quantity,
        f"{sign} {number(bound)}",
        Verdict.HOLDS if met else Verdict.FAILS,
        number(value),
        expected,
        note,
    )


def agrees(statement: str, where: str, quantity: str, error: float, *, note: str = "") -> Claim:
    """Holds when the relative ``error`` of a closed form against its integrator ≤ 1e-8."""
    return at_most(
        statement,
        where,
        quantity,
        error,
        AGREEMENT,
        expected="equal, to the integrator's accuracy",
        note=note,
    )


def much_larger(
    statement: str,
    where: str,
    quantity: str,
    larger: float,
    smaller: float,
    *,
    names: tuple[str, str],
    factor: float = MUCH,
    expected: str = "",
    note: str = "",
) -> Claim:
    """Holds when ``larger`` ≥ ``factor`` × ``smaller`` (both finite).

    Args:
        names: what ``larger`` and ``smaller`` are, for the test's text.
    """
    larger, smaller = float(larger), float(smaller)
    finite = _finite(larger, smaller)
    if not finite:
        note = "; ".join(filter(None, [note, "a measured value is not finite"]))
    return Claim(
        statement,
        where,
        quantity,
        f"{names[0]} ≥ {number(factor)} × {names[1]}",
        Verdict.HOLDS if finite and larger >= factor * smaller else Verdict.FAILS,
        f"{names[0]} = {number(larger)}, {names[1]} = {number(smaller)}",
        expected,
        note,
    )


def decided(
    statement: str,
    where: str,
    quantity: str,
    test: str,
    met: bool,
    measured: str,
    *,
    expected: str = "",
    note: str = "",
) -> Claim:
    """A claim decided by a rule given as text (``test``) and its outcome (``met``)."""
    return Claim(
        statement,
        where,
        quantity,
        test,
        Verdict.HOLDS if bool(met) else Verdict.FAILS,
        measured,
        expected,
        note,
    )


def not_measured(
    statement: str,
    where: str,
    quantity: str,
    test: str,
    reason: str,
    *,
    measured: str = "",
    expected: str = "",
) -> Claim:
    """A claim the stored results cannot decide; ``reason`` says why (shown as its note)."""
    return Claim(statement, where, quantity, test, Verdict.NOT_MEASURED, measured, expected, reason)
