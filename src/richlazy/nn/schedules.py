"""Learning rates in time for ``fit(schedule=...)`` (docs/nn.md "Training loop"): each schedule is
a frozen dataclass whose ``factor(t)`` multiplies every parameter's base rate (the optimizer's
``lr`` times its ``lr_scales`` factor) at time t.

Time is counted in updates (``unit="step"``: t = 0 for the first update) or in finished epochs
(``unit="epoch"``: t = ⌊update / steps per epoch⌋, so the rate holds through each epoch, as a
torch scheduler stepped once per epoch does). The Section 5 recipes (docs/theory.md §6.1) use all
four: cosine annealing per epoch with T_max = 80% of the epochs (the Random Hierarchy Model),
linear warm-up over the first 10 updates (grokking), piecewise linear 0 → 0.4 → 0 (the DAWNBench
ResNet).
"""

from __future__ import annotations

import math
from dataclasses import KW_ONLY, dataclass
from itertools import pairwise

import numpy as np

import richlazy._validate as check
from richlazy._validate import require

__all__ = [
    "SCHEDULE_UNITS",
    "Constant",
    "CosineAnnealing",
    "LinearWarmUp",
    "PiecewiseLinear",
    "Schedule",
]

SCHEDULE_UNITS = ("step", "epoch")


def _unit(unit: object) -> None:
    require(
        isinstance(unit, str) and unit in SCHEDULE_UNITS,
        f"unit must be one of {', '.join(SCHEDULE_UNITS)}, got {unit!r}",
    )


def _number(name: str, value: object) -> float:
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be a number, got {value!r}")
    return check.real_number(name, value)


@dataclass(frozen=True)
class Constant:
    """The base rate throughout: factor 1 (the same as no schedule)."""

    _: KW_ONLY
    unit: str = "step"

    def __post_init__(self):
        _unit(self.unit)

    def factor(self, t: int) -> float:
        return 1.0


@dataclass(frozen=True)
class CosineAnnealing:
    """Cosine annealing, torch's ``CosineAnnealingLR`` with η_min = ``minimum``·base:
    factor(t) = m + (1 − m)·(1 + cos(π t / T_max))/2, from 1 at t = 0 to m at t = T_max.

    After T_max the same cosine goes on, back up towards the base rate (period 2·T_max), as
    torch's scheduler does: with T_max = 80% of the run (the Random Hierarchy Model's recipe) the
    last epochs climb from m to m + (1 − m)·(1 + cos(π/0.8))/2 ≈ m + 0.146·(1 − m).

    Attributes:
        T_max: the time of the minimum, > 0 (need not be whole).
        minimum: the factor m at T_max, ≥ 0.
        unit: "step" or "epoch" (see the module's docstring).
    """

    T_max: float
    _: KW_ONLY
    minimum: float = 0.0
    unit: str = "step"

    def __post_init__(self):
        require(_number("T_max", self.T_max) > 0, f"T_max must be > 0, got {self.T_max!r}")
        require(_number("minimum", self.minimum) >= 0, f"minimum must be ≥ 0, got {self.minimum!r}")
        _unit(self.unit)

    def factor(self, t: int) -> float:
        return self.minimum + (1 - self.minimum) * (1 + math.cos(math.pi * t / self.T_max)) / 2


@dataclass(frozen=True)
class LinearWarmUp:
    """Linear warm-up over the first ``length`` updates (or epochs): factor(t) = (t + 1)/length
    up to 1, then 1. ``LinearWarmUp(10)`` gives 0.1, 0.2, …, 1 to updates 0 … 9: torch's
    ``LinearLR(start_factor=1/length, total_iters=length − 1)``, the grokking recipe's warm-up.

    Attributes:
        length: the updates (or epochs) of the warm-up, a positive integer (1: none).
        unit: "step" or "epoch" (see the module's docstring).
    """

    length: int
    _: KW_ONLY
    unit: str = "step"

    def __post_init__(self):
        if isinstance(self.length, bool):
            raise TypeError(f"length must be a positive integer, got {self.length!r}")
        check.positive_integer("length", self.length)
        _unit(self.unit)

    def factor(self, t: int) -> float:
        return min(1.0, (t + 1) / self.length)


@dataclass(frozen=True)
class PiecewiseLinear:
    """Linear between knots (t, factor): ``PiecewiseLinear(((0, 0), (5, 1), (24, 0)),
    unit="epoch")``; before the first knot its factor, after the last one its factor (NumPy's
    ``interp``). Per-epoch knots that should move within an epoch (the DAWNBench ResNet's rate
    0 → 0.4 → 0, evaluated at fractional epochs) are given in updates: t × steps per epoch.

    Attributes:
        knots: (time, factor) pairs, times strictly increasing and ≥ 0, factors ≥ 0.
        unit: "step" or "epoch" (see the module's docstring).
    """

    knots: tuple[tuple[float, float], ...]
    _: KW_ONLY
    unit: str = "step"

    def __post_init__(self):
        accepted = "knots must be a non-empty sequence of (time, factor) pairs"
        if isinstance(self.knots, str | bytes) or not hasattr(self.knots, "__len__"):
            raise TypeError(f"{accepted}, got {self.knots!r}")
        knots = []
        for knot in self.knots:
            require(
                not isinstance(knot, str | bytes) and hasattr(knot, "__len__") and len(knot) == 2,
                f"{accepted}, got {knot!r} among them",
            )
            knots.append((_number("knots", knot[0]), _number("knots", knot[1])))
        require(bool(knots), f"{accepted}, got none")
        times = [t for t, _ in knots]
        require(times[0] >= 0, f"knots: times must be ≥ 0, got {times[0]}")
        require(
            all(b > a for a, b in pairwise(times)),
            f"knots: times must be strictly increasing, got {times}",
        )
        require(
            all(f >= 0 for _, f in knots),
            f"knots: factors must be ≥ 0, got {[f for _, f in knots]}",
        )
        object.__setattr__(self, "knots", tuple(knots))
        _unit(self.unit)

    def factor(self, t: int) -> float:
        times, factors = zip(*self.knots, strict=True)
        return float(np.interp(t, times, factors))


#: Any of the schedules (``fit(schedule=...)`` takes one, or None).
Schedule = Constant | CosineAnnealing | LinearWarmUp | PiecewiseLinear
