"""The command line as a user meets it: one-line errors with status 2, results on disk."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from richlazy import cli, experiments

ROOT = Path(__file__).resolve().parents[1]


def richlazy(*arguments, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "richlazy", *arguments],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_list_and_help():
    listing = richlazy("list")
    assert listing.returncode == 0 and "fig3" in listing.stdout
    for command in ((), ("run",), ("figure",), ("report",)):
        assert richlazy(*command, "--help").returncode == 0


def test_run_figure_report_round_trip(tmp_path):
    done = richlazy("run", "fig3", "fig8", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "fig3" / "results.zarr").is_dir()
    assert (tmp_path / "fig3" / "config.json").is_file()
    assert (tmp_path / "fig8" / "fig8.png").is_file()
    assert "closed form vs integrator" in done.stdout
    assert (tmp_path / "report.html").is_file() and "report.html" in done.stdout
    (tmp_path / "fig3" / "fig3.png").unlink()
    (tmp_path / "report.html").unlink()
    redraw = richlazy("figure", "fig3", "fig8", "--from", str(tmp_path))  # several, like run
    assert redraw.returncode == 0 and (tmp_path / "fig3" / "fig3.png").is_file()
    assert f"wrote {tmp_path / 'fig8' / 'fig8.png'}" in redraw.stdout.replace("\n", "")
    assert (tmp_path / "report.html").is_file()  # the report shows the redrawn figures
    report = richlazy("report", "--from", str(tmp_path))
    assert report.returncode == 0 and "fig8" in report.stdout


@pytest.mark.parametrize(
    "arguments",
    [
        ("run", "fig99"),
        ("run", "fig3", "--bogus"),
        ("run", "fig3", "--preset", "huge"),
        ("run", "fig3", "--device", "cuda"),
        ("run", "fig3", "--dtype", "float16"),
        ("figure", "fig3", "--from", "/nonexistent/dir"),
        ("figure", "fig3"),
        ("report", "--from", "/nonexistent/dir"),
        ("nonsense",),
        ("run", "fig1b", "--set", "steps"),
        ("run", "fig1b", "--set", "steps=abc"),
        ("run", "fig1b", "--set", "nope=1"),
        ("run", "fig1b", "--set", "taus=-1,1"),
        ("run", "fig1b", "fig1a", "--set", "steps=5"),
    ],
)
def test_bad_input_is_one_clear_line(arguments, tmp_path):
    result = richlazy(*arguments, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:")


def test_unwritable_out_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = richlazy("run", "fig3", "--out", str(blocker))
    assert result.returncode == 2 and "--out" in result.stderr


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = next(line for line in ci.splitlines() if "pytest" in line)
    assert command in readme


def completions(*words):
    """What the shell completion of ``richlazy WORDS`` offers for the last word (bash)."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.argv = ['richlazy']; from richlazy import cli; cli.main()",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "_RICHLAZY_COMPLETE": "complete_bash",
            "COMP_WORDS": " ".join(words),
            "COMP_CWORD": str(len(words) - 1),
        },
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_choices_are_shown_in_the_help_and_completed_in_the_shell():
    help_text = richlazy("run", "--help").stdout
    for choices in ("cpu|cuda", "float64|float32", "richlazy|paper"):
        assert choices in help_text
    assert "quick" in help_text and "paper" in help_text and "smoke" in help_text
    assert completions("richlazy", "run", "fig3", "--device", "") == ["cpu", "cuda"]
    assert completions("richlazy", "run", "fig3", "--dtype", "float") == ["float64", "float32"]
    assert completions("richlazy", "figure", "fig1b", "--style", "p") == ["paper"]
    assert completions("richlazy", "run", "fig6") == ["fig6a", "fig6b", "fig6c", "fig6d"]
    # presets from the registry: those every named experiment declares
    assert completions("richlazy", "run", "fig6d", "--preset", "") == list(
        experiments.preset_names("fig6d")
    )
    assert "sgd" in experiments.preset_names("fig6d")
    assert "sgd" not in completions("richlazy", "run", "fig6d", "fig3", "--preset", "")
    assert "sgd" in completions("richlazy", "run", "--preset", "s")


def test_the_style_choices_are_every_experiments_styles():
    offered = {style for name in experiments.names() for style in experiments.get(name).styles}
    assert offered == set(cli.STYLES)


def test_another_style_is_a_file_of_its_own_and_the_report_shows_both(tmp_path):
    assert richlazy("run", "fig1b", "--preset", "smoke", "--out", str(tmp_path)).returncode == 0
    stored = (tmp_path / "fig1b" / "fig1b.png").read_bytes()
    paper = richlazy("figure", "fig1b", "--from", str(tmp_path), "--style", "paper")
    assert paper.returncode == 0, paper.stderr
    assert (tmp_path / "fig1b" / "fig1b.png").read_bytes() == stored  # not overwritten
    assert (tmp_path / "fig1b" / "fig1b_paper.png").is_file()
    page = (tmp_path / "report.html").read_text()
    assert "fig1b_paper" in page and "fig1b_supporting_paper" in page
