"""Closed-form single-neuron flow against the reference integrator (issue: foundation, §5).

Both evaluate the same random initializations (a0, w0 ~ N(0, 1), β* ~ N(0, I), d = 2, so δ takes
both signs) at the same T times in [0, horizon]. The closed form runs on all of them (the fastest
of 7 runs: this machine's timings of a 0.1 s call vary by up to 30%), once on all the cores it
may use and once on one; the integrator (`gradient_flow`, DOP853, one trajectory at a time on
one core) runs once on a random sample of the same size at every horizon, and its time is scaled
to the full count, which the output states. `speedup` sets the closed form on every core against
the integrator on one; `speedup_one_core_each` gives both one core (the integrator's
trajectories are independent, so a pool of processes would divide its time by the cores).
`output_write_s` is the time to allocate and fill arrays of the output's size on the same cores,
a floor for any evaluation that returns them, and `speedup_if_only_writing_output` the ratio the
integrator's time would give against that floor alone. The error is the max over the
sample and all times of ‖(a, w)_closed − (a, w)_integrator‖ / ‖(a, w)_integrator‖.

The integrator's rtol defaults to 1e-12, the loosest setting at which the two agree to 1e-8 on
every sampled trajectory (at rtol 1e-10 the integrator's own error reaches 3e-7; checked against
rtol 1e-13, the closed form agrees to 1e-11).

Usage:
    python bench/closed_form_vs_integrator.py [--inits 10000] [--times 1000]
        [--horizons 20 200 2000] [--sample 200] [--rtol 1e-12]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from richlazy.single_neuron import closed_form_threads, exact_trajectory, gradient_flow


def best_of(repeats: int, function) -> float:
    """The fastest of ``repeats`` wall-clock timings of ``function()``.

    By hand rather than torch.utils.benchmark.Timer: the timed code is NumPy and SciPy (this
    script does not import torch), and its threads follow OMP_NUM_THREADS (one_core), where
    Timer sets torch's thread count.
    """
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        timings.append(time.perf_counter() - start)
    return min(timings)


@contextlib.contextmanager
def one_core():
    """The closed form on one thread: its worker count follows OMP_NUM_THREADS at each call."""
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        yield
    finally:
        if saved is None:
            del os.environ["OMP_NUM_THREADS"]
        else:
            os.environ["OMP_NUM_THREADS"] = saved


def write_output(inits: int, times: int, dims: int, cores: int) -> None:
    """Allocate and fill arrays the size of the closed form's output, a (B, T) and w (B, T, d),
    rows shared among ``cores`` threads: the least any evaluation that returns them costs."""
    a, w = np.empty((inits, times)), np.empty((inits, times, dims))
    chunks = np.array_split(np.arange(inits), 8 * cores)

    def fill(rows):
        a[rows[0] : rows[-1] + 1] = 1.0
        w[rows[0] : rows[-1] + 1] = 1.0

    with ThreadPoolExecutor(cores) as pool:
        list(pool.map(fill, [rows for rows in chunks if rows.size]))


def measure(inits: int, times: int, horizon: float, sample: int, seed: int, rtol: float) -> dict:
    rng = np.random.default_rng(seed)
    a0, w0, beta_star = (
        rng.normal(size=inits),
        rng.normal(size=(inits, 2)),
        rng.normal(size=(inits, 2)),
    )
    t = np.linspace(0.0, horizon, times)
    closed_seconds = best_of(7, lambda: exact_trajectory(a0, w0, beta_star, t))
    with one_core():
        one_core_seconds = best_of(7, lambda: exact_trajectory(a0, w0, beta_star, t))
    write_seconds = best_of(7, lambda: write_output(inits, times, 2, closed_form_threads()))
    closed = exact_trajectory(a0, w0, beta_star, t)
    picked = rng.choice(inits, size=min(sample, inits), replace=False)
    start = time.perf_counter()  # one pass over the sample, checked as it goes: no repeats
    worst = 0.0
    for index in picked:
        reference = gradient_flow(a0[index], w0[index], np.eye(2), beta_star[index], t, rtol=rtol)
        state_ref = np.concatenate([reference.a[:, None], reference.w], axis=1)  # (T, 3)
        state_cf = np.concatenate([closed.a[index][:, None], closed.w[index]], axis=1)
        error = np.linalg.norm(state_cf - state_ref, axis=1) / np.linalg.norm(state_ref, axis=1)
        worst = max(worst, float(error.max()))
    integrator_seconds = (time.perf_counter() - start) * inits / picked.size
    return {
        "inits": inits,
        "times": times,
        "horizon": horizon,
        "integrator_rtol": rtol,
        "closed_form_cores": closed_form_threads(),
        "closed_form_s": round(closed_seconds, 4),
        "closed_form_one_core_s": round(one_core_seconds, 4),
        "integrator_s": round(integrator_seconds, 2),
        "integrator_sampled_inits": int(picked.size),
        "speedup": round(integrator_seconds / closed_seconds, 1),
        "speedup_one_core_each": round(integrator_seconds / one_core_seconds, 1),
        "output_write_s": round(write_seconds, 4),
        "speedup_if_only_writing_output": round(integrator_seconds / write_seconds, 1),
        "max_relative_error": float(f"{worst:.2e}"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inits", type=int, default=10_000)
    parser.add_argument("--times", type=int, default=1_000)
    parser.add_argument("--horizons", type=float, nargs="+", default=[20.0, 200.0, 2000.0])
    parser.add_argument(
        "--sample",
        type=int,
        default=200,
        help="initializations the integrator runs at each horizon (time scaled to --inits)",
    )
    parser.add_argument("--rtol", type=float, default=1e-12, help="integrator tolerance")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print("# command: python " + " ".join(sys.argv), flush=True)
    for horizon in args.horizons:
        print(
            json.dumps(measure(args.inits, args.times, horizon, args.sample, args.seed, args.rtol)),
            flush=True,
        )


if __name__ == "__main__":
    main()
