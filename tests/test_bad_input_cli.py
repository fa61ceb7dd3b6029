"""Every command given bad or extreme input as a hostile but realistic user would (issue 17):
one line on stderr naming the argument or the file and the fix, status 2 (130 when
interrupted, 1 for an internal error), within seconds, user text printed verbatim, and nothing
stored that contradicts its config. Most cases run the command in-process (``cli.main``);
the lock and Ctrl-C cases run it as a subprocess."""

import errno
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr

import richlazy.report as richlazy_report
from richlazy import cli
from richlazy.experiments import runner
from richlazy.store import RunDirectory

BOUND = 30.0  # seconds for a command that computes a little; bad input fails far sooner
SRC = str(Path(__file__).parents[1] / "src")


@pytest.fixture
def richlazy(capsys, monkeypatch, within):
    """Run the command in-process: (status, stdout, stderr lines that are not blank)."""

    def invoke(*arguments, bound=BOUND):
        monkeypatch.setattr(sys, "argv", ["richlazy", *map(str, arguments)])
        with within(bound), pytest.raises(SystemExit) as exit:
            cli.main()
        out, err = capsys.readouterr()
        return exit.value.code, out, [line for line in err.splitlines() if line.strip()]

    return invoke


def one_error(status, lines, *, code=2):
    assert status == code, lines
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert "Traceback" not in lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (("list", "--bogus"), "--bogus"),
        (("run", "fig1b", "--set", "taus=1e-200", "--set", "steps=20", "--set", "seeds=0"), "taus"),
        (("run", "fig1b", "--set", "taus=0.5"), "taus needs at least 2 values"),
        (("run", "fig1b", "--set", "deltas=0.5"), "deltas needs at least 2 values"),
        (("run", "fig3", "--set", "deltas=1,1"), "deltas must hold each value once"),
        (("run", "fig4b", "--set", "deltas=-1,-1"), "deltas must hold each value once"),
        (("run", "fig1b", "--set", "steps=1e12"), "steps"),
        (("run", "fig1b", "--set", f"steps={10**29}"), "steps"),
        (("run", "fig1b", "--set", f"steps={2**63}"), "steps"),
        (("run", "fig1b", "--set", "steps=-5"), "steps"),
        (("run", "fig1b", "--set", "seeds=-1"), "seeds"),
        (("run", "fig1b", "--set", "seeds=0,0"), "seeds"),
        (("run", "fig1b", "--set", "lr=1j"), "lr"),
        (("run", "fig1b", "--set", "lr=inf"), "lr"),
        (("run", "fig1b", "--set", "lr=nan"), "lr"),
        (("run", "fig1b", "--set", "width=3"), "width"),
        (("run", "fig1b", "--set", "method=adam"), "method"),
        (("run", "fig3", "--set", "t_max=-1"), "t_max"),
        (("run", "fig3", "--set", "time_points=1e30"), "time_points"),
        (("run", "all", "fig1b"), "'all' cannot be combined"),
        (("run", "fig1b", "all"), "'all' cannot be combined"),
        (("run", "fig1b", "--set", "steps=10", "--set", "steps=20"), "steps is set twice"),
        # sizes whose arrays exceed any machine's memory: refused before anything is built
        *(
            (("run", name, "--set", f"time_points={10**13}"), "time_points, ")  # and the sizes
            for name in ("fig2", "fig3", "fig4a", "fig4b", "fig7", "fig8", "deep-linear")
        ),
        *(
            (("run", name, "--set", f"{size}={10**13}"), "more than this machine's")
            for name, size in [
                ("fig1a", "n"),
                ("fig1b", "n_test"),
                ("fig10", "n"),
                ("drift", "n"),
                ("fig5", "grid_points"),
                ("wide-linear", "bias_points"),
                ("wide-linear", "d"),
                ("wide-linear", "mode_time_points"),
            ]
        ),
        (
            (
                "run",
                "fig1b",
                "--set",
                "steps=1e9",
                "--set",
                "checkpoints_per_decade=1000",
                "--set",
                "width=1000000",
            ),
            "checkpoints_per_decade",
        ),
        (("figure", "fig3", "--from", "/nonexistent/[bold]dir"), "/nonexistent/[bold]dir"),
        (("report", "--from", "/tmp/[bold]res"), "/tmp/[bold]res"),
        (("bench", "two-layer", "--steps", "0"), "steps"),
        (("bench", "two-layer", "--steps", "10000000000", "--no-baseline"), "steps"),
        (("bench", "two-layer", "--width", "3", "--no-baseline"), "width"),
        (("bench", "two-layer", "--dtype", "float16", "--no-baseline"), "dtype"),
        (("bench", "gf-vs-gd", "--rtol", "2"), "rtol"),
        (("bench", "gf-vs-gd", "--steps", "-1"), "steps"),
    ],
)
def test_bad_input_is_one_line_naming_it_and_nothing_is_written(
    richlazy, tmp_path, arguments, named
):
    out = ("--out", tmp_path / "out") if arguments[0] == "run" else ()
    status, _, lines = richlazy(*arguments, *out, bound=10)
    assert named in one_error(status, lines)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.zarr"))


def test_markup_in_a_path_is_printed_verbatim(richlazy, tmp_path):
    source = tmp_path / "[bold]res[/]"
    status, _, lines = richlazy("report", "--from", source, bound=10)
    line = one_error(status, lines)
    assert f"no finished results in {source}; run `richlazy run all --out {source}`" in line


def test_diverged_networks_are_stored_drawn_and_redrawn(richlazy, tmp_path):
    status, out, lines = richlazy(
        "run",
        "fig1b",
        "--set",
        "lr=100",
        "--set",
        "steps=50",
        "--set",
        "seeds=0",
        "--out",
        tmp_path,
    )
    assert status == 0, lines
    assert "every cell diverged" in out and "diverged networks: 49 of 49" in out
    results = xr.open_zarr(tmp_path / "fig1b" / "results.zarr")
    assert bool(results.diverged.all())
    assert json.loads((tmp_path / "fig1b" / "config.json").read_text())["config"]["lr"] == 100
    (tmp_path / "fig1b" / "fig1b.png").unlink()
    status, out, lines = richlazy("figure", "fig1b", "--from", tmp_path)
    assert status == 0 and (tmp_path / "fig1b" / "fig1b.png").is_file(), lines


def test_damaged_results_name_the_file_and_overwrite_repairs_them(richlazy, tmp_path):
    assert richlazy("run", "fig3", "fig8", "--out", tmp_path)[0] == 0
    config = tmp_path / "fig3" / "config.json"
    config.write_text("garbage")
    for command in (("run", "fig3", "--out", tmp_path), ("figure", "fig3", "--from", tmp_path)):
        line = one_error(*richlazy(*command)[::2])
        assert f"{config} is damaged" in line and "--overwrite" in line
    # report: the good experiment summarized, the broken one named, status 2
    status, out, lines = richlazy("report", "--from", tmp_path)
    assert "fig8" in out and f"{config} is damaged" in one_error(status, lines)
    assert richlazy("run", "fig3", "--out", tmp_path, "--overwrite")[0] == 0
    chunk = next((tmp_path / "fig3" / "results.zarr" / "mu").glob("0*"))
    chunk.write_bytes(chunk.read_bytes()[:3])  # truncated
    status, out, lines = richlazy("report", "--from", tmp_path)
    assert f"{chunk} is damaged (truncated)" in one_error(status, lines)
    assert "richlazy run fig3 --out" in lines[0]
    assert richlazy("run", "fig3", "--out", tmp_path, "--overwrite")[0] == 0
    assert richlazy("report", "--from", tmp_path)[0] == 0


def test_a_read_only_source_suggests_out(richlazy, tmp_path, monkeypatch):
    assert richlazy("run", "fig4b", "--out", tmp_path)[0] == 0
    monkeypatch.setattr(RunDirectory, "writable", lambda self: self.root != tmp_path)
    line = one_error(*richlazy("figure", "fig4b", "--from", tmp_path)[::2])
    assert "pass --out DIR" in line
    status, _, lines = richlazy(
        "figure", "fig4b", "--from", tmp_path, "--out", tmp_path / "elsewhere"
    )
    assert lines == []
    assert status == 0 and (tmp_path / "elsewhere" / "fig4b" / "fig4b.png").is_file()


def test_a_full_disk_is_one_line_naming_the_file(richlazy, tmp_path, monkeypatch):
    def full(self, store, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(store))

    monkeypatch.setattr(xr.Dataset, "to_zarr", full)
    line = one_error(*richlazy("run", "fig3", "--out", tmp_path)[::2])
    assert "no space left on the device while writing" in line and "rerun" in line
    assert str(tmp_path) in line


def test_an_internal_error_is_one_line_with_status_1(richlazy, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(richlazy_report, "evaluate", broken)
    tmp_path.joinpath("fig3").mkdir()  # a directory to report on
    line = one_error(*richlazy("report", "--from", tmp_path)[::2], code=1)
    assert "internal error: ZeroDivisionError: a bug" in line and "RICHLAZY_TRACEBACK" in line


def test_running_out_of_memory_is_one_line_with_status_2(richlazy, tmp_path, monkeypatch):
    def exhausted(*args, **kwargs):
        raise MemoryError("Unable to allocate 75 GiB")

    monkeypatch.setattr(runner, "run", exhausted)
    line = one_error(*richlazy("run", "fig3", "--out", tmp_path)[::2])
    assert "out of memory (Unable to allocate 75 GiB)" in line and "--set" in line


def test_ctrl_c_inside_a_command_exits_130(richlazy, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run", interrupted)
    line = one_error(*richlazy("run", "fig3", "--out", tmp_path)[::2], code=130)
    assert "interrupted" in line and "resume" in line


def test_a_long_run_says_its_estimated_time_before_it_starts(richlazy, tmp_path, monkeypatch):
    def stop(*args, **kwargs):
        raise ValueError("stopped before computing")

    monkeypatch.setattr(runner, "run", stop)
    status, _, lines = richlazy(
        "run", "fig1b", "--preset", "paper", "--set", "steps=1000000000", "--out", tmp_path
    )
    assert status == 2 and len(lines) == 2
    assert lines[0].startswith("note: fig1b is estimated to take up to") and "days" in lines[0]


def test_fig1a_paper_says_its_minutes_before_it_starts(richlazy, tmp_path, monkeypatch):
    """The estimate's model against a measured run: 1e6 GD steps of Figure 1a's 6 small networks
    took 625 s under load (1.75e-4 s of CPU per step between 1e4 and 4e4 steps,
    docs/performance.md); an estimate of a few seconds per 1e5 steps (the arithmetic alone) would
    say nothing. The note prints for runs estimated over a minute."""

    def stop(*args, **kwargs):
        raise ValueError("stopped before computing")

    monkeypatch.setattr(runner, "run", stop)
    estimate = runner.estimated_seconds("fig1a", preset="paper")
    assert 150 <= estimate <= 1000
    status, _, lines = richlazy("run", "fig1a", "--preset", "paper", "--out", tmp_path)
    assert status == 2 and len(lines) == 2
    assert lines[0].startswith("note: fig1a is estimated to take up to") and "minutes" in lines[0]
    assert runner.estimated_seconds("fig1a", preset="smoke") < cli.LONG_RUN_SECONDS


def _ctrl_c_as_in_a_terminal() -> None:
    """In the child: SIGINT delivered and handled by default, whatever the test process (or a
    thread of a library it loaded) did with its own disposition or signal mask."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def command(*arguments):
    return subprocess.Popen(
        [sys.executable, "-m", "richlazy", *map(str, arguments)],
        stdout=subprocess.DEVNULL,  # never read: a full pipe would stall the run's progress bars
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
        preexec_fn=_ctrl_c_as_in_a_terminal,
    )


def wait_for(path: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_a_second_run_of_the_same_directory_is_refused_and_ctrl_c_exits_130(richlazy, tmp_path):
    long_run = ("run", "fig1b", "--set", "steps=1000000", "--set", "seeds=0", "--out", tmp_path)
    first = command(*long_run)  # another process
    try:
        wait_for(tmp_path / "fig1b" / "config.json")
        status, _, lines = richlazy(
            "run", "fig1b", "--overwrite", "--set", "steps=20", "--out", tmp_path, bound=10
        )
        line = one_error(status, lines)
        assert f"pid {first.pid}" in line and "being written by another richlazy run" in line
        record = json.loads((tmp_path / "fig1b" / "config.json").read_text())
        assert record["config"]["steps"] == 1_000_000  # the second run changed nothing
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=60)
    finally:
        first.kill()
    lines = [line for line in err.splitlines() if line.strip()]
    assert first.returncode == 130, err
    assert lines[-1].startswith("error: interrupted") and "Traceback" not in err
    assert not (tmp_path / "fig1b" / ".lock").exists()


def test_results_of_another_experiment_are_named_in_one_line(richlazy, tmp_path):
    """A folder holding another experiment's results (config.json's ``experiment``) says whose
    they are, whichever command reads it; --overwrite replaces them."""
    assert richlazy("run", "fig3", "--preset", "smoke", "--out", tmp_path)[0] == 0
    shutil.copytree(tmp_path / "fig3", tmp_path / "fig4a")
    whose = f"{tmp_path / 'fig4a'} holds results of fig3, not of fig4a"
    for command in (
        ("run", "fig4a", "--preset", "smoke", "--out", tmp_path),
        ("figure", "fig4a", "--from", tmp_path),
    ):
        line = one_error(*richlazy(*command)[::2])
        assert whose in line and "--overwrite" in line and "--set" not in line
    status, _, lines = richlazy("report", "--from", tmp_path)
    assert whose in one_error(status, lines)
    command = ("run", "fig4a", "--preset", "smoke", "--out", tmp_path, "--overwrite")
    assert richlazy(*command)[0] == 0
    assert json.loads((tmp_path / "fig4a" / "config.json").read_text())["experiment"] == "fig4a"


@pytest.mark.parametrize(
    "manifest",
    [
        {"config_sha256": None, "files": {".zattrs": 5}},
        {"config_sha256": None, "files": {".zattrs": {"size": "big", "sha256": "0" * 64}}},
        {"config_sha256": None, "files": {".zattrs": {"size": 3}}},
        {"config_sha256": None, "files": {"../config.json": {"size": 3, "sha256": "0" * 64}}},
        {"config_sha256": 7, "files": {}},
        [1, 2],
    ],
)
def test_a_malformed_checksum_manifest_is_damage_that_overwrite_repairs(
    richlazy, tmp_path, manifest
):
    assert richlazy("run", "fig3", "--preset", "smoke", "--out", tmp_path)[0] == 0
    path = tmp_path / "fig3" / "results.zarr" / ".richlazy-checksums.json"
    path.write_text(json.dumps(manifest))
    for command in (
        ("run", "fig3", "--preset", "smoke", "--out", tmp_path),
        ("figure", "fig3", "--from", tmp_path),
    ):
        line = one_error(*richlazy(*command)[::2])
        assert f"{path} is damaged (not a checksum manifest)" in line and "--overwrite" in line
    command = ("run", "fig3", "--preset", "smoke", "--out", tmp_path, "--overwrite")
    assert richlazy(*command)[0] == 0
    assert richlazy("report", "--from", tmp_path)[0] == 0


def test_the_damage_message_recomputes_the_same_configuration(richlazy, tmp_path):
    """The command a damaged-results message suggests keeps the run's preset and settings (the
    one config.json records, or the one a run asked for), and running it repairs them."""
    asked = ("--preset", "smoke", "--set", "time_points=51", "--set", "deltas=-1,0,2.5")
    assert richlazy("run", "fig3", *asked, "--out", tmp_path)[0] == 0
    chunk = next((tmp_path / "fig3" / "results.zarr" / "mu").glob("0*"))
    chunk.write_bytes(chunk.read_bytes()[:3])  # truncated
    settings = ["--set", "deltas=-1.0,0.0,2.5", "--set", "time_points=51"]  # in field order
    words = ["richlazy", "run", "fig3", "--out", str(tmp_path), *asked[:2], *settings]
    expected = shlex.join([*words, "--overwrite"])
    for command in (("report", "--from", tmp_path), ("figure", "fig3", "--from", tmp_path)):
        line = one_error(*richlazy(*command)[::2])
        assert f"`{expected}`" in line
    line = one_error(*richlazy("run", "fig3", *asked, "--out", tmp_path)[::2])
    assert f"`{expected}`" in line
    (tmp_path / "fig3" / "config.json").write_text("garbage")  # the run's own request is named
    line = one_error(*richlazy("run", "fig3", *asked, "--out", tmp_path)[::2])
    assert "config.json is damaged" in line and f"`{expected}`" in line
    assert richlazy(*shlex.split(expected)[1:])[0] == 0
    record = json.loads((tmp_path / "fig3" / "config.json").read_text())["config"]
    assert (record["preset"], record["time_points"], record["deltas"]) == (
        "smoke",
        51,
        [-1, 0, 2.5],
    )


def test_an_unreadable_figure_of_another_experiment_does_not_fail_a_finished_run(
    richlazy, tmp_path
):
    assert richlazy("run", "fig3", "fig8", "--preset", "smoke", "--out", tmp_path)[0] == 0
    figure = tmp_path / "fig8" / "fig8.png"
    figure.unlink()
    figure.mkdir()  # unreadable as a file, whoever runs the test (root reads any mode)
    status, _, lines = richlazy("run", "fig3", "--preset", "smoke", "--out", tmp_path)
    assert status == 0 and lines == [], lines
    status, _, lines = richlazy("report", "--from", tmp_path)
    line = one_error(status, lines)
    assert f"cannot read the figure {figure}" in line and "richlazy figure fig8 --from" in line
