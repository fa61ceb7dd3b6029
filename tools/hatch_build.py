"""Build hook (pyproject.toml, [tool.hatch.build.hooks.custom]): writes src/richlazy/_version.py.

The file records the version hatch-vcs computed and the commit of the tree being built (with
``-dirty`` for uncommitted changes to tracked files), so that an installed wheel knows which
commit it came from (richlazy._source). Building from an unpacked sdist (no git) keeps the file
the sdist carries; without either, the commit is "unknown".
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

VERSION_FILE = "src/richlazy/_version.py"
TEMPLATE = '''"""Version and commit of this build of richlazy (written by tools/hatch_build.py)."""

__version__ = {version!r}
__commit__ = {commit!r}
'''


def _source_module(root: Path):
    """richlazy/_source.py, loaded by path (the package itself is not importable while building)."""
    spec = importlib.util.spec_from_file_location(
        "_richlazy_source", root / "src/richlazy/_source.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class VersionFileHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        root = Path(self.root)
        target = root / VERSION_FILE
        source = _source_module(root)
        commit = source.tracked_commit(root, "pyproject.toml")
        if commit is not None or not target.exists():
            text = TEMPLATE.format(version=self.metadata.version, commit=commit or source.UNKNOWN)
            target.write_text(text, encoding="utf-8")
        build_data["artifacts"].append(f"/{VERSION_FILE}")
