"""Sweeps on a dask.distributed LocalCluster (loopback only): the same results bitwise as in
process, a killed worker costs only its shard, a killed client resumes from the store."""

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest
import xarray as xr

from richlazy.experiments import runner
from richlazy.sweeps.cluster import cluster_client

SMALL = {
    "taus": (0.1, 1.0),
    "deltas": (0.0, 1.0),
    "seeds": (0, 1, 2, 3),
    "d": 3,
    "n": 10,
    "n_test": 50,
    "width": 6,
    "steps": 300,
}


class Recording:
    """Progress that records every task's total and advances (the CLI's bars, in a list)."""

    def __init__(self, on_advance=None):
        self.tasks, self.on_advance = [], on_advance

    @contextmanager
    def task(self, description, total):
        record = [description, total, 0]
        self.tasks.append(record)

        def advance(steps=1):
            record[2] += steps
            if self.on_advance is not None and "shards" in description:
                self.on_advance(record[2])

        yield advance


@pytest.fixture(scope="module")
def in_process():
    return runner.run("fig1b", overrides=SMALL).results.drop_attrs()


def test_local_cluster_gives_the_in_process_results_bitwise(tmp_path, in_process):
    progress = Recording()
    with cluster_client(workers=2) as client:
        on_cluster = runner.run(
            "fig1b", out=tmp_path, overrides=SMALL, client=client, progress=progress
        )
    assert on_cluster.results.drop_attrs().identical(in_process)
    shards = [task for task in progress.tasks if task[0].endswith("shards")]
    assert shards == [["fig1b: shards", 4, 4]]  # shards done / total, across the cluster


def test_a_killed_worker_costs_only_its_shard(tmp_path, in_process):
    with cluster_client(workers=2) as client:
        pids = sorted(client.run(os.getpid).values())
        killed = []

        def kill_one_worker(done):
            if done == 1:  # the first shard is in; others are running on both workers
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

        overrides = {**SMALL, "steps": 3000}  # shards long enough to be cut off mid-way
        result = runner.run(
            "fig1b",
            out=tmp_path,
            overrides=overrides,
            client=client,
            progress=Recording(kill_one_worker),
        ).results
    assert killed, "no worker was killed"
    reference = runner.run("fig1b", overrides=overrides).results.drop_attrs()
    assert list(result.seed.values) == [0, 1, 2, 3]  # every seed once
    assert result.drop_attrs().identical(reference)


def test_a_killed_client_resumes_from_the_store(tmp_path, in_process):
    overrides = {**SMALL, "steps": 3000}
    settings = [
        f"--set={key}={','.join(map(str, value)) if isinstance(value, tuple) else value}"
        for key, value in overrides.items()
    ]
    command = [sys.executable, "-m", "richlazy", "run", "fig1b", "--workers", "2"]
    command += ["--out", str(tmp_path), *settings]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    first = subprocess.Popen(command, start_new_session=True, **quiet)
    shards = tmp_path / "fig1b" / "shards"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(shards.glob("*.zarr")):
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)  # the client and its local cluster
    first.wait(timeout=30)
    assert list(shards.glob("*.zarr")), "no shard was saved before the kill"
    assert not (tmp_path / "fig1b" / "results.zarr").exists()
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    resumed = xr.open_zarr(tmp_path / "fig1b" / "results.zarr").load()
    reference = runner.run("fig1b", overrides=overrides).results
    assert resumed.drop_attrs().identical(reference.drop_attrs())


def test_cluster_options_are_checked():
    with pytest.raises(ValueError, match="not both"), cluster_client("tcp://127.0.0.1:1", 2):
        pass
    with pytest.raises(ValueError, match=r"^workers"), cluster_client(workers=0):
        pass
    with (
        pytest.raises(ValueError, match="no dask scheduler answers"),
        cluster_client("tcp://127.0.0.1:9", timeout=1.0),
    ):
        pass
