"""What the Section 5 experiments (fig6c, fig6d) share: the α and seed checks and the
per-seed panels. Where they run is ``richlazy.runtime.device_of``; they train small models on one
torch thread, ``richlazy.runtime.torch_threads(1)`` (measured 2-4x faster than two threads for
the quick transformer on 2 cores shared by other work, 1.5x slower on a quiet machine;
docs/performance.md, "Section 5")."""

from __future__ import annotations

import numpy as np

from richlazy import _validate as check
from richlazy._validate import require
from richlazy.experiments.claims import number


def spread(values) -> str:
    """'median [min, max]' of finite or infinite values (censored runs as ±inf)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return "none"
    return f"{number(np.median(values))} [{number(values.min())}, {number(values.max())}]"


_POSITIVE_VALUES = check.tuple_of(check.positive_float)


def check_alphas(name: str, value: object) -> None:
    """The check of a config's α (``richlazy._validate.option``): distinct, > 0, and 1 among
    them (the standard initialization, the reference of every comparison)."""
    _POSITIVE_VALUES(name, value)
    require(1.0 in value, f"{name} must include 1 (the reference), got {value}")


def per_seed_panel(ax, alphas, ordinal: np.ndarray, colors, low: float, high: float) -> None:
    """One marker per (α, seed) of ``ordinal`` (alpha, seed), ±inf (censored) drawn as
    triangles at the edge [low, high], and the median over seeds as a line."""
    for i, alpha in enumerate(alphas):
        for value in ordinal[i]:
            marker = "^" if np.isinf(value) else "o"
            ax.plot(alpha, np.clip(value, low, high), marker, color=colors[i], ms=5, alpha=0.8)
    medians = np.clip(np.median(ordinal, axis=1), low, high)
    ax.plot(alphas, medians, "-", color="black", lw=1, label="median over seeds")


def direction(first, last) -> str:
    """How paired seeds compare two conditions that should fall (``last`` < ``first``):
    "falls in every seed", "mixed across seeds (falls in k of n, rises in j)" or "the opposite
    direction in every seed"; ties (and both censored alike) count as neither."""
    first, last = np.asarray(first, dtype=float), np.asarray(last, dtype=float)
    falls, rises = int(np.sum(last < first)), int(np.sum(last > first))
    n = first.size
    if falls == n:
        return "falls in every seed"
    if rises == n:
        return "the opposite direction in every seed"
    return f"mixed across seeds (falls in {falls} of {n}, rises in {rises})"
