"""The optional packages of the logger adapters, imported when an adapter first needs them."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require"]


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """``import module``, or one line that says which extra installs it.

    Raises:
        ModuleNotFoundError: the package is not installed.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            f"{purpose} needs the {extra} package: pip install 'richlazy[{extra}]'",
            name=error.name,
        ) from None
