"""Integrity, repair, atomicity and the one-writer lock of result directories (issue 17).

Every stored zarr store carries the sha256 and size of each of its files and the hash of its
config; damage is named with the file and the command that recomputes it, --overwrite repairs
it, a killed run's leftovers are cleaned by the next run, and two runs never write one store.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from richlazy import store
from richlazy.experiments import runner
from richlazy.store import (
    MANIFEST,
    DamagedResultsError,
    NoResultsError,
    RunDirectory,
    StoreError,
    StoreLockedError,
    StoreWarning,
    disk_error_message,
    write_zarr_atomic,
)

CONFIG = {"lr": 0.1}


def dataset(value=1.0):
    return xr.Dataset(
        {"loss": (("step",), np.full(3, value)), "other": (("step",), np.arange(3.0))},
        coords={"step": [0, 10, 100]},
    )


def finished(tmp_path, name="demo"):
    run = RunDirectory(tmp_path, name)
    run.prepare(CONFIG)
    run.save_results(dataset(), seconds=0.0)
    return run


def a_chunk(run) -> Path:
    return run.results_path / "loss" / "0"


def test_every_file_of_a_store_is_in_its_manifest_deterministically(tmp_path):
    write_zarr_atomic(dataset(), tmp_path / "a.zarr", config=CONFIG)
    write_zarr_atomic(dataset(), tmp_path / "b.zarr", config=CONFIG)
    manifest = json.loads((tmp_path / "a.zarr" / MANIFEST).read_text())
    files = {
        p.relative_to(tmp_path / "a.zarr").as_posix()
        for p in (tmp_path / "a.zarr").rglob("*")
        if p.is_file()
    } - {MANIFEST}
    assert set(manifest["files"]) == files and "loss/0" in files
    for name in sorted(files | {MANIFEST}):  # identical writes are byte-identical, manifest too
        assert (tmp_path / "a.zarr" / name).read_bytes() == (
            tmp_path / "b.zarr" / name
        ).read_bytes()


@pytest.mark.parametrize("damage", ["delete", "truncate", "flip", "zmetadata", "manifest"])
def test_damaged_results_are_named_with_the_command_that_recomputes_them(tmp_path, damage):
    run = finished(tmp_path)
    chunk = a_chunk(run)
    if damage == "delete":
        chunk.unlink()
    elif damage == "truncate":
        chunk.write_bytes(chunk.read_bytes()[:5])
    elif damage == "flip":
        data = bytearray(chunk.read_bytes())
        data[-1] ^= 1
        chunk.write_bytes(bytes(data))
    elif damage == "zmetadata":
        chunk = run.results_path / ".zmetadata"
        chunk.write_text("garbage")
    else:
        chunk = run.results_path / MANIFEST
        chunk.write_text("[1, 2]")
    with pytest.raises(DamagedResultsError) as error:
        run.load_results()
    assert str(chunk) in str(error.value)
    assert "richlazy run demo --out" in str(error.value) and "--overwrite" in str(error.value)
    assert error.value.path == chunk
    with pytest.raises(DamagedResultsError):  # a rerun without --overwrite refuses too
        RunDirectory(tmp_path, "demo").prepare(CONFIG)
    assert RunDirectory(tmp_path, "demo").prepare(CONFIG, overwrite=True) is False  # repaired
    assert not run.has_results()


@pytest.mark.parametrize("text", ["garbage", "[1, 2]", '{"config": 3}', ""])
def test_a_damaged_config_is_named_and_overwrite_repairs_it(tmp_path, text):
    run = finished(tmp_path)
    run.config_path.write_text(text)
    for call in (run.load_results, lambda: run.prepare(CONFIG)):
        with pytest.raises(DamagedResultsError, match=r"config.json is damaged.*--overwrite"):
            call()
    assert run.prepare(CONFIG, overwrite=True) is False
    assert json.loads(run.config_path.read_text())["config"] == CONFIG


def test_results_of_another_config_than_config_json_are_refused(tmp_path):
    run = finished(tmp_path)
    record = json.loads(run.config_path.read_text())
    record["config"] = {"lr": 0.2}  # e.g. a second writer replaced the config
    run.config_path.write_text(json.dumps(record))
    with pytest.raises(DamagedResultsError, match=r"another configuration than its config\.json"):
        run.load_results()


def test_no_results_is_not_damage(tmp_path):
    with pytest.raises(NoResultsError, match="richlazy run demo"):
        RunDirectory(tmp_path, "demo").load_results()
    assert not issubclass(NoResultsError, DamagedResultsError)
    assert issubclass(DamagedResultsError, StoreError) and issubclass(NoResultsError, StoreError)


def test_results_of_richlazy_0_2_without_a_manifest_are_still_read(tmp_path):
    run = finished(tmp_path)
    (run.results_path / MANIFEST).unlink()
    xr.testing.assert_identical(run.load_results(), dataset())


def test_a_damaged_shard_is_recomputed_with_a_warning(tmp_path):
    run = RunDirectory(tmp_path, "demo")
    run.prepare(CONFIG)
    calls = []

    def compute():
        calls.append(1)
        return dataset(2.0)

    run.shard("seed-0", compute)
    chunk = run.shards_path / "seed-0.zarr" / "loss" / "0"
    chunk.write_bytes(b"x")
    with pytest.warns(StoreWarning, match="seed-0.zarr/loss/0 is damaged"):
        again = RunDirectory(tmp_path, "demo").shard("seed-0", compute)
    assert len(calls) == 2
    xr.testing.assert_identical(again, dataset(2.0))


def test_shards_of_another_config_are_not_reused(tmp_path):
    run = RunDirectory(tmp_path, "demo")
    run.prepare(CONFIG)
    run.shard("seed-0", lambda: dataset(1.0))
    record = json.loads(run.config_path.read_text())
    record["config"] = {"lr": 0.3}
    run.config_path.write_text(json.dumps(record))
    with pytest.warns(StoreWarning, match="another configuration"):
        redone = run.shard("seed-0", lambda: dataset(3.0))
    xr.testing.assert_identical(redone, dataset(3.0))


def test_leftovers_of_a_killed_run_are_cleaned_by_the_next_run(tmp_path):
    run = RunDirectory(tmp_path, "demo")
    run.prepare(CONFIG)
    run.shard("seed-0", lambda: dataset(1.0))
    # Killed while writing the results' temporary copy, and while writing a shard:
    (run.path / ".results.zarr.tmp-999-deadbeef").mkdir()
    (run.path / ".results.zarr.tmp-999-deadbeef" / "junk").write_bytes(b"0" * 1000)
    (run.shards_path / ".seed-1.zarr.tmp-999-cafecafe").mkdir()
    (run.path / ".config.json.tmp-999-00000000").write_text("{")
    assert RunDirectory(tmp_path, "demo").prepare(CONFIG) is False
    assert sorted(p.name for p in run.path.iterdir()) == ["config.json", "shards"]
    assert sorted(p.name for p in run.shards_path.iterdir()) == ["seed-0.zarr"]


def test_results_renamed_before_the_config_was_marked_complete_are_finished(tmp_path):
    run = RunDirectory(tmp_path, "demo")
    run.prepare(CONFIG)
    run.shard("seed-0", lambda: dataset(1.0))
    write_zarr_atomic(dataset(), run.results_path, config=CONFIG)  # killed right after this
    assert json.loads(run.config_path.read_text())["status"] == "running"
    assert RunDirectory(tmp_path, "demo").prepare(CONFIG) is True  # reused, and finished:
    assert json.loads(run.config_path.read_text())["status"] == "complete"
    assert not run.shards_path.exists()


def test_a_full_disk_leaves_no_temporary_file_and_says_so(tmp_path, monkeypatch):
    run = RunDirectory(tmp_path, "demo")
    real = Path.write_text

    def full(self, *args, **kwargs):
        if self.name.startswith(".config.json.tmp-"):
            real(self, "{")  # a partial write, then the disk is full
            raise OSError(28, "No space left on device", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OSError, match="No space left") as error:
        run.prepare(CONFIG)
    monkeypatch.undo()
    assert list(run.path.glob(".*tmp-*")) == []
    assert "free some space" in disk_error_message(error.value)
    assert str(run.path) in disk_error_message(error.value)


HOLD = """
import sys, time
from richlazy.store import RunDirectory
with RunDirectory(sys.argv[1], "demo").lock():
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold_lock(tmp_path, seconds):
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")},
    )
    assert process.stdout.readline().strip() == "locked"
    return process


def test_a_second_writer_is_refused_and_named(tmp_path, within):
    holder = hold_lock(tmp_path, 30)
    try:
        with (
            within(5),
            pytest.raises(StoreLockedError) as error,
            RunDirectory(tmp_path, "demo").lock(),
        ):
            pass
        assert f"pid {holder.pid}" in str(error.value) and "another --out" in str(error.value)
        with pytest.raises(StoreLockedError):  # nor may anyone prepare or read it meanwhile
            RunDirectory(tmp_path, "demo").prepare(CONFIG)
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_of_a_killed_run_does_not_block_the_next_one(tmp_path, within):
    holder = hold_lock(tmp_path, 30)
    holder.kill()  # SIGKILL: no cleanup ran, the lock file stays
    holder.wait()
    assert (tmp_path / "demo" / ".lock").exists()
    assert str(holder.pid) in (tmp_path / "demo" / ".lock").read_text()
    with within(5), RunDirectory(tmp_path, "demo").lock():
        record = json.loads((tmp_path / "demo" / ".lock").read_text())
        assert record["pid"] == os.getpid() and {"host", "started"} <= set(record)
    assert not (tmp_path / "demo" / ".lock").exists()


def test_the_lock_is_kept_by_clear_and_overwrite(tmp_path):
    run = finished(tmp_path)
    with run.lock():
        assert run.prepare({"lr": 0.5}, overwrite=True) is False
        assert run.lock_path.exists()


def test_the_lock_is_reentrant_within_one_directory_and_exclusive_across_them(tmp_path, within):
    run = RunDirectory(tmp_path, "demo")
    with run.lock():
        record = run.lock_path.read_text()
        with run.lock():  # nested: the same hold, the same record; its own lock does not refuse
            run.check_not_locked()
            assert run.lock_path.read_text() == record
        assert taken_elsewhere(run.lock_path)  # leaving the inner level kept the lock
        other = RunDirectory(tmp_path, "demo")  # another object, as another run would be
        with (
            within(5),
            pytest.raises(StoreLockedError, match=f"pid {os.getpid()} on"),
            other.lock(),
        ):
            pass
        with pytest.raises(StoreLockedError, match="before you read it"):
            other.check_not_locked()
        assert run.lock_path.read_text() == record  # the refused attempts left the record
    assert not run.lock_path.exists() and not taken_elsewhere(run.lock_path)
    other.check_not_locked()


def test_a_reader_probing_the_lock_does_not_refuse_a_starting_writer(tmp_path, monkeypatch):
    """A reader's shared probe that holds the file at the writer's first attempt makes the
    writer look again (the probe has ended by then), not refuse with no holder to name."""
    import fcntl

    run = RunDirectory(tmp_path, "demo")
    run.path.mkdir()
    probe = os.open(run.lock_path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)  # as _holder_if_locked holds it
    looks = []
    real = store._holder_if_locked

    def probe_ends(path):
        looks.append(path)
        os.close(probe)  # the reader is done
        return real(path)

    monkeypatch.setattr(store, "_holder_if_locked", probe_ends)
    with run.lock():
        assert json.loads(run.lock_path.read_text())["pid"] == os.getpid()
    assert looks == [run.lock_path]  # refused once (the probe held it), then taken


def test_runner_holds_the_lock_while_it_runs(tmp_path, monkeypatch):
    held = []
    real = RunDirectory.save_results

    def save(self, *args, **kwargs):
        held.append(taken_elsewhere(self.lock_path))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(RunDirectory, "save_results", save)
    runner.run("fig3", out=tmp_path, overrides={"time_points": 11})
    assert held == [True]
    assert not taken_elsewhere(tmp_path / "fig3" / ".lock")


def taken_elsewhere(path: Path) -> bool:
    """Whether another open file (as another process would have) fails to take the lock."""
    import fcntl

    if not path.exists():
        return False
    descriptor = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False


def test_identical_runs_are_byte_identical_with_their_checksums(tmp_path):
    for out in ("a", "b"):
        runner.run("fig3", out=tmp_path / out, overrides={"time_points": 11})
    first, second = (tmp_path / out / "fig3" / "results.zarr" for out in ("a", "b"))
    names = sorted(p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file())
    assert MANIFEST in names
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_redraw_into_a_read_only_directory_suggests_out(tmp_path, monkeypatch):
    runner.run("fig3", out=tmp_path, overrides={"time_points": 11})
    monkeypatch.setattr(RunDirectory, "writable", lambda self: False)
    with pytest.raises(StoreError, match=r"not writable.*pass --out DIR"):
        runner.redraw("fig3", tmp_path)


def test_summarize_tells_missing_from_broken_results(tmp_path):
    runner.run("fig3", out=tmp_path, overrides={"time_points": 11})
    with pytest.raises(NoResultsError):
        runner.summarize("fig8", tmp_path)
    (tmp_path / "fig3" / "config.json").write_text("{")
    with pytest.raises(DamagedResultsError, match=r"fig3/config\.json"):
        runner.summarize("fig3", tmp_path)
