"""Benchmarks of the two-layer training engine against the reference algorithm (``richlazy bench``).

Every function returns a flat dict of measured numbers (printed as one JSON line by the CLI);
ratios are always against a baseline measured in the same call, on the same machine.

- :func:`two_layer`: network steps per second of the batched engine (GD or gradient flow) on G
  networks sharing one dataset, with the float64 matrix-multiply rate of the machine and the
  fraction of it the GD step attains, and optionally the reference's rate for the same networks.
- :func:`reference_two_layer`: the reference algorithm, full-batch GD of one network at a time in
  NumPy (``richlazy.train.reference``), one single-threaded process per core.
- :func:`gf_vs_gd`: gradient flow against gradient descent on Figure-1b cells, to the time of
  ``steps`` GD steps: gradient evaluations and the largest differences of test loss and kernel
  distance at every checkpoint.
- :func:`one_cell`, :func:`checkpoint_record`, :func:`cell_arguments`: what the one-cell scripts
  in ``bench/`` share (the cell, its JSON record and its command line).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
from dataclasses import replace

import numpy as np
import torch

from richlazy import _validate as check
from richlazy import metrics
from richlazy.data.tasks import student_directions, teacher_student
from richlazy.nets.two_layer import symmetric_pairs
from richlazy.runtime import Progress, SilentProgress, torch_threads
from richlazy.sweeps import GridConfig, grid_metrics, initial_cells, train_cells
from richlazy.train import DTYPES, GD, METHODS, check_device, solver_named, train
from richlazy.train.reference import gradient_descent

_SINGLE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def matmul_rate(*, dtype: str = "float64", device: str = "cpu", size: int | None = None) -> float:
    """The matrix-multiply rate in FLOP/s of products of two size² matrices, on as many CPU
    threads as torch uses now. ``size`` defaults to 1024 on the CPU and 8192 on a GPU (smaller
    products leave a GPU partly idle).

    Timed by ``torch.utils.benchmark.Timer`` (it warms up, synchronizes a GPU around each block
    of products, and is told to keep torch's thread count); the fastest of its blocks.
    """
    from torch.utils import benchmark  # only here: the rest of the module does not need it

    size = size or (1024 if device == "cpu" else 8192)
    generator = torch.Generator(device=device).manual_seed(0)
    left, right = (
        torch.randn(size, size, dtype=DTYPES[dtype], device=device, generator=generator)
        for _ in range(2)
    )
    out = torch.empty_like(left)
    timer = benchmark.Timer(
        "torch.mm(left, right, out=out)",
        globals={"torch": torch, "left": left, "right": right, "out": out},
        num_threads=torch.get_num_threads(),
    )
    return 2 * size**3 / min(timer.blocked_autorange().times)


def two_layer_problem(
    width: int,
    samples: int,
    dim: int,
    nets: int,
    seed: int,
    dtype: torch.dtype = torch.float64,
    device: str = "cpu",
):
    """A teacher–student dataset and G networks on it with τ, δ spread over Figure 1b's ranges.

    Returns:
        The dataset (NumPy), the networks (S = 1, K = G), its X (1, n, d) and y (1, n) as
        tensors, and each network's reference learning rate 5e-3/τ² (1, G).
    """
    rng = np.random.default_rng(seed)
    data = teacher_student(seed, d=dim, n=samples, n_test=1)
    directions, signs = student_directions(rng, width, dim)  # (1, m/2, d), (1, m/2)
    tau = 10 ** rng.uniform(-1, 0.3, size=(1, nets))
    delta = rng.uniform(-1, 1, size=(1, nets))
    batch = symmetric_pairs(directions, signs, tau, delta, dtype=dtype, device=device)
    X, y = (torch.as_tensor(v, dtype=dtype, device=device)[None] for v in (data.X, data.y))
    return data, batch, X, y, 5e-3 / tau**2


def two_layer(
    *,
    width: int = 50,
    samples: int = 20,
    dim: int = 2,
    nets: int = 256,
    steps: int = 2000,
    method: str = "gd",
    device: str = "cpu",
    dtype: str = "float64",
    fuse: bool | None = None,
    baseline: bool = True,
    baseline_steps: int = 2000,
    repeats: int = 3,
    seed: int = 0,
) -> dict:
    """Throughput of the batched engine on ``nets`` networks of one dataset (best of ``repeats``).

    The learning rate is the reference's 5e-3/τ² (docs/theory.md §5.1); at the default n = 20 a
    few strongly unbalanced small-τ networks exceed GD's stability bound and diverge (the engine
    freezes them; their steps still count). ``network_steps_per_s`` counts reference GD steps of
    time covered, for both methods. For GD, ``matmul_fraction`` is the GD step's matrix-product
    rate (4·n·d·m FLOP per network step: the forward product and the first-layer gradient) over
    the machine's measured ``matmul_flops_per_s``. ``fuse`` chooses the torch.compile-fused GD
    step (None: the engine's default, :meth:`richlazy.train.GD.fuses`); the compilation happens in
    the warm-up.

    Returns:
        A dict of measured numbers (seconds, rates, evaluations, the ratio to the reference).
    """
    width, samples, dim, nets = (
        check.positive_integer(name, value)
        for name, value in (("width", width), ("samples", samples), ("dim", dim), ("nets", nets))
    )
    steps = check.step_count("steps", steps)
    baseline_steps = check.step_count("baseline_steps", baseline_steps)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    repeats = check.positive_integer("repeats", repeats)
    if width % 2:
        raise ValueError(f"width must be even (neurons come in pairs), got {width}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {tuple(DTYPES)}, got {dtype!r}")
    check_device(device)
    _, batch, X, y, lr = two_layer_problem(width, samples, dim, nets, seed, DTYPES[dtype], device)
    if method == "gd" and fuse is None:
        fuse = GD().fuses(batch, X, steps)  # decided once: the warm-up compiles what is timed
    solver = solver_named(method, **({"fuse": fuse} if fuse is not None else {}))

    def run(count: int) -> tuple[float, float, int]:
        """Seconds, gradient evaluations per network and threads of ``count`` steps' time."""
        trained = batch.clone()
        _synchronize(device)
        start = time.perf_counter()
        result = train(trained, X, y, lr=lr, checkpoints=[0, count], solver=solver)
        _synchronize(device)
        return time.perf_counter() - start, result.gradient_evaluations, result.threads

    run(min(steps, 50))  # warm-up: allocations, thread pools, compilation
    seconds, evaluations, threads = min(run(steps) for _ in range(repeats))  # best of
    record = {
        "method": method,
        "width": width,
        "samples": samples,
        "dim": dim,
        "nets": nets,
        "steps": steps,
        "device": device,
        "dtype": dtype,
        "engine_threads": threads if device == "cpu" else None,
        "fused": bool(method == "gd" and fuse),
        "seconds": round(seconds, 4),
        "network_steps_per_s": round(nets * steps / seconds, 1),
        "gradient_evaluations": evaluations,
    }
    if method == "gd":
        flops = 4 * samples * dim * width * nets * steps
        with torch_threads(threads):  # the matmul rate on the threads the engine used
            rate = matmul_rate(dtype=dtype, device=device)
        record.update(
            matmul_flops_per_s=round(rate, -6),
            step_matmul_flops_per_s=round(flops / seconds, -6),
            matmul_fraction=round(flops / seconds / rate, 3),
        )
    if baseline:
        reference = reference_two_layer(
            width=width, samples=samples, dim=dim, steps=baseline_steps, seed=seed
        )
        record.update(
            reference_network_steps_per_s=reference["network_steps_per_s"],
            reference_processes=reference["processes"],
            speedup=round(record["network_steps_per_s"] / reference["network_steps_per_s"], 1),
        )
    return record


def _reference_job(arguments) -> float:
    """One process's share of the baseline: GD of one network; returns its seconds."""
    W, a, X, y, lr, steps = arguments
    start = time.perf_counter()
    gradient_descent(W, a, X, y, lr=lr, steps=steps)
    return time.perf_counter() - start


def reference_two_layer(
    *,
    width: int = 50,
    samples: int = 20,
    dim: int = 2,
    steps: int = 2000,
    processes: int | None = None,
    seed: int = 0,
) -> dict:
    """The reference algorithm's throughput: one single-threaded NumPy process per core.

    Each of ``processes`` (default: every core) worker processes trains one network with the
    per-network NumPy loop; the rate is all their network steps over the wall-clock time.
    """
    if processes is None:
        processes = os.cpu_count() or 1
    processes = check.positive_integer("processes", processes)
    steps = check.step_count("steps", steps)
    data, batch, _, _, lr = two_layer_problem(width, samples, dim, processes, seed)
    jobs = [
        (batch.W[0, k].numpy(), batch.a[0, k].numpy(), data.X, data.y, float(lr[0, k]), steps)
        for k in range(processes)
    ]
    saved = {name: os.environ.get(name) for name in _SINGLE_THREAD}
    os.environ.update(dict.fromkeys(_SINGLE_THREAD, "1"))  # inherited by the spawned workers
    try:
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            pool.map(_reference_job, [(*job[:5], min(steps, 50)) for job in jobs])  # warm-up
            start = time.perf_counter()
            pool.map(_reference_job, jobs)
            seconds = time.perf_counter() - start
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return {
        "processes": processes,
        "steps": steps,
        "seconds": round(seconds, 4),
        "network_steps_per_s": round(processes * steps / seconds, 1),
    }


def gf_vs_gd(
    *,
    taus: tuple[float, ...] = (0.1, 1.0, 2.0),
    deltas: tuple[float, ...] = (-1.0, 0.0, 1.0),
    samples: int = 200,
    dim: int = 20,
    n_test: int = 2000,
    width: int = 50,
    steps: int = 100_000,
    rtol: float = 1e-3,
    seed: int = 0,
    device: str = "cpu",
    progress: Progress | None = None,
) -> dict:
    """Gradient flow vs gradient descent on Figure-1b cells (reference lr 5e-3/τ²).

    Both train the same networks to the time of ``steps`` GD steps, checkpointed at 0 and every
    power of ten. At every checkpoint and cell where both have numbers, the differences of test
    loss and kernel distance S(0, t) are measured; a difference passes if it is ≤ 1% of the GD
    value or ≤ 1e-4, and the comparison passes if every difference does and no network diverged.

    Returns:
        gd_evals and gf_evals (gradient evaluations per network, on average), their ratio, the
        share of the flow's steps taken at the GD step (its floor), the accepted steps of the
        network that needed the most (three evaluations each), the largest relative and absolute
        differences per metric, and whether every difference passed.
    """
    # The sweep of Figure 1b itself (richlazy.sweeps), once per method; it validates.
    config = GridConfig(
        taus=taus, deltas=deltas, seeds=(seed,), width=width, steps=steps, rtol=rtol, device=device
    )
    data = teacher_student(seed, d=dim, n=samples, n_test=n_test)
    cells = config.cells
    progress = progress or SilentProgress()
    measured, evaluations, seconds, diverged, flow_steps = {}, {}, {}, {}, None
    for method in ("gd", "gf"):
        run_config = replace(config, method=method)
        label, total = run_config.progress_units()
        start = time.perf_counter()
        with progress.task(f"gf-vs-gd: {method}, {cells} networks, {label}", total) as advance:
            trained = train_cells(run_config, data, seed, advance)
        seconds[method] = time.perf_counter() - start
        evaluations[method] = trained.result.gradient_evaluations
        diverged[method] = int(trained.result.diverged.sum())
        if method == "gf":
            flow_steps = trained.result.flow_steps
        measured[method] = grid_metrics(trained)  # name -> (K, C)
    record = {
        "cells": cells,
        "samples": samples,
        "dim": dim,
        "steps": steps,
        "rtol": rtol,
        "gd_evals": evaluations["gd"],
        "gf_evals": evaluations["gf"],
        "evals_ratio": round(evaluations["gd"] / evaluations["gf"], 1),
        "gf_steps_at_gd_step_fraction": round(flow_steps.at_gd_step_fraction, 3),
        "gf_most_steps_one_network": int(flow_steps.accepted.max()),
        "gd_diverged": diverged["gd"],
        "gf_diverged": diverged["gf"],
        "gd_seconds": round(seconds["gd"], 2),
        "gf_seconds": round(seconds["gf"], 2),
    }
    # Compared where both methods have numbers (a cell GD diverged in has none to compare).
    passed = record["gd_diverged"] == record["gf_diverged"] == 0
    for name in ("test_loss", "kernel_distance"):
        gd, gf = measured["gd"][name], measured["gf"][name]  # (K, C)
        both = np.isfinite(gd) & np.isfinite(gf)
        absolute = np.abs(gf - gd)[both]
        relative = absolute / np.maximum(np.abs(gd[both]), np.finfo(float).tiny)
        passed &= bool(np.all((relative <= 0.01) | (absolute <= 1e-4)))
        record[f"{name}_max_relative_difference"] = _finite_or_none(relative.max(initial=0.0))
        record[f"{name}_max_absolute_difference"] = _finite_or_none(absolute.max(initial=0.0))
    record["within_1pct_or_1e-4"] = passed
    return record


def one_cell(tau: float, delta: float, samples: int, dim: int):
    """One Figure-1b cell as :func:`gf_vs_gd` draws it (seed 0): the initial networks (S = K =
    1), the data X, y, X_test, y_test (each with a leading dataset axis) and the reference rate."""
    config = GridConfig(taus=(tau,), deltas=(delta,), seeds=(0,))
    initial, tensors = initial_cells(config, teacher_student(0, d=dim, n=samples, n_test=2000), 0)
    return initial, tensors, float(config.learning_rates()[0, 0])


def checkpoint_record(label: str, initial, result, X, X_test, y_test, **extra) -> str:
    """One JSON line: test loss and kernel distance S(0, t) at every checkpoint of ``result``."""
    losses = [float(metrics.mean_squared_error(s, X_test, y_test)[0, 0]) for s in result.snapshots]
    distances = metrics.kernel_distances(initial, result.snapshots, X)[0, 0]  # (C,)
    return json.dumps(
        {
            "run": label,
            **extra,
            "time": [float(t) for t in result.time[0, 0]],
            "test_loss": [float(f"{v:.4g}") for v in losses],
            "kernel_distance": [float(f"{v:.4g}") for v in distances.tolist()],
            "gradient_evaluations": result.gradient_evaluations,
        }
    )


def cell_arguments(description: str, samples: int, dim: int) -> argparse.Namespace:
    """The command line of a one-cell script: --tau --delta --steps --samples --dim."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--tau", type=float, default=0.1)
    parser.add_argument("--delta", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=samples, help="training samples n")
    parser.add_argument("--dim", type=int, default=dim, help="input dimension d")
    return parser.parse_args()


def _finite_or_none(value: float) -> float | None:
    """A number for the JSON record, 3 significant digits; None (JSON null) if not finite."""
    return float(f"{value:.3g}") if np.isfinite(value) else None
