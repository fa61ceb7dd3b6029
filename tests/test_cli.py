"""The command line as a user meets it: one-line errors with status 2, results on disk."""

import subprocess
import sys
from pathlib import Path

import pytest

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
    redraw = richlazy("figure", "fig3", "--from", str(tmp_path))
    assert redraw.returncode == 0 and (tmp_path / "fig3" / "fig3.png").is_file()
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
