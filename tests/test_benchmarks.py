"""The benchmarks run on tiny sizes and report what they measured (their speed is not tested)."""

import json

import pytest
from tests.test_cli import richlazy

from richlazy import benchmarks


def test_two_layer_reports_rates_and_the_reference_ratio():
    record = benchmarks.two_layer(nets=4, steps=20, baseline_steps=20, repeats=1)
    assert record["gradient_evaluations"] == 20
    assert record["engine_threads"] == 1  # a batch this small runs on one thread
    assert record["network_steps_per_s"] > 0 and 0 < record["matmul_fraction"] < 1
    ratio = record["network_steps_per_s"] / record["reference_network_steps_per_s"]
    assert record["speedup"] == pytest.approx(ratio, abs=0.05)  # rounded to 0.1
    assert record["fused"] is False  # on the CPU the engine does not fuse by default


def test_two_layer_times_the_fused_step_when_asked():
    record = benchmarks.two_layer(nets=4, steps=20, fuse=True, baseline=False, repeats=1)
    assert record["fused"] is True and record["gradient_evaluations"] == 20
    with pytest.raises(ValueError, match="fuse"):
        benchmarks.two_layer(nets=4, steps=20, method="gf", fuse=True, baseline=False)


def test_gf_vs_gd_reports_evaluations_and_differences():
    record = benchmarks.gf_vs_gd(samples=200, dim=3, n_test=50, width=6, steps=100, rtol=1e-3)
    assert record["cells"] == 9 and record["gd_evals"] == 100
    assert record["gd_diverged"] == record["gf_diverged"] == 0
    assert record["evals_ratio"] == pytest.approx(100 / record["gf_evals"], abs=0.05)
    assert 0 <= record["gf_steps_at_gd_step_fraction"] <= 1
    assert isinstance(record["gf_most_steps_one_network"], int)
    assert record["gf_most_steps_one_network"] >= 1
    for name in ("test_loss", "kernel_distance"):
        assert record[f"{name}_max_absolute_difference"] >= 0
    with pytest.raises(ValueError, match="rtol"):
        benchmarks.gf_vs_gd(rtol=2.0)  # refused before any training


def test_bench_command_prints_one_json_line_and_refuses_bad_options():
    done = richlazy("bench", "two-layer", "--nets", "2", "--steps", "10", "--no-baseline")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["nets"] == 2
    for arguments in (
        ("--method", "rk4"),
        ("--device", "tpu"),
        ("--width", "5"),
        ("--method", "gf", "--fuse"),
    ):
        bad = richlazy("bench", "two-layer", *arguments)
        assert bad.returncode == 2 and bad.stderr.startswith("error:"), bad.stderr


def test_bench_ntk_prints_one_json_line_per_probe_size():
    done = richlazy("bench", "ntk", "--n", "4", "--n", "6", "--width", "2")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.strip().splitlines()]
    assert [r["n_points"] for r in records] == [4, 6]
    assert all(r["relative_error"] <= 1e-10 and r["speedup"] > 0 for r in records)
    bad = richlazy("bench", "ntk", "--dtype", "float16")
    assert bad.returncode == 2 and bad.stderr.startswith("error:"), bad.stderr
