"""What a running sweep may use: where finished shards are kept, progress reporting, and where
the shards are computed (in this process, or as tasks on a dask.distributed cluster).

A sweep is split into shards (one seed of a two-layer grid, say); each shard is computed once
and saved, so an interrupted run resumes with the shards it finished (``richlazy.store``). On a
cluster, workers only compute: the client writes every shard, atomically, as it arrives, so a
worker that dies loses at most the shard it was computing, which the scheduler runs again.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import xarray as xr

from richlazy.store import (
    STATES,
    DamagedResultsError,
    RunDirectory,
    StoreWarning,
    open_zarr_verified,
    write_zarr_atomic,
)
from richlazy.sweeps.progress import Progress, SilentProgress

# A shard's computation: given where to report its own progress, its labeled results.
ShardTask = Callable[[Progress], xr.Dataset]


@dataclass
class RunContext:
    """What a running experiment may use besides its config.

    Attributes:
        directory: where shards are saved for resuming; None runs everything in memory.
        progress: progress reporting.
        client: a ``dask.distributed.Client`` to compute shards on, or None (in this process).
    """

    directory: RunDirectory | None = None
    progress: Progress = field(default_factory=SilentProgress)
    client: Any = None

    def shard(self, key: str, compute: Callable[[], xr.Dataset]) -> xr.Dataset:
        """A piece of a sweep: loaded if a previous run finished it, else computed and saved."""
        if self.directory is None:
            return compute()
        return self.directory.shard(key, compute)

    def shards(self, tasks: Mapping[str, ShardTask], label: str) -> dict[str, xr.Dataset]:
        """Every shard of ``tasks`` (key -> task): finished ones loaded, the others computed
        here or on the cluster, each saved as soon as it is done; progress counts shards.

        Returns:
            key -> results, in the order of ``tasks``.
        """
        done: dict[str, xr.Dataset] = {}
        with self.progress.task(f"{label}: shards", total=len(tasks)) as shards_done:
            pending = {}
            for key, task in tasks.items():
                stored = self._stored_shard(key)
                if stored is None:
                    pending[key] = task
                else:
                    done[key] = stored
                    shards_done(1)
            if self.client is None:
                for key, task in pending.items():
                    done[key] = self.shard(key, lambda task=task: task(self.progress))
                    shards_done(1)
            else:
                from richlazy.sweeps.cluster import computed_on  # loads dask: only on use

                for key, results in computed_on(self.client, pending):
                    self._save_shard(key, results)
                    done[key] = results
                    shards_done(1)
        return {key: done[key] for key in tasks}

    def _stored_shard(self, key: str) -> xr.Dataset | None:
        return None if self.directory is None else self.directory.load_shard(key)

    def _save_shard(self, key: str, results: xr.Dataset) -> None:
        if self.directory is not None:
            self.directory.shard(key, lambda: results)

    def state_path(self, experiment: str, key: str):
        """Where experiment ``experiment`` of this run's output keeps the state ``key``, or None
        for an in-memory run."""
        if self.directory is None:
            return None
        return self.directory.root / experiment / STATES / f"{key}.zarr"

    def save_state(self, key: str, state: xr.Dataset) -> None:
        """Keep ``state`` (a shard with what continuing it needs) beyond the run's end."""
        path = self.state_path(self.directory.name, key) if self.directory else None
        if path is not None and not path.is_dir():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_zarr_atomic(state, path)

    def load_state(self, experiment: str, key: str) -> xr.Dataset | None:
        """The state ``key`` kept by ``experiment`` in this run's output, if any."""
        path = self.state_path(experiment, key)
        if path is None or not path.is_dir():
            return None
        try:
            return open_zarr_verified(path, fix="the run starts from step 0 instead")
        except DamagedResultsError as error:  # a damaged state is only a lost shortcut
            warnings.warn(str(error), StoreWarning, stacklevel=2)
            return None
