"""The documentation site (mkdocs.yml) builds offline from the clone in strict mode, with an API
reference from the docstrings; a broken link, anchor or reference fails the build."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# mkdocs-material prints a notice about MkDocs 2.0 on every build unless this is set.
ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}


def build(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        timeout=600,
        env=ENV,
        cwd=config.parent,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    done = build(ROOT / "mkdocs.yml", site)
    assert done.returncode == 0, done.stderr[-4000:]
    return site


def test_every_guide_is_a_page_and_the_api_is_documented(site):
    for guide in (ROOT / "docs").glob("*.md"):
        page = site / ("index.html" if guide.stem == "index" else f"{guide.stem}/index.html")
        assert page.is_file(), guide.name
    api = (site / "api" / "nn" / "index.html").read_text()
    assert 'id="richlazy.nn.empirical_ntk"' in api and "kernel_distance" in api
    assert "§6.2" in api  # the docstring's text, cited section included
    assert (
        'id="richlazy.single_neuron.exact_trajectory"'
        in (site / "api" / "single_neuron" / "index.html").read_text()
    )
    assert (site / "tutorials" / "own-model.ipynb").is_file()  # linked from tutorials.md


@pytest.mark.parametrize(
    ("page", "messages"),
    [
        ("[a link](missing.md), [an anchor](#nowhere)\n", ("missing.md", "#nowhere")),
        ("::: richlazy.single_neuron.no_such\n", ("richlazy.single_neuron.no_such",)),
    ],
    ids=["link-and-anchor", "api-reference"],
)
def test_a_broken_link_anchor_or_reference_fails_the_strict_build(tmp_path, page, messages):
    """The project's configuration on a one-page site that holds the broken items."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    del config["nav"]
    handler = next(p["mkdocstrings"] for p in config["plugins"] if isinstance(p, dict))
    handler["handlers"]["python"]["paths"] = [str(ROOT / "src")]
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text(f"# Home\n\n{page}")
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    done = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0
    for message in messages:
        assert message in done.stderr
