"""Shards as tasks on a dask.distributed cluster (docs/architecture.md, docs/cluster.md).

``richlazy run NAME --scheduler ADDRESS`` connects to a running cluster; ``--workers N`` starts a
LocalCluster of N single-threaded worker processes on this machine (loopback only). Workers
compute shards and send them back; the client alone writes the store. A worker that dies takes
only the shard it was computing, which the scheduler gives to another worker.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import xarray as xr

from richlazy._validate import positive_integer
from richlazy.runtime import SilentProgress, torch_threads


def _on_worker(task, threads: int) -> xr.Dataset:
    """Run a shard's task on a worker with the client's torch thread count, so that a sweep
    computes the same numbers on the cluster as in the client's process."""
    with torch_threads(threads):
        return task(SilentProgress())


def computed_on(client: Any, tasks: Mapping[str, Any]) -> Iterator[tuple[str, xr.Dataset]]:
    """Submit every task to ``client`` and yield (key, results) as each one finishes."""
    import torch
    from distributed import as_completed

    threads = torch.get_num_threads()
    run = uuid.uuid4().hex[:8]
    futures = {
        client.submit(_on_worker, task, threads, key=f"richlazy-{key}-{run}", pure=False): key
        for key, task in tasks.items()
    }
    for future in as_completed(futures):
        yield futures[future], future.result()


@contextmanager
def cluster_client(
    scheduler: str | None = None, workers: int | None = None, *, timeout: float = 10.0
) -> Iterator[Any]:
    """A dask.distributed Client for ``scheduler`` (an address such as tcp://host:8786), or for
    a new LocalCluster of ``workers`` processes; None when neither is given (in-process runs).
    ``timeout``: seconds to wait for the scheduler to answer.

    Raises:
        ValueError: both given, a bad worker count, dask.distributed missing, or no scheduler
            answering at the address.
    """
    if scheduler is None and workers is None:
        yield None
        return
    if scheduler is not None and workers is not None:
        raise ValueError("give --scheduler ADDRESS or --workers N, not both")
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ValueError(
            "dask.distributed is not installed: pip install 'richlazy[dask]'"
        ) from None
    if workers is not None:
        workers = positive_integer("workers", workers)
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as local,
            Client(local) as client,
        ):
            yield client
        return
    try:
        client = Client(scheduler, timeout=f"{timeout}s")
    except (OSError, TimeoutError) as error:
        raise ValueError(f"no dask scheduler answers at --scheduler {scheduler}: {error}") from None
    with client:
        yield client
