"""Input checks shared by every layer (docs/architecture.md, docs/guarantees.md).

Every check raises ``ValueError`` (or ``TypeError`` for the wrong kind of object) with a message
that names the argument and says what is accepted, as docs/architecture.md asks. Complex input is
refused (a TypeError naming the argument) rather than silently losing its imaginary part; step
counts are bounded by :data:`MAX_STEPS`; work that an argument asks for beyond a bound (an
integration horizon, say) is refused with :class:`WorkLimitError`.

Configs declare the checks of their options on the fields (:func:`option`, :class:`Checked`,
built from the checks here and the check makers :func:`whole`, :func:`interval`,
:func:`one_of`, :func:`tuple_of`); docs/architecture.md shows how.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Collection
from numbers import Integral, Real
from typing import Any

import numpy as np

#: The most steps (GD steps, checkpoints) any run or schedule takes: far above the paper's 1e6
#: and far below int64's 9.2e18, so no step count, time or product of them overflows. At the
#: engine's measured rates (docs/performance.md) 1e9 steps of one Figure-1b grid is days of work.
MAX_STEPS = 10**9

#: Seeds are stored as int64 coordinates.
MAX_SEED = 2**63 - 1


class WorkLimitError(ValueError):
    """What an argument asks for needs more work than a bound allows (the message names the
    argument, the bound and what to change); raised instead of running for hours."""


def finite_array(
    name: str, value: object, *, ndim: int | None = None, min_ndim: int = 0
) -> np.ndarray:
    """Return ``value`` as a float64 array, checking that it is numeric and finite.

    Args:
        name: the argument's name, used in error messages.
        value: anything ``np.asarray`` accepts.
        ndim: the exact number of dimensions required, if any.
        min_ndim: the least number of dimensions required.

    Raises:
        TypeError: if ``value`` is not numeric.
        ValueError: if it has NaN or infinite entries or the wrong number of dimensions.
    """
    if isinstance(value, str | bytes):
        raise TypeError(f"{name} must be a real number or array of real numbers, got a string")
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError) as error:  # ragged nested sequences
        raise TypeError(
            f"{name} must be a real number or a rectangular array of real numbers, "
            f"got {type(value).__name__}"
        ) from error
    if np.iscomplexobj(raw):
        raise TypeError(f"{name} must be real, got complex values (pass the real part explicitly)")
    if raw.dtype.kind not in "biuf" and raw.dtype != object:
        raise TypeError(
            f"{name} must be a real number or array of real numbers, got dtype {raw.dtype}"
        )
    try:
        with np.errstate(over="ignore"):
            array = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as error:
        raise TypeError(
            f"{name} must be a real number or array of real numbers, got {type(value).__name__}"
        ) from error
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {array.shape}")
    if array.ndim < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} dimension(s), got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return array


def real_number(name: str, value: object, *, infinite: bool = False) -> float:
    """Return ``value`` as one real float: finite, or also ±inf where ``infinite``; never NaN."""
    if isinstance(value, str | bytes) or np.iscomplexobj(value):
        kind = "a string" if isinstance(value, str | bytes) else "a complex number"
        raise TypeError(f"{name} must be a real number, got {kind}")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as error:
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}") from error
    if array.ndim != 0:
        raise ValueError(f"{name} must be a single number, got shape {array.shape}")
    number = float(array)
    if math.isnan(number) or (math.isinf(number) and not infinite):
        accepted = "a number or ±inf" if infinite else "a finite number"
        raise ValueError(f"{name} must be {accepted}, got {number}")
    return number


def positive_array(name: str, value: object) -> np.ndarray:
    """Return ``value`` as a finite float64 array whose entries are all > 0."""
    array = finite_array(name, value)
    if np.any(array <= 0):
        raise ValueError(f"{name} must be positive, got {value!r}")
    return array


def positive_float(name: str, value: object) -> float:
    """Return ``value`` as a finite float > 0."""
    array = positive_array(name, value)
    if array.ndim != 0:
        raise ValueError(f"{name} must be a single number, got shape {array.shape}")
    return float(array)


def positive_integer(name: str, value: object, *, maximum: int | None = None) -> int:
    """Return ``value`` as an int >= 1 (whole-valued floats such as 1e3 included).

    Args:
        maximum: the largest value accepted, if any.

    Raises:
        TypeError: for a bool or something that is not a real number.
        ValueError: for a fraction, a non-finite number, a value below 1 or above ``maximum``.
    """
    return integer(name, value, minimum=1, maximum=maximum)


def integer(name: str, value: object, *, minimum: int = 0, maximum: int | None = None) -> int:
    """Return ``value`` as an int in [minimum, maximum] (whole-valued floats such as 1e3 too).

    Raises:
        TypeError: for a bool, a complex number or something that is not a real number.
        ValueError: for a fraction, a non-finite number or a value out of range.
    """
    bounds = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum:.3g}]"
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be an integer {bounds}, got {type(value).__name__}")
    if isinstance(value, Integral):
        number = int(value)
    elif not math.isfinite(value) or int(value) != value:
        raise ValueError(f"{name} must be an integer {bounds}, got {value!r}")
    else:
        number = int(value)
    if number < minimum or (maximum is not None and number > maximum):
        raise ValueError(f"{name} must be an integer {bounds}, got {value!r}")
    return number


def step_count(name: str, value: object, *, minimum: int = 1) -> int:
    """Return ``value`` as a number of steps in [minimum, MAX_STEPS] (1e9, see its comment)."""
    return integer(name, value, minimum=minimum, maximum=MAX_STEPS)


def seeds(name: str, value: object) -> tuple[int, ...]:
    """Return ``value`` as a non-empty tuple of distinct integer seeds in [0, 2⁶³ − 1]."""
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        value = (value,)
    items = tuple(value)
    if not items:
        raise ValueError(f"{name} must name at least one seed, got {items}")
    checked = tuple(integer(f"{name}[{i}]", item, maximum=MAX_SEED) for i, item in enumerate(items))
    if len(set(checked)) != len(checked):
        raise ValueError(f"{name} must name at least one seed, each once, got {items}")
    return checked


def distinct(name: str, values: object) -> tuple:
    """Return ``values`` as a non-empty tuple holding each value once (values that label
    results, such as the δ of a sweep: results are selected by them)."""
    items = tuple(values) if isinstance(values, tuple | list) else (values,)
    if not items:
        raise ValueError(f"{name} needs at least one value, got {items}")
    seen = set()
    for item in items:
        if item in seen:
            raise ValueError(f"{name} must hold each value once, got {item!r} twice in {items}")
        seen.add(item)
    return items


def strictly_increasing(name: str, values: object, *, at_least: int = 1) -> np.ndarray:
    """Return ``values`` as a finite 1-D float64 array, strictly increasing, of >= ``at_least``."""
    array = finite_array(name, values, ndim=1)
    if array.size < at_least:
        raise ValueError(f"{name} needs at least {at_least} value(s), got {array.size}")
    if np.any(np.diff(array) <= 0):
        raise ValueError(
            f"{name} must be strictly increasing (each value once), got {tuple(array.tolist())}"
        )
    return array


def time_grid(name: str, value: object) -> np.ndarray:
    """Return a 1-D grid of times that are finite, non-negative and non-decreasing."""
    times = finite_array(name, value)
    if times.ndim == 0:
        times = times[None]
    if times.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of times, got shape {times.shape}")
    if times.size == 0:
        raise ValueError(f"{name} must hold at least one time, got an empty array")
    if np.any(times < 0):
        raise ValueError(f"{name} must be non-negative, got min {times.min():g}")
    if np.any(np.diff(times) < 0):
        raise ValueError(f"{name} must be sorted in non-decreasing order")
    return times


def matching_last_axis(name: str, array: np.ndarray, expected: int, other: str) -> None:
    """Check that ``array``'s last axis has length ``expected`` (the length of ``other``'s)."""
    if array.shape[-1] != expected:
        raise ValueError(
            f"{name} has last dimension {array.shape[-1]} but {other} has "
            f"{expected}; they must match"
        )


def broadcast_batch(**arrays: tuple[np.ndarray, int]) -> tuple[int, ...]:
    """Broadcast the batch shapes of several arrays, each given with its number of core axes.

    Example: ``broadcast_batch(a0=(a0, 0), w0=(w0, 1))`` broadcasts ``a0.shape`` with
    ``w0.shape[:-1]``.

    Raises:
        ValueError: naming the arguments whose batch shapes do not broadcast.
    """
    shapes = {name: array.shape[: array.ndim - core] for name, (array, core) in arrays.items()}
    try:
        return np.broadcast_shapes(*shapes.values())
    except ValueError as error:
        listing = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(
            f"{', '.join(shapes)}: batch shapes do not broadcast: {listing}"
        ) from error


def finite_result(result: np.ndarray, blame: str) -> np.ndarray:
    """``result`` if every entry is finite, else a ValueError blaming the arguments ``blame``
    (for closed forms whose inputs are finite but whose answer does not fit a float64)."""
    if not np.all(np.isfinite(result)):
        raise ValueError(
            f"{blame}: the result overflows float64 for these values (it is not finite); "
            "use smaller magnitudes"
        )
    return result


def require(condition: bool, message: str) -> None:
    """Raise ValueError(message) unless ``condition`` (for checks no helper above covers)."""
    if not condition:
        raise ValueError(message)


def physical_memory() -> int:
    """This machine's physical memory in bytes (64 GiB where the OS does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not on POSIX
        return 2**36


def fits_memory(blame: str, nbytes: float) -> None:
    """Refuse a configuration whose arrays (``nbytes``, a lower bound of what a run holds at
    once) exceed this machine's physical memory, blaming the options ``blame`` that set them:
    a clear error before anything is computed instead of a MemoryError midway."""
    total = physical_memory()
    if not nbytes <= total:
        raise ValueError(
            f"{blame}: these sizes need at least {nbytes / 2**30:.3g} GiB of arrays, more than "
            f"this machine's {total / 2**30:.3g} GiB of memory; use smaller values"
        )


# The checks a config declares on its fields.

#: The check of one option: ``check(name, value)`` raises a ValueError or TypeError naming
#: ``name`` unless ``value`` is accepted (what it returns is ignored). Every check above with
#: the signature ``(name, value)`` is one: ``positive_float``, ``real_number``, ``seeds``.
Check = Callable[[str, Any], object]


def option(default: Any, check: Check) -> Any:
    """A dataclass field with ``default`` whose value ``check`` accepts (:class:`Checked`)."""
    return dataclasses.field(default=default, metadata={"check": check})


class Checked:
    """A base of frozen config dataclasses: building one checks every field declared with
    :func:`option`, in field order. A subclass that gives such a field only a new default
    keeps its base's check; checks that relate several fields go in the subclass's
    ``__post_init__``, after ``super().__post_init__()``."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            check = declared_check(type(self), field.name)
            if check is not None:
                check(field.name, getattr(self, field.name))


def declared_check(config: type, name: str) -> Check | None:
    """The check that dataclass ``config`` or the nearest of its bases declares for ``name``."""
    for klass in config.__mro__:
        field = vars(klass).get("__dataclass_fields__", {}).get(name)
        if field is not None and "check" in field.metadata:
            return field.metadata["check"]
    return None


def whole(minimum: int = 1, maximum: int | None = None, *, even: bool = False) -> Check:
    """The check of an integer option in [minimum, maximum] (even if ``even``). A bool or a
    float is refused: a config keeps the value it is given, and 1e3 is not an int."""

    def check_whole(name: str, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
        number = integer(name, value, minimum=minimum, maximum=maximum)
        if even and number % 2:
            raise ValueError(f"{name} must be an even integer >= {minimum}, got {number}")

    return check_whole


def interval(low: float, high: float, brackets: str = "()") -> Check:
    """The check of a finite real option between ``low`` and ``high``; ``brackets`` says
    which ends are open ("(", ")") or closed ("[", "]"), e.g. "[)" for 0 <= x < 1."""
    if len(brackets) != 2 or brackets[0] not in "([" or brackets[1] not in ")]":
        raise ValueError(f"brackets must be two of ( [ and ) ], got {brackets!r}")

    def check_interval(name: str, value: object) -> None:
        number = real_number(name, value)
        above = number >= low if brackets[0] == "[" else number > low
        below = number <= high if brackets[1] == "]" else number < high
        if not (above and below):
            bounds = f"{brackets[0]}{low:g}, {high:g}{brackets[1]}"
            raise ValueError(f"{name} must be in {bounds}, got {number:g}")

    return check_interval


def one_of(choices: Collection[str]) -> Check:
    """The check of an option that names one of ``choices``."""
    choices = tuple(choices)

    def check_choice(name: str, value: object) -> None:
        if value not in choices:
            raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")

    return check_choice


def tuple_of(
    item: Check = real_number, *, once: bool = True, increasing: bool = False, at_least: int = 1
) -> Check:
    """The check of a tuple option: at least ``at_least`` items, each accepted by ``item``
    (named ``name[i]``), each once where ``once`` (values that label results: :func:`distinct`)
    and strictly increasing where ``increasing``."""

    def check_tuple(name: str, value: object) -> None:
        if not isinstance(value, tuple | list):
            raise TypeError(f"{name} must be a tuple, got {type(value).__name__} {value!r}")
        if len(value) < at_least:
            plural = "s" if at_least > 1 else ""
            raise ValueError(f"{name} needs at least {at_least} value{plural}, got {value!r}")
        for index, entry in enumerate(value):
            item(f"{name}[{index}]", entry)
        if increasing:
            strictly_increasing(name, value, at_least=at_least)
        elif once:
            distinct(name, value)

    return check_tuple
