"""What a running sweep may use: where finished shards are kept, and progress reporting.

A sweep is split into shards (one seed of a two-layer grid, say); each shard is computed once
and saved, so an interrupted run resumes with the shards it finished (``richlazy.store``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import xarray as xr

from richlazy.store import RunDirectory


class Progress(Protocol):
    """Progress reporting a run may use; the CLI supplies progress bars."""

    def task(self, description: str, total: int) -> Any:
        """A context manager yielding ``advance(steps=1)``."""


class SilentProgress:
    """Progress that shows nothing (library use and tests)."""

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        yield lambda steps=1: None


@dataclass
class RunContext:
    """What a running experiment may use besides its config.

    Attributes:
        directory: where shards are saved for resuming; None runs everything in memory.
        progress: progress reporting.
    """

    directory: RunDirectory | None = None
    progress: Progress = field(default_factory=SilentProgress)

    def shard(self, key: str, compute: Callable[[], xr.Dataset]) -> xr.Dataset:
        """A piece of a sweep: loaded if a previous run finished it, else computed and saved."""
        if self.directory is None:
            return compute()
        return self.directory.shard(key, compute)
