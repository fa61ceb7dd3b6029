"""The scripts in bench/ run end to end on tiny sizes and print what their docs say they print."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def run_script(name: str, *args: str) -> list[dict]:
    """Run bench/NAME with ARGS; return its JSON lines (the first line echoes the command)."""
    done = subprocess.run(
        [sys.executable, str(BENCH / name), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("# command: python ")
    return [json.loads(line) for line in lines[1:]]


def test_closed_form_benchmark_agrees_with_the_integrator():
    (record,) = run_script(
        "closed_form_vs_integrator.py",
        *("--inits", "300", "--times", "40", "--horizons", "10", "--sample", "6"),
    )
    assert record["inits"] == 300 and record["integrator_sampled_inits"] == 6
    assert record["max_relative_error"] <= 1e-8
    assert record["speedup"] > 0 and record["speedup_one_core_each"] > 0
    assert record["closed_form_cores"] >= 1 and record["closed_form_one_core_s"] > 0
    assert record["output_write_s"] > 0 and record["speedup_if_only_writing_output"] > 0


@pytest.mark.parametrize(
    ("script", "runs"),
    [
        (
            "gd_step_convergence.py",
            ["gd, reference lr", "gd, lr/4", "gd, lr/16", "gf, rtol 1e-3", "gf, rtol 1e-6"],
        ),
        (
            "gd_modified_flow.py",
            ["gd, reference lr", "gd, lr/16", "gf, rtol 1e-3", "modified flow, rtol 1e-3"],
        ),
    ],
)
def test_one_cell_scripts_report_every_run_at_every_checkpoint(script, runs):
    records = run_script(script, "--tau", "1", "--steps", "100", "--samples", "30", "--dim", "3")
    assert [r["run"] for r in records] == runs
    for record in records:
        assert len(record["time"]) == len(record["test_loss"]) == len(record["kernel_distance"])
        assert record["time"][-1] == pytest.approx(2 * 5e-3 / 30 * 100)  # t = h·steps, h = 2·lr/n
        assert record["test_loss"][-1] < record["test_loss"][0]  # every run learned something
    descent = {r["run"]: r["gradient_evaluations"] for r in records if r["run"].startswith("gd")}
    assert descent["gd, reference lr"] == 100 and descent["gd, lr/16"] == 1600


def test_fit_benchmark_times_both_paths_on_the_same_runs():
    records = run_script(
        "fit_batched_vs_sequential.py", "--runs", "2", "--threads", "1", "--steps", "3",
        "--repeats", "1", "--models", "mlp",
    )  # fmt: skip
    assert [(r["model"], r["runs"]) for r in records] == [("mlp", 2)]
    assert records[0]["max_parameter_difference"] < 1e-5  # the two paths trained the same runs
    assert records[0]["batched_s"] > 0 and records[0]["sequential_s"] > 0


def test_section5_recipes_benchmark_times_every_case_against_its_baseline():
    records = run_script(
        "section5_recipes.py", "--p", "256", "--runs", "2", "--epochs", "1", "--steps", "1",
        "--runs-6d", "2", "--d-model", "16", "--repeats", "1", "--one-thread-only",
    )  # fmt: skip
    cases = [(r["recipe"], r.get("case", r.get("estimate"))) for r in records]
    assert cases[0] == ("fig6c", "one run, 1 thread") and records[0]["ratio"] == 1.0
    assert ("fig6c", "fit(vectorize=True), 1 thread") in cases
    assert ("fig6d", "vmapped 2 α, 1 thread") in cases
    assert not any("two" in case for _, case in cases)  # --one-thread-only
    six_c = next(r for r in records if r.get("estimate", "").startswith("paper grid"))
    assert six_c["sizes"][0] == 128 and six_c["sizes"][-1] == 92_681 and len(six_c["sizes"]) == 20
    assert six_c["steps_per_run_over_sizes"] == sum(250 * -(-p // 128) for p in six_c["sizes"])
    for record in records:
        if "case" in record and "ratio" in record:
            assert record["ratio"] > 0 and record["cpu_ratio"] > 0
    # the evaluations (torch.utils.benchmark.Timer, per call): one thread's CPU time cannot much
    # exceed the wall time of the same work (2×: the two fastest blocks come from different
    # measurements, each rounded)
    test = next(r for r in records if r.get("case", "").startswith("test on"))
    evaluate = next(r for r in records if r.get("case", "").startswith("evaluate"))
    for wall, cpu in ((test["s"], test["cpu_s"]), (evaluate["ms"], evaluate["cpu_ms"])):
        assert wall > 0 and 0 < cpu <= 2 * wall
