"""Every Python block of README.md and docs/*.md runs, and prints what it says it prints.

Conventions (docs/index.md, "Examples in the docs"):

- Each fenced ``python`` block of a document runs, in order, in one namespace per document (as a
  reader would paste them), in a fresh working directory.
- A block that cannot run here starts with the line ``# not run: <reason>`` (it needs a GPU, a
  cluster, a data directory); such blocks are counted, and the list of them is pinned below, so
  that none is dropped silently.
- A comment ``# prints <text>`` shows what the nearest ``print`` call above it, or on its line,
  printed (the last time it ran). Numbers agree to one unit of their last written digit
  (``0.87`` matches 0.86 to 0.88, ``1.5e-03`` matches 1.4e-03 to 1.6e-03; a number written
  without a decimal point matches exactly); the text between numbers matches exactly, up to
  runs of white space; ``...`` stands for any text.
- Other fences (``bash``, ``bibtex``) are not run: the shell commands are the CLI's, tested in
  tests/test_cli.py, and the README's two commands are what CI runs.
"""

from __future__ import annotations

import builtins
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
LANGUAGES = {"python", "bash", "bibtex"}
NOT_RUN = "# not run:"
PRINTS = re.compile(r"#\s*prints\s+(?P<text>.*?)\s*$")
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")

# The blocks that do not run here, per document, with their reasons written in the block.
NOT_RUN_BLOCKS = {"docs/cluster.md": 1}


@dataclass(frozen=True)
class Block:
    document: str
    line: int  # 1-based line of the block's first code line in the document
    language: str
    code: str

    @property
    def reason(self) -> str | None:
        first = self.code.lstrip().split("\n", 1)[0]
        return first[len(NOT_RUN) :].strip() if first.startswith(NOT_RUN) else None


def blocks(document: str) -> list[Block]:
    """The fenced code blocks of ``document`` (markdown-it's parse, so indented fences count)."""
    text = (ROOT / document).read_text(encoding="utf-8")
    found = []
    for token in MarkdownIt("commonmark").parse(text):
        if token.type == "fence":
            language = token.info.split()[0] if token.info.strip() else ""
            found.append(Block(document, token.map[0] + 2, language, token.content))
    return found


def numbers_agree(expected: str, actual: str) -> bool:
    """One unit of ``expected``'s last written digit; exact for integers."""
    value, mantissa, _, exponent = float(expected), *expected.lower().partition("e")
    if "." not in mantissa:
        return value == float(actual)
    decimals = len(mantissa.split(".")[1])
    unit = 10.0 ** (-decimals + (int(exponent) if exponent else 0))
    return abs(float(actual) - value) <= unit * (1 + 1e-9)


def matches(expected: str, actual: str) -> bool:
    """Whether printed text ``actual`` is what the comment ``expected`` shows (module doc)."""
    pattern, wanted = [], []
    for index, part in enumerate(re.split(r"(\.\.\.|…)", expected)):
        if index % 2:
            pattern.append(".*?")
            continue
        last = 0
        for number in NUMBER.finditer(part):
            pattern.append(r"\s*".join(map(re.escape, part[last : number.start()].split())))
            pattern.append(rf"\s*({NUMBER.pattern})\s*")
            wanted.append(number.group())
            last = number.end()
        pattern.append(r"\s*".join(map(re.escape, part[last:].split())))
    found = re.fullmatch(r"\s*" + r"\s*".join(pattern) + r"\s*", actual, flags=re.DOTALL)
    return found is not None and all(map(numbers_agree, wanted, found.groups()))


def run_document(document: str) -> list[tuple[int, str, str]]:
    """Run the document's blocks; (line, expected, printed) for each ``# prints``."""
    namespace: dict = {"__name__": "__docs__"}
    checks = []
    for block in blocks(document):
        if block.language != "python" or block.reason is not None:
            continue
        filename = f"{ROOT / document}:{block.line}"
        printed: dict[int, str] = {}

        def recording_print(*args, _filename=filename, _printed=printed, **kwargs):
            caller = sys._getframe(1)
            if caller.f_code.co_filename == _filename and kwargs.get("file") is None:
                buffer = io.StringIO()
                builtins.print(*args, **kwargs, file=buffer)
                _printed[caller.f_lineno] = buffer.getvalue().rstrip("\n")
            else:
                builtins.print(*args, **kwargs)

        namespace["print"] = recording_print
        exec(compile(block.code, filename, "exec"), namespace)
        for offset, line in enumerate(block.code.splitlines(), start=1):
            expected = PRINTS.search(line)
            if expected is None:
                continue
            above = [number for number in printed if number <= offset]
            assert above, f"{filename}+{offset}: '# prints' with no print call above it"
            checks.append((block.line + offset - 1, expected["text"], printed[max(above)]))
    return checks


def test_every_fence_is_python_run_or_marked_or_a_known_language():
    not_run: dict[str, int] = {}
    for document in DOCUMENTS:
        for block in blocks(document):
            where = f"{document}:{block.line}"
            assert block.language in LANGUAGES, f"{where}: fence language {block.language!r}"
            if block.language == "python" and block.reason is not None:
                assert block.reason, f"{where}: '# not run:' needs a reason"
                not_run[document] = not_run.get(document, 0) + 1
    assert not_run == NOT_RUN_BLOCKS


@pytest.fixture
def results_directory(tmp_path):
    """out/ as the README's report example expects it, from the quickest experiment."""
    from richlazy import run_experiment

    run_experiment("fig3", preset="quick", out=tmp_path / "out")
    return tmp_path


SETUP = {"README.md": "results_directory"}


RUNNABLE = [
    document
    for document in DOCUMENTS
    if any(block.language == "python" and block.reason is None for block in blocks(document))
]
# At least this many printed values are checked (so that the checks cannot vanish unnoticed).
CHECKED_AT_LEAST = {"README.md": 5, "docs/nn.md": 4}


def test_the_documents_with_examples_are_found():
    assert {"README.md", "docs/nn.md"} <= set(RUNNABLE)


@pytest.mark.parametrize("document", RUNNABLE)
def test_the_python_blocks_run_and_print_what_they_show(
    document, tmp_path, monkeypatch, request, single_thread
):
    where = request.getfixturevalue(SETUP[document]) if document in SETUP else tmp_path
    monkeypatch.chdir(where)
    checks = run_document(document)
    for line, expected, printed in checks:
        assert matches(expected, printed), f"{document}:{line}: printed {printed!r}"
    assert len(checks) >= CHECKED_AT_LEAST.get(document, 0)


@pytest.mark.parametrize(
    ("expected", "actual", "agree"),
    [
        ("[0.87 0.2 0.0015]", "[0.8712 0.2003 0.00149]", True),
        ("[0.87 0.2 0.0015]", "[8.712e-01 2.003e-01 1.49e-03]", True),
        ("[0.87 0.2 0.0015]", "[0.8912 0.2003 0.00149]", False),
        ("0 4", "0 4", True),
        ("0 4", "0 5", False),
        ("1.5e-03", "0.00161", False),
        ("1.5e-03", "0.00159", True),
        (
            "tensor([[0.0221, 0.2373]], dtype=torch.float64)",
            "tensor([[0.0222, 0.2373]],\n       dtype=torch.float64)",
            True,
        ),
        ("['downstream', 'balanced']", "['downstream', 'balanced']", True),
        ("['downstream', 'balanced']", "['upstream', 'balanced']", False),
        ("38 claims: 37 hold ...", "38 claims: 37 hold, 1 fail", True),
        ("38 claims: 37 hold ...", "38 claims: 36 hold, 2 fail", False),
    ],
)
def test_printed_values_are_compared_to_their_last_digit(expected, actual, agree):
    assert matches(expected, actual) is agree
