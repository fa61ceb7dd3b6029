"""Bounded reference integration: SciPy's ``solve_ivp`` with a budget of vector-field evaluations.

Every reference integrator of the theory (docs/theory.md §2-§4) goes through :func:`integrate`,
so none runs without bound (a horizon of t = 1e12, weights of 1e100, rates of 1e300): the vector
field must be finite at the start, the integration stops after ``max_evaluations`` evaluations
with a :class:`richlazy._validate.WorkLimitError` naming the argument that asked for the work, and a
failed or non-finite solution is a ValueError naming the initial state, never a silent NaN
(docs/guarantees.md).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.integrate import solve_ivp

from richlazy._validate import WorkLimitError

#: Vector-field evaluations one integration may take: about 40x what any figure of the paper
#: needs (Figure 7's separatrix: 25,745 at the paper preset; the others below 16,000), and
#: 10-50 s of work for the small systems of the theory modules (DOP853 takes 12 per step).
MAX_EVALUATIONS = 1_000_000

#: Every this many evaluations the remaining work is projected from the time gained over the
#: last window; an integration whose projection exceeds the budget PROJECTION_MARGIN times stops
#: there, so a hopeless horizon (t = 1e12: explicit steps are bounded by stability near a
#: minimum, ~1e13 evaluations) is refused within a second instead of after the whole budget.
#: Early windows underestimate the progress (fast transients take short steps): a test problem
#: projected 1.0e6 after 5,000 evaluations and needed 104,480, hence the margin.
CHECK_EVERY = 5_000

#: The largest initial velocity (any entry) that is integrated. The solver's error norms and
#: first-step heuristic square the velocity, which overflows past ~1e154; a velocity of 1e150
#: would also need ~1e150 steps per unit of time. Deciding from this magnitude before integrating,
#: rather than from where the solver happens to fail, gives the same verdict on every CPU.
LARGEST_VELOCITY = 1e150
PROJECTION_MARGIN = 10


class _OverBudgetError(Exception):
    """Raised inside the vector field to stop solve_ivp."""


class Budget:
    """A count of vector-field evaluations shared by several integrations (e.g. a loop of them)."""

    def __init__(self, limit: int | None = None):
        self.limit = MAX_EVALUATIONS if limit is None else limit
        self.used, self.reached, self.projected = 0, 0.0, 0.0


def integrate(
    rhs: Callable[[float, np.ndarray], np.ndarray],
    horizon: float,
    state0: np.ndarray,
    *,
    what: str,
    state_name: str,
    horizon_name: str = "t",
    budget: Budget | None = None,
    **options,
):
    """``solve_ivp(rhs, (0, horizon), state0, **options)``, bounded and checked.

    Args:
        what: what is integrated, for messages ("the single-neuron flow").
        state_name: the argument the initial state comes from (blamed if rhs is not finite).
        horizon_name: the argument the horizon comes from (blamed if the budget runs out).
        budget: a shared evaluation budget (default: a fresh one of MAX_EVALUATIONS).

    Returns:
        SciPy's solution object, with finite ``y``.

    Raises:
        ValueError: the vector field is not finite at the initial state (naming ``state_name``).
        WorkLimitError: the budget ran out (naming ``horizon_name``).
        ValueError: the integrator failed, or its solution is not finite (naming
            ``state_name``: the values are beyond what the reference integrator resolves).
    """
    budget = budget or Budget()
    with np.errstate(all="ignore"):
        first = np.asarray(rhs(0.0, state0))
    if not np.all(np.isfinite(first)) or np.max(np.abs(first), initial=0.0) > LARGEST_VELOCITY:
        size = "not finite" if not np.all(np.isfinite(first)) else f"beyond {LARGEST_VELOCITY:.0e}"
        raise ValueError(
            f"{state_name}: the velocity of {what} is {size} at the initial state "
            f"(largest |entry| {np.max(np.abs(state0)):.3g}); rescale the initial values, "
            "data or rates"
        )

    window = {"used": 0, "reached": 0.0}  # where the last projection was made

    def counted(t: float, state: np.ndarray) -> np.ndarray:
        budget.used += 1
        budget.reached = max(budget.reached, t)
        if budget.used > budget.limit:
            raise _OverBudgetError
        if budget.used - window["used"] >= CHECK_EVERY:
            gained = budget.reached - window["reached"]
            per_evaluation = gained / (budget.used - window["used"])
            if per_evaluation > 0:
                budget.projected = budget.used + (horizon - budget.reached) / per_evaluation
                if budget.projected > PROJECTION_MARGIN * budget.limit:
                    raise _OverBudgetError
            window.update(used=budget.used, reached=budget.reached)
        with np.errstate(all="ignore"):
            return rhs(t, state)

    try:
        with np.errstate(all="ignore"):  # SciPy's step-size heuristics on huge values
            solution = solve_ivp(counted, (0.0, float(horizon)), state0, **options)
    except _OverBudgetError:
        need = (
            f"about {budget.projected:.1e}"
            if budget.projected > budget.limit
            else f"more than {budget.limit:.1e}"
        )
        raise WorkLimitError(
            f"{horizon_name}: integrating {what} to t = {horizon:.3g} needs {need} evaluations "
            f"of its velocity (limit {budget.limit:.0e}; it reached t = {budget.reached:.3g} "
            f"after {budget.used}); ask for a shorter time, a larger rtol, or smaller rates or "
            "values"
        ) from None
    if not solution.success or not np.all(np.isfinite(solution.y)):
        reason = solution.message if not solution.success else "non-finite values"
        raise ValueError(
            f"{state_name}: integrating {what} failed at t = {budget.reached:.3g} ({reason}): "
            "the flow is too fast, stiff or large for the reference integrator with these "
            "values; rescale the initial values, data or rates, or loosen rtol"
        )
    return solution
