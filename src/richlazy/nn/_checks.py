"""Input checks of ``richlazy.nn`` (used only inside this package).

Each check raises ``TypeError`` for the wrong kind of object and ``ValueError`` for a value out
of range, naming the argument and what is accepted (docs/architecture.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Real

import torch
from torch import nn


def module(name: str, value: object) -> nn.Module:
    """Return ``value`` if it is a ``torch.nn.Module``, without its wrappers (``unwrap``)."""
    if not isinstance(value, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(value).__name__}")
    return unwrap(value)


def is_compiled(value: nn.Module) -> bool:
    """Whether ``value`` is the module ``torch.compile`` returns (an ``OptimizedModule``)."""
    return type(value).__name__ == "OptimizedModule" and isinstance(
        getattr(value, "_orig_mod", None), nn.Module
    )


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside ``DataParallel``, ``DistributedDataParallel`` and ``torch.compile``
    wrappers, nested in any order: the same parameters and the same function, point by point."""
    while True:
        if isinstance(model, nn.DataParallel | nn.parallel.DistributedDataParallel):
            model = model.module
        elif is_compiled(model):
            model = model._orig_mod
        else:
            return model


def real(name: str, value: object, *, positive: bool = True, allow_zero: bool = False) -> float:
    """Return ``value`` as a finite float; > 0 (or ≥ 0 with ``allow_zero``) when ``positive``."""
    if isinstance(value, bool) or not isinstance(value, Real | torch.Tensor):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.is_complex():
            raise TypeError(f"{name} must be a real number, got a tensor of shape {value.shape}")
        value = value.item()
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {number}")
    if positive and (number < 0 or (number == 0 and not allow_zero)):
        bound = "≥ 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {number}")
    return number


def factors(name: str, value: object) -> dict[str, float]:
    """Return a ``{name or glob: factor > 0}`` mapping as a plain dict (None gives {})."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{name} must be a mapping {{parameter or layer name or glob: factor}}, "
            f"got {type(value).__name__}"
        )
    result = {}
    for key, factor in value.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"{name} keys must be non-empty strings, got {key!r}")
        result[key] = real(f"{name}[{key!r}]", factor)
    return result


def probe(name: str, value: object, *, like: torch.Tensor | None = None) -> torch.Tensor:
    """Return ``value`` if it is a tensor with a leading probe dimension of length ≥ 1.

    With ``like``, the trailing shape, dtype kind and device must match ``like``'s.
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of probe inputs, got {type(value).__name__}"
        )
    if value.ndim == 0 or value.shape[0] == 0:
        raise ValueError(
            f"{name} must have a leading probe dimension of length ≥ 1, got shape "
            f"{tuple(value.shape)}"
        )
    if like is not None:
        if value.shape[1:] != like.shape[1:]:
            raise ValueError(
                f"{name} must have the trailing shape of x1 {tuple(like.shape[1:])}, "
                f"got {tuple(value.shape[1:])}"
            )
        if value.device != like.device or value.is_floating_point() != like.is_floating_point():
            raise ValueError(
                f"{name} must be on x1's device ({like.device}) with x1's kind of dtype, got "
                f"{value.dtype} on {value.device}"
            )
    return value


def choice(name: str, value: object, accepted: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of the strings ``accepted``."""
    if value not in accepted:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, accepted))}; got {value!r}")
    return value  # type: ignore[return-value]


def memory(name: str, value: object, default: int) -> int:
    """Return a memory budget in bytes (None gives ``default``)."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 1 << 20:
        raise ValueError(f"{name} must be a number of bytes ≥ 1 MiB (or None), got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return int(value)
