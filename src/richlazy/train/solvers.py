"""How to train: solver objects, one per method, each holding only its own options.

``train(nets, X, y, lr=..., checkpoints=..., solver=GD())`` or ``solver=GradientFlow(rtol=1e-4)``
(docs/theory.md §5.3). Options of one method cannot be given to the other: each solver is a
frozen dataclass that validates itself when built. Strings ("gd", "gf") are mapped to solvers only
at the edges (configs, the command line) through :func:`solver_named`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Literal

from richlazy import _validate as check


@dataclass(frozen=True)
class GD:
    """Full-batch gradient descent with the reference's semantics: θ ← θ − h·η·∇L each step.

    Attributes:
        fuse: run each step as one torch.compile-fused function (``richlazy.train.fused``);
            None lets the engine decide (large batches or long runs on a GPU).
    """

    fuse: bool | None = None

    def __post_init__(self):
        if self.fuse not in (None, True, False):
            raise ValueError(
                f"fuse must be True, False or None (the engine decides), got {self.fuse!r}"
            )

    def fuses(self, nets, X, steps: int = 0) -> bool:
        """Whether ``steps`` steps of the batch (``nets``, ``X``) run fused: ``fuse``, or when
        None the engine's rule (on a GPU, for large batches or long runs; docs/performance.md).

        Raises:
            TypeError, ValueError: networks or data the engine would refuse (naming them).
        """
        if self.fuse is not None:
            return self.fuse
        from richlazy.train.descent import _fuses  # the rule lives beside the loop it decides

        return _fuses(nets, X, steps)


@dataclass(frozen=True)
class GradientFlow:
    """Gradient flow θ̇ = −η·∇L with adaptive, error-controlled steps per network
    (Bogacki–Shampine 3(2), never shorter than the network's GD step; docs/theory.md §5.3).

    Attributes:
        rtol: relative tolerance of the stepper, in (0, 1).
        vector_field: the field in place of ∇L, called as ``vector_field(nets, X, y)`` ->
            (losses (S, K), one tensor per parameter tensor); None is ∇L itself.
    """

    rtol: float = 1e-4
    vector_field: Callable | None = None

    def __post_init__(self):
        check.require(
            isinstance(self.rtol, int | float) and 0 < self.rtol < 1,
            f"rtol must be a number in (0, 1), got {self.rtol!r}",
        )
        check.require(
            self.vector_field is None or callable(self.vector_field),
            f"vector_field must be None or callable, got {type(self.vector_field).__name__}",
        )


Solver = GD | GradientFlow

#: The solvers' names at the edges (configs, command line).
SOLVERS: dict[str, type[GD] | type[GradientFlow]] = {"gd": GD, "gf": GradientFlow}
METHODS = tuple(SOLVERS)
Method = Literal["gd", "gf"]  # the keys of SOLVERS


def solver_named(method: Method, **options: object) -> Solver:
    """The solver a method name stands for, built with ``options`` (at an edge: config, CLI).

    Example: ``solver_named("gf", rtol=1e-3)`` is ``GradientFlow(rtol=1e-3)``.

    Raises:
        ValueError: an unknown method, an option that method does not take, or a bad value.
    """
    if method not in SOLVERS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    kind = SOLVERS[method]
    for option in options:
        if option not in _options(kind):
            owners = [name for name, other in SOLVERS.items() if option in _options(other)]
            where = f"applies to method {owners[0]!r} only" if owners else "is not an option"
            raise ValueError(f"{option} {where}, not to {method!r}")
    return kind(**options)


def _options(kind: type) -> set[str]:
    return {field.name for field in fields(kind)}


def checked_solver(solver: object) -> Solver:
    """``solver`` if it is a GD or GradientFlow, else a TypeError that says what to pass."""
    if not isinstance(solver, GD | GradientFlow):
        raise TypeError(
            f"solver must be richlazy.train.GD(...) or richlazy.train.GradientFlow(...), "
            f"got {solver!r}"
        )
    return solver
