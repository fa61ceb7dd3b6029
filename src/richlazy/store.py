"""Results on disk: DIR/NAME/ with results.zarr, config.json and figures (docs/architecture.md).

Every write is atomic: a file or zarr store is written beside its target under a temporary
name and renamed into place, so an interrupted run never leaves a half-written result. Sweeps
save finished shards under ``shards/`` the same way; a rerun with the same configuration loads
them instead of recomputing, and a rerun with a different configuration is refused unless the
caller asks to overwrite.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import xarray as xr

RESULTS = "results.zarr"
CONFIG = "config.json"
SHARDS = "shards"
ZARR_FORMAT = 2  # readable by zarr-python 2 and 3 alike


class StoreError(ValueError):
    """A result directory cannot be used as asked; the message says how to fix it."""


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
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    temporary = _temporary_sibling(path)
    temporary.write_text(text)
    _replace(temporary, path)


def write_zarr_atomic(dataset: xr.Dataset, path: Path) -> None:
    """Write ``dataset`` as a zarr store at ``path`` through a temporary store and a rename."""
    temporary = _temporary_sibling(path)
    try:
        dataset.to_zarr(temporary, mode="w", zarr_format=ZARR_FORMAT, consolidated=True)
        _replace(temporary, path)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


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
        "git_revision": _git_revision(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }
    for library in ("numpy", "scipy", "xarray", "zarr", "torch"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            record[f"{library}_version"] = metadata.version(library)
    return record


def _git_revision() -> str:
    """The source checkout's commit (with '-dirty' for local changes), or 'unknown'."""
    source = Path(__file__).resolve().parent
    try:
        revision = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=source,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=source,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return revision + ("-dirty" if dirty else "")


class RunDirectory:
    """DIR/NAME/ for one experiment: its config, shards, results and figures.

    Args:
        out: the output directory given by the user (created if missing).
        name: the experiment's name; results live in ``out/name``.
    """

    def __init__(self, out: Path | str, name: str):
        self.root = Path(out)
        self.path = self.root / name
        self.name = name

    @property
    def results_path(self) -> Path:
        return self.path / RESULTS

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def shards_path(self) -> Path:
        return self.path / SHARDS

    def has_results(self) -> bool:
        return (self.results_path / ".zmetadata").exists()

    def stored_config(self) -> dict[str, Any] | None:
        if not self.config_path.exists():
            return None
        return json.loads(self.config_path.read_text())

    def prepare(self, config: Mapping[str, Any], *, overwrite: bool = False) -> bool:
        """Claim the directory for a run of ``config``; True if finished results already exist.

        A directory holding another configuration is refused unless ``overwrite`` is set,
        in which case its old contents are removed first.

        Raises:
            StoreError: the directory cannot be created or written, or holds a different run.
        """
        config = to_json(config)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = _temporary_sibling(self.path / "write-test")
            probe.write_text("")
            probe.unlink()
        except OSError as error:
            raise StoreError(
                f"cannot write to --out {self.root}: {error.strerror or error}. "
                f"Choose a writable directory."
            ) from error
        stored = self.stored_config()
        if stored is not None and stored.get("config") != config:
            if not overwrite:
                raise StoreError(
                    f"{self.path} holds results of a different configuration; "
                    f"pass --overwrite to replace them or choose another --out"
                )
            self.clear()
            stored = None
        if stored is not None and self.has_results():
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
        """Remove everything this run stored."""
        for child in self.path.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()

    def shard(self, key: str, compute: Callable[[], xr.Dataset]) -> xr.Dataset:
        """Load the finished shard ``key``, or compute it and save it atomically first."""
        path = self.shards_path / f"{key}.zarr"
        if (path / ".zmetadata").exists():
            return xr.open_zarr(path).load()
        dataset = compute()
        self.shards_path.mkdir(parents=True, exist_ok=True)
        write_zarr_atomic(dataset, path)
        return dataset

    def finished_shards(self) -> list[str]:
        if not self.shards_path.exists():
            return []
        return sorted(p.name.removesuffix(".zarr") for p in self.shards_path.glob("*.zarr"))

    def save_results(
        self, dataset: xr.Dataset, *, seconds: float, extra: Mapping[str, Any] | None = None
    ) -> None:
        """Write results.zarr, mark the run complete in config.json and drop the shards."""
        write_zarr_atomic(dataset, self.results_path)
        record = self.stored_config() or {"experiment": self.name}
        record.update(status="complete", seconds=round(seconds, 3), **to_json(dict(extra or {})))
        write_text_atomic(self.config_path, json.dumps(record, indent=2) + "\n")
        shutil.rmtree(self.shards_path, ignore_errors=True)

    def load_results(self) -> xr.Dataset:
        """The stored results, loaded into memory.

        Raises:
            StoreError: there are no finished results in this directory.
        """
        if not self.has_results():
            raise StoreError(
                f"no finished results of {self.name} in {self.root}; run "
                f"`richlazy run {self.name} --out {self.root}` first"
            )
        return xr.open_zarr(self.results_path).load()

    def save_figure(self, stem: str, figure: Any) -> Path:
        """Save a matplotlib figure as ``stem.png`` atomically and return its path."""
        path = self.path / f"{stem}.png"
        temporary = _temporary_sibling(path)
        figure.savefig(temporary, format="png", dpi=130, bbox_inches="tight")
        _replace(temporary, path)
        return path
