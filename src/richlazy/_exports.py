"""Module-level ``__getattr__`` makers (PEP 562): names imported on first use, and old public
names kept working for one release after a rename (docs/changelog.md)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def old_names(
    module: str, namespace: Mapping[str, Any], renames: Mapping[str, str | tuple[str, str]]
) -> Callable:
    """A module ``__getattr__`` serving each old name of ``renames`` as an object of
    ``namespace``, with a DeprecationWarning saying what to use instead.

    Args:
        renames: old name -> new name, or -> (the object's name, what to use instead).
    """

    def __getattr__(name: str) -> Any:  # noqa: N807 (a module's __getattr__, PEP 562)
        if name not in renames:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        target, advice = (
            (renames[name], renames[name]) if isinstance(renames[name], str) else (renames[name])
        )
        warnings.warn(
            f"{module}.{name} is renamed: use {advice}; the old name goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return namespace[target]

    return __getattr__


def imported_on_use(module: str, where: Mapping[str, tuple[str, str]]) -> Callable:
    """A module ``__getattr__`` that imports each name of ``where`` (name -> (module, attribute))
    when it is first asked for, so that importing ``module`` stays cheap."""

    def __getattr__(name: str) -> Any:  # noqa: N807 (a module's __getattr__, PEP 562)
        if name not in where:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        source, attribute = where[name]
        return getattr(import_module(source), attribute)

    return __getattr__
