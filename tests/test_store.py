"""Result directories: atomic writes, resume, refusal of a different config, clear errors."""

import json

import numpy as np
import pytest
import xarray as xr

from richlazy.store import RunDirectory, StoreError, write_zarr_atomic


def dataset(value=1.0):
    return xr.Dataset({"loss": (("step",), np.full(3, value))}, coords={"step": [0, 10, 100]})


def test_prepare_save_and_reuse(tmp_path):
    run = RunDirectory(tmp_path, "demo")
    assert run.prepare({"lr": 0.1}) is False
    assert json.loads(run.config_path.read_text())["status"] == "running"
    run.save_results(dataset(), seconds=1.5)
    stored = json.loads(run.config_path.read_text())
    assert stored["status"] == "complete" and stored["config"] == {"lr": 0.1}
    assert "git_revision" in stored["provenance"]
    xr.testing.assert_identical(run.load_results(), dataset())
    assert RunDirectory(tmp_path, "demo").prepare({"lr": 0.1}) is True


def test_different_config_is_refused_unless_overwrite(tmp_path):
    run = RunDirectory(tmp_path, "demo")
    run.prepare({"lr": 0.1})
    run.save_results(dataset(), seconds=0.0)
    with pytest.raises(StoreError, match="different configuration"):
        run.prepare({"lr": 0.2})
    assert run.prepare({"lr": 0.2}, overwrite=True) is False
    assert not run.has_results()


def test_a_run_that_failed_before_computing_anything_does_not_block_another_config(tmp_path):
    run = RunDirectory(tmp_path, "demo")
    run.prepare({"data_dir": ""})  # then failed: no shard, no results
    assert run.prepare({"data_dir": "/data"}) is False  # replaced without --overwrite
    assert json.loads(run.config_path.read_text())["config"] == {"data_dir": "/data"}
    run.shard("cell-0", dataset)
    with pytest.raises(StoreError, match="different configuration"):  # a shard is work
        RunDirectory(tmp_path, "demo").prepare({"data_dir": "/other"})


def test_shards_are_computed_once_and_resumed(tmp_path):
    run = RunDirectory(tmp_path, "demo")
    run.prepare({"grid": [1, 2]})
    calls = []

    def compute():
        calls.append(1)
        return dataset(2.0)

    first = run.shard("cell-0", compute)
    again = RunDirectory(tmp_path, "demo").shard("cell-0", compute)  # a "rerun"
    assert len(calls) == 1
    xr.testing.assert_identical(first, again)
    assert run.finished_shards() == ["cell-0"]
    run.save_results(dataset(), seconds=0.0)
    assert run.finished_shards() == []  # shards are dropped once results are complete


def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    target = tmp_path / "results.zarr"
    write_zarr_atomic(dataset(1.0), target)

    def broken(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_zarr", broken)
    with pytest.raises(OSError, match="disk full"):
        write_zarr_atomic(dataset(5.0), target)
    monkeypatch.undo()
    xr.testing.assert_identical(xr.open_zarr(target).load(), dataset(1.0))
    assert [p.name for p in tmp_path.iterdir()] == ["results.zarr"]


def test_unwritable_out_gives_a_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="--out"):
        RunDirectory(blocker, "demo").prepare({})


def test_loading_missing_results_says_how_to_fix(tmp_path):
    with pytest.raises(StoreError, match="richlazy run demo"):
        RunDirectory(tmp_path, "demo").load_results()
