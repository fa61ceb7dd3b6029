"""RunContext.map: one resumable shard per grid point, concatenated in grid order, the same on a
dask LocalCluster (loopback only) as in process."""

import numpy as np
import pytest
import xarray as xr

from richlazy.store import RunDirectory
from richlazy.sweeps import RunContext
from richlazy.sweeps.cluster import cluster_client

GRID = {"seed": (2, 0), "size": (8, 4, 16)}  # deliberately not sorted


def cell(seed, size, progress=None):
    """A shard without the seed dimension (map adds it): the value 100·seed + size."""
    return xr.Dataset(
        {"value": (("size",), [100.0 * seed + size]), "square": ((), float(size) ** 2)},
        coords={"size": [size]},
    )


def expected() -> np.ndarray:
    return np.array([[100.0 * seed + size for size in GRID["size"]] for seed in GRID["seed"]])


def test_shards_are_concatenated_in_grid_order():
    results = RunContext().map(cell, GRID, "cells")
    assert results.value.dims == ("seed", "size")
    assert list(results.seed.values) == [2, 0] and list(results.size.values) == [8, 4, 16]
    np.testing.assert_array_equal(results.value.values, expected())
    np.testing.assert_array_equal(results.square.sel(seed=2).values, [64.0, 16.0, 256.0])
    one = RunContext().map(cell, {"seed": (3,), "size": (5,)}, "one")
    assert float(one.value.squeeze()) == 305.0
    line = RunContext().map(lambda seed, progress: cell(seed, 1), {"seed": (1, 0)}, "line")
    assert line.value.dims == ("seed", "size")
    np.testing.assert_array_equal(line.value.values[:, 0], [101.0, 1.0])


def test_shard_keys_follow_the_key_given(tmp_path):
    def keys(key):
        directory = RunDirectory(tmp_path / str(len(list(tmp_path.iterdir()))), "cells")
        directory.prepare({"grid": "cells"})
        RunContext(directory=directory).map(cell, GRID, "cells", key=key)
        return directory.finished_shards()

    assert keys(None) == sorted(f"seed-{s}-size-{p}" for s in (2, 0) for p in (8, 4, 16))
    assert keys("s{seed}-P-{size}") == sorted(f"s{s}-P-{p}" for s in (2, 0) for p in (8, 4, 16))
    assert keys(lambda seed, size: f"{size}x{seed}") == sorted(
        f"{p}x{s}" for s in (2, 0) for p in (8, 4, 16)
    )


def test_bad_grids_and_keys_are_refused():
    context = RunContext()
    with pytest.raises(ValueError, match="grid must map"):
        context.map(cell, {}, "cells")
    with pytest.raises(ValueError, match=r"grid\['size'\]"):
        context.map(cell, {"seed": (0,), "size": ()}, "cells")
    with pytest.raises(ValueError, match=r"grid\['seed'\]"):
        context.map(cell, {"seed": "01"}, "cells")
    with pytest.raises(ValueError, match="same shard key"):
        context.map(cell, GRID, "cells", key="seed-{seed}")
    with pytest.raises(TypeError, match="key must be"):
        context.map(cell, GRID, "cells", key=3)


def test_an_interrupted_map_resumes_with_its_finished_shards(tmp_path):
    directory = RunDirectory(tmp_path, "cells")
    directory.prepare({"grid": "cells"})
    calls = []

    def failing(seed, size, progress=None):
        if len(calls) == 2:
            raise KeyboardInterrupt  # the run is stopped during its third shard
        calls.append((seed, size))
        return cell(seed, size)

    with pytest.raises(KeyboardInterrupt):
        RunContext(directory=directory).map(failing, GRID, "cells")
    assert calls == [(2, 8), (2, 4)]  # grid order: the first name varies slowest
    assert directory.finished_shards() == ["seed-2-size-4", "seed-2-size-8"]
    calls.clear()

    def counting(seed, size, progress=None):
        calls.append((seed, size))
        return cell(seed, size)

    resumed = RunContext(directory=RunDirectory(tmp_path, "cells")).map(counting, GRID, "cells")
    assert calls == [(2, 16), (0, 8), (0, 4), (0, 16)]  # only the shards not finished
    assert resumed.identical(RunContext().map(cell, GRID, "cells"))


def test_kept_shards_are_reused_by_another_map(tmp_path):
    first = RunDirectory(tmp_path, "first")
    first.prepare({"grid": "cells"})
    RunContext(directory=first).map(cell, GRID, "cells", keep=True)
    second = RunDirectory(tmp_path, "second")
    second.prepare({"grid": "cells"})
    context = RunContext(directory=second)

    def refuse(seed, size, progress=None):
        raise AssertionError("a kept shard was computed again")

    reused = context.map(refuse, GRID, "cells", reuse=lambda key: context.load_state("first", key))
    np.testing.assert_array_equal(reused.value.values, expected())


class Counting:
    """Progress that records each task's description, total and steps done."""

    def __init__(self):
        self.tasks = []

    def task(self, description, total):
        from contextlib import contextmanager

        @contextmanager
        def counted():
            record = [description, total, 0]
            self.tasks.append(record)

            def advance(steps=1):
                record[2] += steps

            yield advance

        return counted()


def test_a_map_on_a_local_cluster_gives_the_in_process_results(tmp_path):
    in_process = RunContext().map(cell, GRID, "cells")
    directory = RunDirectory(tmp_path, "cells")
    directory.prepare({"grid": "cells"})
    progress = Counting()
    with cluster_client(workers=2) as client:
        on_cluster = RunContext(directory=directory, progress=progress, client=client).map(
            lambda seed, size, progress: cell(seed, size), GRID, "cells"
        )
    assert on_cluster.identical(in_process)  # the same shards, concatenated in grid order
    assert progress.tasks == [["cells: shards", 6, 6]]
    assert len(directory.finished_shards()) == 6  # the client wrote every shard
