"""Results on disk: DIR/NAME/ with results.zarr, config.json and figures (docs/architecture.md).

What a result directory promises (docs/guarantees.md):

- **Atomic writes.** A file or zarr store is written beside its target under a temporary name
  and renamed into place, so an interrupted run never leaves a half-written result; temporary
  copies left by a killed run are removed by the next run of that directory.
- **Resume.** Sweeps save finished shards under ``shards/`` the same way; a rerun with the same
  configuration loads them instead of recomputing, and a rerun with a different configuration
  is refused unless the caller asks to overwrite (which also repairs a damaged directory).
- **Integrity.** Every zarr store is written with a manifest of the sha256 and size of each of
  its files and the hash of the configuration it was computed for (``.richlazy-checksums.json``
  inside the store; deterministic, so identical runs stay byte-identical). Results are verified
  whenever they are read (reuse, ``--from``, ``report``) and shards whenever they are reused: a
  deleted, truncated or altered file, or results of another configuration than config.json
  says, is a :class:`DamagedResultsError` naming the file and the command that recomputes it;
  a damaged shard is recomputed.
- **One writer.** :meth:`RunDirectory.lock` holds an exclusive lock on DIR/NAME: the OS lock
  that ``filelock`` takes on ``DIR/NAME/.lock`` (the OS releases it when the holder dies, so a
  stale lock never blocks). On top of it the store keeps what filelock does not do: the file
  records the holder's pid, host and start time; a second run of the same directory is refused
  at once with :class:`StoreLockedError` naming that holder (never waits); the lock is
  re-entrant within one :class:`RunDirectory`; the file is removed on release; readers refuse a
  directory being written through a shared probe that never blocks another reader
  (docs/guarantees.md).

The errors are ``StoreError`` (a ``ValueError``) subclasses, whose messages say how to fix the
problem: :class:`NoResultsError` (nothing finished here), :class:`DamagedResultsError` (something
here is broken), :class:`StoreLockedError` (another run writes here).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import platform
import shlex
import shutil
import socket
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import filelock
import xarray as xr

from richlazy import _source

try:  # the readers' shared probe of the lock (_holder_if_locked)
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None

RESULTS = "results.zarr"
CONFIG = "config.json"
SHARDS = "shards"
STATES = "states"  # kept states a longer run continues from (richlazy.sweeps.context)
LOCK = ".lock"
MANIFEST = ".richlazy-checksums.json"  # inside each zarr store
ZARR_FORMAT = 2  # readable by zarr-python 2 and 3 alike
_TEMPORARY = ".tmp-"  # in the names of temporary siblings (see _temporary_sibling)


class StoreError(ValueError):
    """A result directory cannot be used as asked; the message says how to fix it."""


class NoResultsError(StoreError):
    """There are no finished results of this experiment in this directory (nothing is broken)."""


class DamagedResultsError(StoreError):
    """Stored results or their config exist but are damaged, incomplete or contradict each
    other; the message names the file and the command that recomputes it.

    Attributes:
        path: the damaged file or store.
    """

    def __init__(self, message: str, path: Path | None = None):
        super().__init__(message)
        self.path = path


class StoreLockedError(StoreError):
    """Another run is writing this result directory (the message names it)."""


def _temporary_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _replace(temporary: Path, target: Path) -> None:
    """Move ``temporary`` onto ``target`` (file or directory) as atomically as the OS allows."""
    if temporary.is_dir() and target.exists():
        trash = _temporary_sibling(target)
        os.replace(target, trash)
        os.replace(temporary, target)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(temporary, target)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (nothing is left behind
    if writing fails, e.g. on a full disk)."""
    temporary = _temporary_sibling(path)
    try:
        temporary.write_text(text)
        _replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_zarr_atomic(dataset: xr.Dataset, path: Path, *, config: Any = None) -> None:
    """Write ``dataset`` as a zarr store at ``path`` through a temporary store and a rename.

    The store holds a manifest of its files' sizes and sha256 hashes and of ``config_hash``
    (:func:`verify_zarr` checks both).

    Args:
        config: the configuration the data was computed for (a JSON-able mapping), or None.
    """
    temporary = _temporary_sibling(path)
    try:
        dataset.to_zarr(temporary, mode="w", zarr_format=ZARR_FORMAT, consolidated=True)
        manifest = {"config_sha256": config_hash(config), "files": _file_digests(temporary)}
        (temporary / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        _replace(temporary, path)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def config_hash(config: Any) -> str | None:
    """sha256 of the canonical JSON of a configuration (None for None)."""
    if config is None:
        return None
    canonical = json.dumps(to_json(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _file_digests(store: Path) -> dict[str, dict[str, Any]]:
    """{relative path: {"size", "sha256"}} of every file of a store but its manifest, sorted."""
    digests = {}
    for file in sorted(p for p in store.rglob("*") if p.is_file()):
        relative = file.relative_to(store).as_posix()
        if relative != MANIFEST:
            digests[relative] = {"size": file.stat().st_size, "sha256": _sha256(file)}
    return digests


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_zarr(path: Path, config: Any = None, *, fix: str = "") -> bool:
    """Check a zarr store against its manifest: every file present, of its size and sha256,
    and computed for ``config`` (when given).

    Stores written before manifests existed (richlazy 0.2) have none: they are not refused
    (that would throw away days of results) but only checked by decoding them when loaded.

    Args:
        fix: what the message says to do about damage (a command).

    Returns:
        Whether the store had a manifest (False: a store of richlazy 0.2, unchecked).

    Raises:
        DamagedResultsError: naming the first missing, truncated or altered file, or a store
            of another configuration.
    """
    manifest_path = path / MANIFEST
    if not manifest_path.exists() and (path / ".zmetadata").is_file():
        return False
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
        _check_manifest(manifest, path)
    except FileNotFoundError:
        raise DamagedResultsError(
            f"{path / '.zmetadata'} is missing; {fix}", path / ".zmetadata"
        ) from None
    except (OSError, ValueError, TypeError, KeyError):
        raise DamagedResultsError(
            f"{manifest_path} is damaged (not a checksum manifest); {fix}", manifest_path
        ) from None
    for relative, expected in files.items():
        file = path / relative
        try:
            size = file.stat().st_size
            if not file.is_file():
                raise FileNotFoundError
        except FileNotFoundError:
            raise DamagedResultsError(f"{file} is missing; {fix}", file) from None
        if size != expected["size"] or _sha256(file) != expected["sha256"]:
            change = "truncated" if size < expected["size"] else "altered"
            raise DamagedResultsError(f"{file} is damaged ({change}); {fix}", file)
    wanted = config_hash(config)
    if wanted is not None and manifest.get("config_sha256") != wanted:
        raise DamagedResultsError(
            f"{path} holds results of another configuration than its config.json describes; {fix}",
            path,
        )


def _check_manifest(manifest: Any, store: Path) -> None:
    """A TypeError unless ``manifest`` has the form :func:`write_zarr_atomic` writes: a mapping
    of relative paths inside ``store`` to {"size": int >= 0, "sha256": 64 hex digits}, and a
    config hash that is a string or null."""
    files = manifest["files"]
    if not isinstance(files, dict) or not isinstance(manifest.get("config_sha256"), str | None):
        raise TypeError
    for relative, entry in files.items():
        inside = (store / relative).resolve().is_relative_to(store.resolve())
        if not (isinstance(entry, dict) and inside and relative and relative != MANIFEST):
            raise TypeError
        size, digest = entry.get("size"), entry.get("sha256")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise TypeError
        if not (isinstance(digest, str) and len(digest) == 64):
            raise TypeError
        if set(digest) - set("0123456789abcdef"):
            raise TypeError


def open_zarr_verified(path: Path, config: Any = None, *, fix: str = "") -> xr.Dataset:
    """:func:`verify_zarr`, then the store loaded into memory (decoding errors are damage)."""
    verify_zarr(path, config, fix=fix)
    try:
        return xr.open_zarr(path).load()
    except Exception as error:  # zarr, numcodecs and JSON raise many kinds
        raise DamagedResultsError(f"{path} cannot be read ({error}); {fix}", path) from None


def to_json(value: Any) -> Any:
    """Plain JSON form of configs: tuples become lists, non-finite floats become strings."""
    if isinstance(value, Mapping):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def provenance() -> dict[str, Any]:
    """Package and library versions, git revision, platform and time of a run."""
    record: dict[str, Any] = {
        "richlazy_version": metadata.version("richlazy"),
        "git_revision": _source.commit(),  # richlazy's own commit
        "python": platform.python_version(),
        "platform": platform.platform(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }
    for library in ("numpy", "scipy", "xarray", "zarr", "torch"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            record[f"{library}_version"] = metadata.version(library)
    return record


class RunDirectory:
    """DIR/NAME/ for one experiment: its config, shards, results and figures.

    Args:
        out: the output directory given by the user (created if missing).
        name: the experiment's name; results live in ``out/name``.
        options: config (the JSON record of config.json's ``config``) -> the command-line
            options that select it (``--preset``, ``--set``), for the command in messages that
            recomputes the same configuration; None: the command names none.
    """

    def __init__(
        self,
        out: Path | str,
        name: str,
        *,
        options: Callable[[Mapping[str, Any]], Sequence[str]] | None = None,
    ):
        self.root = Path(out)
        self.path = self.root / name
        self.name = name
        self._options = options
        self._intended: Mapping[str, Any] | None = None  # the config a run here was asked for
        self._lock_depth = 0

    @property
    def results_path(self) -> Path:
        return self.path / RESULTS

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def shards_path(self) -> Path:
        return self.path / SHARDS

    @property
    def lock_path(self) -> Path:
        return self.path / LOCK

    def recompute_command(self) -> str:
        """The command that recomputes this directory's configuration from scratch: the one a
        run here was asked for, else the one config.json records (when it can be read)."""
        options: list[str] = []
        config = self._intended if self._intended is not None else self._readable_config()
        if self._options is not None and config is not None:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                options = list(self._options(config))
        words = ["richlazy", "run", self.name, "--out", str(self.root), *options, "--overwrite"]
        return shlex.join(words)

    def _readable_config(self) -> Mapping[str, Any] | None:
        """config.json's ``config``, or None where it is missing or unreadable (no error)."""
        try:
            record = json.loads(self.config_path.read_text())
            config, owner = record.get("config"), record.get("experiment", self.name)
        except (OSError, ValueError, AttributeError):
            return None
        return config if isinstance(config, dict) and owner == self.name else None

    def _fix(self) -> str:
        return f"rerun with --overwrite to recompute it: `{self.recompute_command()}`"

    def _holds_work(self) -> bool:
        """Whether anything computed is here (results, shards or kept states): a directory
        with only the config.json of a run that failed before any shard is replaced freely."""
        return self.has_results() or any(
            path.is_dir() and any(path.iterdir()) for path in (self.shards_path, self.path / STATES)
        )

    def has_results(self) -> bool:
        """Whether finished results are stored (complete: the store appears by a rename)."""
        return self.results_path.is_dir()

    def stored_config(self) -> dict[str, Any] | None:
        """The record in config.json (None if there is none).

        Raises:
            DamagedResultsError: config.json is not a run record (garbage, truncated, ``[1, 2]``).
        """
        try:
            text = self.config_path.read_text()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise DamagedResultsError(
                f"{self.config_path} cannot be read ({error.strerror or error}); {self._fix()}",
                self.config_path,
            ) from None
        try:
            record = json.loads(text)
        except ValueError as error:
            raise DamagedResultsError(
                f"{self.config_path} is damaged (not JSON: {error}); {self._fix()}",
                self.config_path,
            ) from None
        if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
            raise DamagedResultsError(
                f"{self.config_path} is damaged (not a richlazy run record with a 'config'); "
                f"{self._fix()}",
                self.config_path,
            )
        owner = record.get("experiment", self.name)
        if owner != self.name:
            raise DamagedResultsError(
                f"{self.path} holds results of {owner}, not of {self.name} (its config.json "
                f"says so); move them to the folder named {owner}, or {self._fix()}",
                self.config_path,
            )
        return record

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold DIR/NAME exclusively while a run writes it (re-entrant within this object).

        Raises:
            StoreLockedError: another run holds it (naming its pid, host and start time).
            StoreError: the directory cannot be created or written.
        """
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        self._make_directory()
        held = _acquire(self.lock_path, self.path)
        self._lock_depth = 1
        try:
            yield
        finally:
            self._lock_depth = 0
            _release(self.lock_path, held)

    def check_not_locked(self) -> None:
        """Raise StoreLockedError if another run is writing this directory now (for readers)."""
        holder = _holder_if_locked(self.lock_path)
        if holder is not None and not self._lock_depth:
            raise StoreLockedError(_busy_message(self.path, holder, reading=True))

    def _make_directory(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = _temporary_sibling(self.path / "write-test")
            probe.write_text("")
            probe.unlink()
        except OSError as error:
            fix = (
                "Free some space, or choose another --out"
                if error.errno == errno.ENOSPC
                else "Choose a writable directory"
            )
            raise StoreError(
                f"cannot write to --out {self.root}: {error.strerror or error}. {fix}."
            ) from error

    def prepare(self, config: Mapping[str, Any], *, overwrite: bool = False) -> bool:
        """Claim the directory for a run of ``config``; True if finished results already exist.

        A directory holding another configuration is refused unless ``overwrite`` is set, in
        which case its old contents are removed first; so is a damaged one (unreadable
        config.json, results that fail their checksums), which ``overwrite`` repairs. Temporary
        copies a killed run left behind are removed; finished results whose config.json was
        not yet marked complete (a run killed between the two writes) are marked complete and
        their shards dropped.

        Raises:
            StoreError: the directory cannot be created or written, or holds a different run.
            DamagedResultsError: the directory is damaged and ``overwrite`` is not set.
        """
        config = to_json(config)
        self._intended = config
        self._make_directory()
        self.check_not_locked()  # never write beside a run that holds the lock
        self._remove_temporaries()
        try:
            stored = self.stored_config()
        except DamagedResultsError:
            if not overwrite:
                raise
            self.clear()
            stored = None
        if stored is not None and stored.get("config") != config:
            if not overwrite and self._holds_work():
                raise StoreError(
                    f"{self.path} holds results of a different configuration; "
                    f"pass --overwrite to replace them or choose another --out"
                )
            self.clear()
            stored = None
        if stored is None and self.has_results():  # results without their config
            if not overwrite:
                raise DamagedResultsError(
                    f"{self.config_path} is missing but {self.results_path} exists; {self._fix()}",
                    self.config_path,
                )
            self.clear()
        if stored is not None and self.has_results():
            try:
                verify_zarr(self.results_path, config, fix=self._fix())
            except DamagedResultsError:
                if not overwrite:
                    raise
                self.clear()
            else:
                if stored.get("status") != "complete":  # killed after the results' rename
                    stored["status"] = "complete"
                    write_text_atomic(self.config_path, json.dumps(stored, indent=2) + "\n")
                    shutil.rmtree(self.shards_path, ignore_errors=True)
                return True
        record = {
            "experiment": self.name,
            "config": config,
            "status": "running",
            "provenance": provenance(),
        }
        write_text_atomic(self.config_path, json.dumps(record, indent=2) + "\n")
        return False

    def clear(self) -> None:
        """Remove everything this run stored (not the lock of a run holding it)."""
        for child in self.path.iterdir():
            if child.name == LOCK:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()

    def _remove_temporaries(self) -> None:
        """Temporary siblings left by a killed run (its writes never completed)."""
        for folder in (self.path, self.shards_path):
            if not folder.is_dir():
                continue
            for child in folder.iterdir():
                if child.name.startswith(".") and _TEMPORARY in child.name:
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child, ignore_errors=True)
                    else:
                        child.unlink(missing_ok=True)

    def _config(self) -> Any:
        """The configuration in config.json (None if none), which shards and results must match."""
        stored = self.stored_config()
        return None if stored is None else stored["config"]

    def shard(self, key: str, compute: Callable[[], xr.Dataset]) -> xr.Dataset:
        """Load the finished shard ``key``, or compute it and save it atomically first.

        A shard that fails its checksums or was computed for another configuration is
        recomputed (a warning names it).
        """
        stored = self.load_shard(key)
        if stored is not None:
            return stored
        dataset = compute()
        self.shards_path.mkdir(parents=True, exist_ok=True)
        write_zarr_atomic(dataset, self.shards_path / f"{key}.zarr", config=self._config())
        return dataset

    def load_shard(self, key: str) -> xr.Dataset | None:
        """The finished shard ``key`` if it is stored and intact, else None (a damaged one, or
        one computed for another configuration, is removed with a warning naming it)."""
        path = self.shards_path / f"{key}.zarr"
        if not path.is_dir():
            return None
        try:
            return open_zarr_verified(path, self._config(), fix="it is recomputed")
        except DamagedResultsError as error:
            warnings.warn(str(error), StoreWarning, stacklevel=2)
            shutil.rmtree(path, ignore_errors=True)
            return None

    def finished_shards(self) -> list[str]:
        if not self.shards_path.exists():
            return []
        return sorted(
            p.name.removesuffix(".zarr")
            for p in self.shards_path.glob("*.zarr")
            if _TEMPORARY not in p.name
        )

    def save_results(
        self, dataset: xr.Dataset, *, seconds: float, extra: Mapping[str, Any] | None = None
    ) -> None:
        """Write results.zarr, mark the run complete in config.json and drop the shards."""
        record = self.stored_config() or {"experiment": self.name}
        write_zarr_atomic(dataset, self.results_path, config=record.get("config"))
        record.update(status="complete", seconds=round(seconds, 3), **to_json(dict(extra or {})))
        write_text_atomic(self.config_path, json.dumps(record, indent=2) + "\n")
        shutil.rmtree(self.shards_path, ignore_errors=True)

    def load_results(self) -> xr.Dataset:
        """The stored results, verified against their checksums and config, loaded into memory.

        Raises:
            NoResultsError: there are no finished results in this directory.
            DamagedResultsError: they exist but are damaged or contradict config.json (the
                message names the file and the command that recomputes them).
            StoreLockedError: another run is writing this directory now.
        """
        if not self.has_results():
            raise NoResultsError(
                f"no finished results of {self.name} in {self.root}; run "
                f"`richlazy run {self.name} --out {self.root}` first"
            )
        self.check_not_locked()
        stored = self.stored_config()
        if stored is None:
            raise DamagedResultsError(
                f"{self.config_path} is missing, so {self.results_path} cannot be checked; "
                f"{self._fix()}",
                self.config_path,
            )
        return open_zarr_verified(self.results_path, stored["config"], fix=self._fix())

    def save_figure(self, stem: str, figure: Any) -> Path:
        """Save a matplotlib figure as ``stem.png`` atomically and return its path."""
        path = self.path / f"{stem}.png"
        temporary = _temporary_sibling(path)
        try:
            figure.savefig(temporary, format="png", dpi=130, bbox_inches="tight")
            _replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        return path

    def writable(self) -> bool:
        """Whether figures can be written into DIR/NAME (it exists or can be made, and takes
        files)."""
        try:
            self._make_directory()
        except StoreError:
            return False
        return True


class StoreWarning(UserWarning):
    """Something in a result directory was repaired (a damaged shard recomputed)."""


def _lock_record() -> str:
    return json.dumps(
        {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        }
    )


def _read_holder(path: Path) -> dict[str, Any]:
    try:
        holder = json.loads(path.read_text())
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):
        return {}


def _busy_message(directory: Path, holder: Mapping[str, Any], *, reading: bool = False) -> str:
    who = (
        f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, started "
        f"{holder.get('started', '?')}"
        if holder
        else "another process"
    )
    what = "read" if reading else "write to"
    return (
        f"{directory} is being written by another richlazy run ({who}); wait for it to finish "
        f"before you {what} it, or use another --out"
    )


def _write_holder(descriptor: int) -> None:
    """filelock's ``on_acquired`` hook: replace a killed holder's record by ours (we hold the
    lock, so no one else writes the file meanwhile)."""
    os.ftruncate(descriptor, 0)
    os.lseek(descriptor, 0, os.SEEK_SET)
    os.write(descriptor, _lock_record().encode())


def _acquire(path: Path, directory: Path) -> filelock.BaseFileLock:
    """Take the lock file ``path`` at once, or raise StoreLockedError naming its holder.

    filelock makes one non-blocking attempt (``timeout=0``; it raises ``filelock.Timeout``
    rather than wait). A refusal is retried while no one holds the file by the time we look
    (the last holder unlinked it, or a reader's shared probe held it a moment): the message
    must name a real holder.
    """
    for _ in range(10):
        lock = filelock.FileLock(path, timeout=0, thread_local=False, on_acquired=_write_holder)
        try:
            lock.acquire()
        except filelock.Timeout:
            holder = _holder_if_locked(path)
            if holder is not None:
                raise StoreLockedError(_busy_message(directory, holder)) from None
        else:
            return lock
        time.sleep(0.01)  # at most 0.1 s in all, for a reader's probe to end
    raise StoreLockedError(_busy_message(directory, _read_holder(path)))


def _release(path: Path, lock: filelock.BaseFileLock) -> None:
    """Remove the lock file, then release it: a finished directory keeps no ``.lock``. Unlinking
    while we still hold it is safe: a run that opened the old file before and locks it after
    finds it unlinked (filelock checks the link count) and tries again on a new one."""
    with contextlib.suppress(OSError):
        path.unlink()
    lock.release()


def _holder_if_locked(path: Path) -> dict[str, Any] | None:
    """The holder's record if another process holds the lock file ``path`` now, else None.

    A shared probe (``flock(LOCK_SH)``), which filelock does not offer: readers then never
    block each other nor make a starting writer fail.
    """
    if not path.exists():
        return None
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        if fcntl is not None:
            fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
        elif filelock.lock_descriptor(descriptor, blocking=False):  # pragma: no cover - no fcntl
            filelock.unlock_descriptor(descriptor)
        else:  # pragma: no cover - no fcntl
            raise BlockingIOError
    except BlockingIOError:
        return _read_holder(path) or {"pid": "?"}
    finally:
        os.close(descriptor)
    return None


def disk_error_message(error: OSError) -> str:
    """One line for an OSError met while reading or writing results: the file and the fix."""
    where = error.filename or "a result file"
    if error.errno == errno.ENOSPC:
        return (
            f"no space left on the device while writing {where}; free some space and rerun "
            "the same command (finished shards are kept and resumed)"
        )
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write {where}: permission denied or read-only; choose a writable --out"
    return f"{error.strerror or error} ({where})"
