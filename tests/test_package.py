"""The package's metadata: version from git, license, typing marker, one citation in
CITATION.cff, README and docs, and a README that reads the same on a package index as in the
clone (the commit and version a copy reports: tests/test_source.py)."""

import re
import tomllib
from pathlib import Path

import yaml
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_version_comes_from_git_with_a_fallback():
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert "version" not in PYPROJECT["project"]
    version = PYPROJECT["tool"]["hatch"]["version"]
    assert version["source"] == "vcs" and re.fullmatch(
        r"\d+\.\d+\.\d+", version["fallback-version"]
    )


def test_the_license_and_the_typing_marker_ship():
    assert PYPROJECT["project"]["license"] == "MIT"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert (ROOT / "src" / "richlazy" / "py.typed").is_file()
    assert not any(c.startswith("License ::") for c in PYPROJECT["project"]["classifiers"])


def bibtex_authors(text: str) -> list[str]:
    """The family names of the BibTeX entry's authors in ``text``."""
    authors = re.search(r"author\s*=\s*\{(.*?)\},\n", text, flags=re.DOTALL)[1]
    return [name.split(",")[0].strip() for name in re.split(r"\s+and\s+", authors)]


def test_the_citation_file_the_readme_and_the_docs_cite_the_same_paper():
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["license"] == "MIT"
    paper = citation["preferred-citation"]
    family = [author["family-names"] for author in paper["authors"]]
    assert family == ["Kunin", "Raventós", "Dominé", "Chen", "Klindt", "Saxe", "Ganguli"]
    assert paper["url"] == "https://arxiv.org/abs/2406.06158" and paper["year"] == 2024
    index = (ROOT / "docs" / "index.md").read_text()
    readme = (ROOT / "README.md").read_text()
    entry = re.search(r"```bibtex\n(.*?)```", index, flags=re.DOTALL)[1]
    assert entry in readme  # one entry, the same in both
    decoded = [n.replace("{\\'o}", "ó").replace("{\\'e}", "é") for n in bibtex_authors(entry)]
    assert decoded == family
    assert "eprint        = {2406.06158}" in entry
    assert PYPROJECT["project"]["urls"]["Paper"] == paper["url"]


def links(document: str) -> list[str]:
    """Every link and image target of a Markdown file."""
    found = []
    tokens = MarkdownIt("commonmark").parse((ROOT / document).read_text())
    for token in tokens:
        for child in token.children or []:
            if child.type in ("link_open", "image"):
                found.append(child.attrGet("href") or child.attrGet("src"))
    return found


def test_every_readme_link_is_absolute():
    # The README is the package index's project page too, where relative links lead nowhere;
    # it names the files of the clone as paths (`docs/nn.md`) instead.
    found = links("README.md")
    assert "https://arxiv.org/abs/2406.06158" in found
    assert all(link.startswith("https://") for link in found), found
