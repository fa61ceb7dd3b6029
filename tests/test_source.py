"""Which richlazy this is (richlazy._source): the commit an installed copy and a clone report,
the provenance record and ``richlazy --version``."""

import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import richlazy
from richlazy import _source, store

ROOT = Path(__file__).resolve().parents[1]
GIT = [
    "git",
    "-c",
    "user.name=test",
    "-c",
    "user.email=test@example.org",
    "-c",
    "commit.gpgsign=false",
]


def git(where: Path, *arguments: str) -> str:
    return subprocess.run(
        [*GIT, *arguments], cwd=where, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def repository(tmp_path):
    """A git repository with one commit of an unrelated file."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "notes.txt").write_text("someone else's project\n")
    git(repo, "add", "notes.txt")
    git(repo, "commit", "-qm", "unrelated")
    return repo


def a_copy_of_the_package(folder: Path, built_commit: str | None) -> Path:
    """``folder/richlazy`` holding _source.py and, if given, a build's _version.py."""
    package = folder / "richlazy"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    shutil.copy(ROOT / "src" / "richlazy" / "_source.py", package / "_source.py")
    if built_commit is not None:
        (package / "_version.py").write_text(
            f"__version__ = '9.9.9'\n__commit__ = {built_commit!r}\n"
        )
    return package


def commit_seen_from(folder: Path) -> str:
    """``_source.commit()`` of the copy under ``folder``, in a fresh interpreter."""
    code = "import richlazy._source as s; print(s.commit())"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=folder,
        env={"PYTHONPATH": str(folder), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_an_installed_copy_inside_an_unrelated_repository_reports_its_build_commit(repository):
    # A virtual environment inside the user's repository: the package is not tracked there.
    site = repository / ".venv" / "site-packages"
    a_copy_of_the_package(site, built_commit="abc123")
    assert commit_seen_from(site) == "abc123"
    assert _source.tracked_commit(site / "richlazy") is None
    a_copy_of_the_package(repository / "elsewhere", built_commit=None)
    assert commit_seen_from(repository / "elsewhere") == "unknown"


def test_a_clone_reports_its_live_commit_and_dirty_state(repository):
    package = a_copy_of_the_package(repository / "src", built_commit="stale-build")
    git(repository, "add", "src")
    git(repository, "commit", "-qm", "the package")
    head = git(repository, "rev-parse", "HEAD")
    (repository / "untracked.txt").write_text("untracked files do not make it dirty")
    assert commit_seen_from(repository / "src") == head  # live, not the build's
    (package / "_source.py").write_text((package / "_source.py").read_text() + "\n# edited\n")
    assert commit_seen_from(repository / "src") == f"{head}-dirty"
    assert _source.tracked_commit(package) == f"{head}-dirty"


def test_this_checkout_is_the_package_source():
    expected = git(ROOT, "rev-parse", "HEAD")
    assert _source.commit().removesuffix("-dirty") == expected
    assert store.provenance()["git_revision"] == _source.commit()


def test_richlazy_version_prints_the_version_and_commit():
    done = subprocess.run(
        [sys.executable, "-m", "richlazy", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == f"richlazy {richlazy.__version__} (commit {_source.commit()})"
    assert richlazy.__version__ == metadata.version("richlazy")
