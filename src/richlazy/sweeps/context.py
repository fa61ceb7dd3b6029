"""What a running sweep may use: where finished shards are kept, progress reporting, and where
the shards are computed (in this process, or as tasks on a dask.distributed cluster).

A sweep is split into shards (one seed of a two-layer grid, say); each shard is computed once
and saved, so an interrupted run resumes with the shards it finished (``richlazy.store``). On a
cluster, workers only compute: the client writes every shard, atomically, as it arrives, so a
worker that dies loses at most the shard it was computing, which the scheduler runs again.

An experiment says what its shards are with :meth:`RunContext.map`: a function and a grid of
its arguments (``{"seed": seeds, "train_size": sizes}``), one shard per point of the grid, the
shards concatenated into one Dataset along the grid's names.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
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

    def map(
        self,
        fn: Callable[..., xr.Dataset],
        grid: Mapping[str, Sequence[Any]],
        label: str,
        *,
        key: str | Callable[..., str] | None = None,
        reuse: Callable[[str], xr.Dataset | None] | None = None,
        keep: bool = False,
    ) -> xr.Dataset:
        """``fn(**point, progress=...)`` at every point of ``grid``, one resumable shard each
        (:meth:`shards`: finished ones loaded, the others computed here or on the cluster),
        concatenated along the grid's names.

        The points are the product of the grid's values, the first name varying slowest. A
        shard lacking a grid name as a dimension gets it, of length one (its point's value).

        Args:
            fn: a point's values as keywords, and ``progress`` (where the shard reports its own
                progress) -> the shard's results.
            grid: name -> its values, e.g. ``{"seed": (0, 1), "train_size": (32, 64)}``.
            label: progress bar text.
            key: a shard's key (its name in the store) from its point: a format string such as
                ``"seed-{seed}-P-{train_size}"`` or a function of the point's values; None joins
                "name-value" pairs with "-" (``"seed-0"``, ``"seed-0-train_size-32"``).
            reuse: key -> a finished shard found elsewhere (another experiment's kept state) or
                None; a shard found there is used instead of computed.
            keep: also keep every shard as a state beyond the run's end (:meth:`save_state`),
                where another experiment's ``reuse`` can find it.

        Returns:
            The shards concatenated along the grid's names in grid order (``xarray.concat`` for
            one name, ``xarray.combine_nested`` for several; an outer join, attributes kept
            where the shards agree).

        Raises:
            ValueError: an empty grid, a name without values, or two points with one key.
        """
        if not isinstance(grid, Mapping) or not grid:
            raise ValueError(f"grid must map names to their values, got {grid!r}")
        for name, values in grid.items():
            if isinstance(values, str) or not isinstance(values, Sequence) or not values:
                raise ValueError(f"grid[{name!r}] must be a non-empty sequence, got {values!r}")
        names = list(grid)
        points = [
            dict(zip(names, values, strict=True)) for values in itertools.product(*grid.values())
        ]
        keyed = _key_of(key, names)
        keys = [keyed(point) for point in points]
        if len(set(keys)) < len(keys):
            raise ValueError(f"key gives two points of the grid the same shard key: {keys}")
        tasks = {}
        for shard_key, point in zip(keys, points, strict=True):
            found = None if reuse is None else reuse(shard_key)
            tasks[shard_key] = (
                partial(_found, found) if found is not None else partial(_at, fn, point)
            )
        shards = self.shards(tasks, label)
        if keep:
            for shard_key, shard in shards.items():
                self.save_state(shard_key, shard)
        parts = [
            _with_dims(shards[shard_key], point)
            for shard_key, point in zip(keys, points, strict=True)
        ]
        # xarray's long-standing defaults, spelled out (they are changing): every variable is
        # concatenated, coordinates where they differ, and the grid's values joined outer
        options = {"data_vars": "all", "coords": "different", "join": "outer"}
        if len(names) == 1:
            return xr.concat(
                parts, dim=names[0], compat="equals", combine_attrs="drop_conflicts", **options
            )
        nested: Any = parts
        for size in reversed([len(values) for values in grid.values()][1:]):
            nested = [nested[i : i + size] for i in range(0, len(nested), size)]
        return xr.combine_nested(
            nested,
            concat_dim=names,
            compat="no_conflicts",
            combine_attrs="drop_conflicts",
            **options,
        )

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


def _key_of(key: str | Callable[..., str] | None, names: list[str]) -> Callable[[dict], str]:
    """A point -> its shard key, from :meth:`RunContext.map`'s ``key``."""
    if key is None:
        return lambda point: "-".join(f"{name}-{point[name]}" for name in names)
    if isinstance(key, str):
        return lambda point: key.format(**point)
    if callable(key):
        return lambda point: key(**point)
    raise TypeError(f"key must be a format string, a function or None, got {key!r}")


def _at(fn: Callable[..., xr.Dataset], point: dict, progress: Progress) -> xr.Dataset:
    return fn(**point, progress=progress)


def _found(shard: xr.Dataset, progress: Progress) -> xr.Dataset:
    return shard


def _with_dims(shard: xr.Dataset, point: dict) -> xr.Dataset:
    """``shard`` with every name of ``point`` as a dimension (of length one where missing)."""
    missing = {name: [value] for name, value in point.items() if name not in shard.dims}
    return shard.expand_dims(missing) if missing else shard
