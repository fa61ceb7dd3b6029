"""Which richlazy this is: the commit of its source, for provenance and ``richlazy --version``.

Two cases (docs/index.md, "Version and provenance"):

- The package's folder is tracked by a git work tree (a clone, installed editable, or run from
  ``src/``): that work tree's HEAD, live, with ``-dirty`` when a tracked file differs from it.
- Otherwise (an installed wheel, possibly inside some other repository that does not track it):
  the commit recorded in ``richlazy/_version.py`` when the package was built
  (``tools/hatch_build.py``), or ``"unknown"`` when it was built without git.

Standard library only: the build hook loads this file by path.
"""

from __future__ import annotations

import importlib
import subprocess
from pathlib import Path

__all__ = ["UNKNOWN", "commit", "tracked_commit"]

UNKNOWN = "unknown"
_TIMEOUT = 5  # seconds per git call


def _git(folder: Path, *arguments: str) -> str:
    """stdout of ``git ARGUMENTS`` run in ``folder``; raises if git is missing or fails."""
    return subprocess.run(
        ["git", *arguments],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
        check=True,
    ).stdout.strip()


def tracked_commit(folder: Path | str, file: str = "__init__.py") -> str | None:
    """HEAD of the git work tree that tracks ``folder/file``, ``-dirty`` if a tracked file changed.

    None when ``folder`` is in no work tree, or in one that does not track ``file`` (a package
    installed into a virtual environment inside an unrelated repository), or git is missing.
    """
    folder = Path(folder)
    try:
        _git(folder, "ls-files", "--error-unmatch", "--", file)
        revision = _git(folder, "rev-parse", "HEAD")
        dirty = _git(folder, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return revision + ("-dirty" if dirty else "")


def commit() -> str:
    """richlazy's own commit: live from its clone, else as recorded at build time."""
    live = tracked_commit(Path(__file__).resolve().parent)
    if live is not None:
        return live
    try:
        built = importlib.import_module("richlazy._version")
    except ImportError:
        return UNKNOWN
    return getattr(built, "__commit__", UNKNOWN)
