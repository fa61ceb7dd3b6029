"""Config options by their declared types: read from ``NAME=VALUE`` text, checked, and written
back as text (the command line's ``--set``, docs/guarantees.md).

The type of an option is its dataclass field's annotation, never the preset's current value (a
preset's None says nothing about what the option takes). Supported annotations: ``bool``,
``int``, ``float``, ``str``, ``X | None``, ``tuple[X, ...]``, ``tuple[X, Y]`` and tuples of
those tuples. As text: ``true``/``false`` for bools, ``none`` for None, items separated by
commas, and vectors of a tuple of tuples separated by semicolons (``directions=0,-1;1,1``).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from functools import cache
from numbers import Integral, Real
from typing import Any

import numpy as np

__all__ = ["annotations_of", "check_value", "parse_value", "value_text"]

_INT64 = 2**63 - 1
_NONE_WORDS = ("none", "null")


@cache
def annotations_of(config_type: type) -> dict[str, Any]:
    """{field name: resolved annotation} of a config dataclass."""
    hints = typing.get_type_hints(config_type)
    return {field.name: hints[field.name] for field in dataclasses.fields(config_type)}


def _optional(annotation: Any) -> Any | None:
    """``X`` of ``X | None`` (None if ``annotation`` is not optional)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        others = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(others) != len(typing.get_args(annotation)):
            if len(others) != 1:
                raise TypeError(f"unsupported option type {annotation}")
            return others[0]
    return None


def _items(annotation: Any) -> tuple[tuple[Any, ...], bool]:
    """The item annotations of a tuple annotation and whether its length is fixed."""
    args = typing.get_args(annotation)
    if len(args) == 2 and args[1] is Ellipsis:
        return (args[0],), False
    return args, True


def _describe(annotation: Any) -> str:
    inner = _optional(annotation)
    if inner is not None:
        return f"{_describe(inner)} or none"
    if typing.get_origin(annotation) is tuple:
        items, fixed = _items(annotation)
        if fixed:
            return f"{len(items)} comma-separated values"
        return f"comma-separated values, each {_describe(items[0])}"
    return {bool: "true or false", int: "an integer", float: "a real number", str: "text"}.get(
        annotation, str(annotation)
    )


def parse_value(name: str, text: str, annotation: Any) -> Any:
    """``text`` read as a value of the option ``name`` of type ``annotation``.

    Raises:
        ValueError: ``text`` is not such a value (naming ``name`` and what it takes).
    """
    text = text.strip()
    inner = _optional(annotation)
    if inner is not None:
        if text.lower() in _NONE_WORDS:
            return None
        try:
            return parse_value(name, text, inner)
        except ValueError:
            raise ValueError(f"{name} takes {_describe(annotation)}, got {text!r}") from None
    if typing.get_origin(annotation) is tuple:
        items, fixed = _items(annotation)
        if not text and not fixed:
            return ()  # "NAME=": the empty tuple (the config's own check says if it may be)
        nested = typing.get_origin(items[0]) is tuple
        parts = [part.strip() for part in text.split(";" if nested else ",")]
        if not all(parts):
            separated = "semicolon-separated vectors" if nested else "comma-separated values"
            raise ValueError(f"{name} takes {separated}, got {text!r}")
        if fixed and len(parts) != len(items):
            raise ValueError(
                f"{name} takes exactly {len(items)} comma-separated values, got {text!r}"
            )
        kinds = items if fixed else items * len(parts)
        return tuple(parse_value(name, part, kind) for part, kind in zip(parts, kinds, strict=True))
    try:
        if annotation is bool:
            if text.lower() not in ("true", "false"):
                raise ValueError
            return text.lower() == "true"
        if annotation is int:
            try:
                return int(text)
            except ValueError:  # 1e6: a whole number written as a float
                number = float(text)
                if not math.isfinite(number) or number != int(number):
                    raise
                return int(number)
        if annotation is float:
            return float(text)
    except (ValueError, OverflowError):
        raise ValueError(f"{name} takes {_describe(annotation)}, got {text!r}") from None
    if annotation is str:
        return text
    raise ValueError(f"{name} (of type {annotation}) cannot be set from text")


def check_value(name: str, value: Any, annotation: Any) -> Any:
    """``value`` checked to be of the option's type ``annotation`` (ints stay ints, reals
    become floats, lists become tuples, NumPy scalars become Python ones).

    Raises:
        ValueError: a value of another kind (a string for a number or a bool, a complex number,
            a bool for a number) or an int beyond int64, naming ``name``.
    """
    inner = _optional(annotation)
    if inner is not None:
        return None if value is None else check_value(name, value, inner)
    if typing.get_origin(annotation) is tuple:
        if not isinstance(value, tuple | list):
            raise ValueError(f"{name} must be a tuple, got {type(value).__name__} {value!r}")
        items, fixed = _items(annotation)
        if fixed and len(value) != len(items):
            raise ValueError(f"{name} takes exactly {len(items)} values, got {tuple(value)}")
        kinds = items if fixed else items * len(value)
        return tuple(
            check_value(f"{name}[{i}]", item, kind)
            for i, (item, kind) in enumerate(zip(value, kinds, strict=True))
        )
    if annotation is bool:
        if not isinstance(value, bool | np.bool_):
            raise ValueError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
        return bool(value)
    if annotation is int:
        if isinstance(value, bool | np.bool_) or not isinstance(value, Integral):
            raise ValueError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
        if abs(int(value)) > _INT64:
            raise ValueError(f"{name} must fit a 64-bit integer, got {value}")
        return int(value)
    if annotation is float:
        if isinstance(value, bool | np.bool_) or not isinstance(value, Real):
            raise ValueError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
        return float(value)
    if annotation is str and not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__} {value!r}")
    return value


def value_text(value: Any) -> str:
    """The text :func:`parse_value` reads back as ``value`` (floats exactly, by their repr)."""
    if value is None:
        return "none"
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        nested = any(isinstance(item, tuple | list) for item in value)
        return (";" if nested else ",").join(value_text(item) for item in value)
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        return repr(float(value))
    return str(value)
