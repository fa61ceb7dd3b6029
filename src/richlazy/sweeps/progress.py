"""Progress reporting for long runs: the protocol the CLI's progress bars fulfil, and a silent
one for library use, tests and shards computed on cluster workers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol


class Progress(Protocol):
    """Progress reporting a run may use; the CLI supplies progress bars."""

    def task(self, description: str, total: int) -> Any:
        """A context manager yielding ``advance(steps=1)``."""


class SilentProgress:
    """Progress that shows nothing (library use, tests, and shards computed on workers)."""

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        yield lambda steps=1: None
