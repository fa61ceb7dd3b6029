"""What the logger adapters share: their optional packages, imported when an adapter first needs
them, and ``ScalarLogger``, the monitor-and-prefix base of the TensorBoard and W&B adapters."""

from __future__ import annotations

import importlib
from types import ModuleType

from richlazy.nn.monitor import FeatureMonitor

__all__ = ["ScalarLogger", "require"]


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


class ScalarLogger:
    """A FeatureMonitor's ``scalars(step)`` written somewhere as ``prefix + name``: calling it
    records on the monitor's schedule and hands each record to ``write`` (the subclass's)."""

    def __init__(self, monitor: FeatureMonitor, prefix: str) -> None:
        if not isinstance(monitor, FeatureMonitor):
            raise TypeError(f"monitor must be a FeatureMonitor, got {type(monitor).__name__}")
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
        self.monitor, self.prefix = monitor, prefix

    def __call__(self, step: int) -> bool:
        """Record and write at ``step`` if the monitor's schedule says so; whether it did."""
        if not self.monitor.maybe_log(step):
            return False
        self.write(step)
        return True

    def write(self, step: int) -> None:
        """Write the record at ``step`` (recorded now if it is not yet)."""
        raise NotImplementedError
