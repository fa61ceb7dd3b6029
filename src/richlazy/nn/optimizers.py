"""How ``fit`` updates the parameters: optimizer objects, one per method, each holding only its
own options (docs/nn.md "Training loop"), as ``richlazy.train`` takes solver objects.

``SGD(lr, momentum=, nesterov=, weight_decay=)`` and ``AdamW(lr, betas=, eps=, weight_decay=)``
are frozen dataclasses that validate themselves when built; strings ("sgd", "adamw") are mapped
to them only at the edges (configs, the command line) through :func:`optimizer_named`.
``Optimizer(kind, lr, ...)`` is the old single class, kept as a function that builds these.
"""

from __future__ import annotations

import warnings
from dataclasses import KW_ONLY, dataclass, fields
from typing import Any

import numpy as np
import torch

import richlazy._validate as check
from richlazy._validate import require

__all__ = ["OPTIMIZERS", "SGD", "AdamW", "Optimizer", "optimizer_named"]


def _number(name: str, value: object, accepted: str) -> float:
    """``value`` as a real number, refusing bools (True is not a rate)."""
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be {accepted}, got {value!r}")
    return check.real_number(name, value)


def _rate(name: str, value: object) -> float:
    number = _number(name, value, "a finite number > 0")
    require(number > 0, f"{name} must be a finite number > 0, got {value!r}")
    return number


def _fraction(name: str, value: object) -> float:
    number = _number(name, value, "a number in [0, 1)")
    require(0 <= number < 1, f"{name} must be a number in [0, 1), got {value!r}")
    return number


def _decay(value: object) -> float:
    number = _number("weight_decay", value, "a finite number ≥ 0")
    require(number >= 0, f"weight_decay must be a finite number ≥ 0, got {value!r}")
    return number


@dataclass(frozen=True)
class SGD:
    """Stochastic gradient descent, torch's ``SGD``: θ ← θ − lr·(g + weight_decay·θ), with
    heavy-ball (or Nesterov) momentum.

    Attributes:
        lr: the base learning rate (per-parameter factors: ``fit(lr_scales=...)``; in time:
            ``fit(schedule=...)``).
        momentum: the momentum coefficient, in [0, 1).
        nesterov: Nesterov momentum (needs momentum > 0).
        weight_decay: the L2 penalty's coefficient, ≥ 0 (added to the gradient).
    """

    lr: float
    _: KW_ONLY
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0

    name = "sgd"

    def __post_init__(self):
        _rate("lr", self.lr)
        _fraction("momentum", self.momentum)
        if not isinstance(self.nesterov, bool):
            raise TypeError(f"nesterov must be True or False, got {self.nesterov!r}")
        require(
            not self.nesterov or self.momentum > 0,
            "nesterov=True needs momentum > 0 (Nesterov momentum without momentum is plain SGD)",
        )
        _decay(self.weight_decay)

    def build(self, param_groups: list[dict]) -> torch.optim.Optimizer:
        """The torch optimizer over ``param_groups`` (dicts with "params" and optionally "lr")."""
        options = {"nesterov": True} if self.nesterov else {}
        return torch.optim.SGD(
            param_groups,
            lr=self.lr,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            **options,
        )

    def attrs(self) -> dict[str, Any]:
        """What a training history records of the optimizer (``nesterov`` only when set)."""
        recorded = {"optimizer": self.name, "lr": self.lr, "momentum": self.momentum,
                    "weight_decay": self.weight_decay}  # fmt: skip
        return recorded | ({"nesterov": 1} if self.nesterov else {})


@dataclass(frozen=True)
class AdamW:
    """Adam with decoupled weight decay, torch's ``AdamW``: θ ← θ·(1 − lr·weight_decay) − lr·m̂/
    (√v̂ + eps).

    Attributes:
        lr: the base learning rate (see :class:`SGD`).
        betas: the decay rates of the first and second moment estimates, each in [0, 1).
        eps: the denominator's floor, > 0.
        weight_decay: the decoupled decay's coefficient, ≥ 0 (0 by default, not torch's 0.01).
    """

    lr: float
    _: KW_ONLY
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0

    name = "adamw"

    def __post_init__(self):
        _rate("lr", self.lr)
        require(
            isinstance(self.betas, tuple | list) and len(self.betas) == 2,
            f"betas must be two numbers in [0, 1), got {self.betas!r}",
        )
        for beta in self.betas:
            _fraction("betas", beta)
        object.__setattr__(self, "betas", tuple(self.betas))  # a list given: stored as a tuple
        _rate("eps", self.eps)
        _decay(self.weight_decay)

    def build(self, param_groups: list[dict]) -> torch.optim.Optimizer:
        """The torch optimizer over ``param_groups`` (dicts with "params" and optionally "lr")."""
        return torch.optim.AdamW(
            param_groups, lr=self.lr, betas=self.betas, eps=self.eps, weight_decay=self.weight_decay
        )

    def attrs(self) -> dict[str, Any]:
        """What a training history records of the optimizer."""
        return {"optimizer": self.name, "lr": self.lr, "betas": list(self.betas),
                "eps": self.eps, "weight_decay": self.weight_decay}  # fmt: skip


#: The optimizers' names at the edges (configs, command line).
OPTIMIZERS: dict[str, type[SGD] | type[AdamW]] = {"sgd": SGD, "adamw": AdamW}


def optimizer_named(name: str, **options: object) -> SGD | AdamW:
    """The optimizer a name stands for, built with ``options`` (at an edge: config, CLI).

    Example: ``optimizer_named("sgd", lr=0.1, momentum=0.9)`` is ``SGD(0.1, momentum=0.9)``.

    Raises:
        ValueError: an unknown name, an option that optimizer does not take, or a bad value.
        TypeError: a value of the wrong kind (naming the option).
    """
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
    kind = OPTIMIZERS[name]
    require("lr" in options, f"optimizer {name!r} needs a learning rate: lr=...")
    for option in options:
        if option not in _options(kind):
            owners = [other for other, cls in OPTIMIZERS.items() if option in _options(cls)]
            where = f"applies to optimizer {owners[0]!r} only" if owners else "is not an option"
            raise ValueError(f"{option} {where}, not to {name!r}")
    return kind(**options)


def _options(kind: type) -> set[str]:
    return {field.name for field in fields(kind)}


def Optimizer(  # the old class's name, kept for old code
    kind: str = "sgd",
    lr: float = 0.1,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> SGD | AdamW:
    """Deprecated: the old ``Optimizer(kind, lr, momentum, weight_decay, betas, eps)``, building
    ``SGD(lr, momentum=, weight_decay=)`` or ``AdamW(lr, betas=, eps=, weight_decay=)`` (the
    options the other one takes are ignored, as they were). Use those, or
    :func:`optimizer_named`, instead; this name goes in the next release (docs/changelog.md).

    Raises:
        ValueError, TypeError: as ``SGD``/``AdamW`` for their options; an unknown ``kind``.
    """
    warnings.warn(
        "richlazy.nn.Optimizer(kind, ...) is replaced: use richlazy.nn.SGD(lr, ...) or "
        "richlazy.nn.AdamW(lr, ...) (or optimizer_named); the old name goes in the next release",
        DeprecationWarning,
        stacklevel=2,
    )
    if not isinstance(kind, str) or kind not in OPTIMIZERS:
        raise ValueError(f"kind must be one of {', '.join(OPTIMIZERS)}, got {kind!r}")
    if kind == "sgd":
        return SGD(lr, momentum=momentum, weight_decay=weight_decay)
    return AdamW(lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
