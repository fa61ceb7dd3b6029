"""Closed-form single-neuron flow against the reference integrator (issue: foundation, §5).

Both evaluate the same random initializations (a0, w0 ~ N(0, 1), β* ~ N(0, I), d = 2, so δ takes
both signs) at the same T times in [0, horizon]. The closed form runs on all of them (the fastest
of 7 runs: this machine's timings of a 0.1 s call vary by up to 30%); the integrator
(`gradient_flow`, DOP853) runs once on a random sample of the same size at every horizon, and
its time is scaled to the full count, which the output states. The error is the max over the
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
import json
import sys
import time

import numpy as np

from richlazy.single_neuron import exact_trajectory, gradient_flow


def best_of(repeats: int, function) -> float:
    """The fastest of ``repeats`` wall-clock timings of ``function()``."""
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        timings.append(time.perf_counter() - start)
    return min(timings)


def measure(inits: int, times: int, horizon: float, sample: int, seed: int, rtol: float) -> dict:
    rng = np.random.default_rng(seed)
    a0, w0, beta_star = (
        rng.normal(size=inits),
        rng.normal(size=(inits, 2)),
        rng.normal(size=(inits, 2)),
    )
    t = np.linspace(0.0, horizon, times)
    closed_seconds = best_of(7, lambda: exact_trajectory(a0, w0, beta_star, t))
    closed = exact_trajectory(a0, w0, beta_star, t)
    picked = rng.choice(inits, size=min(sample, inits), replace=False)
    start = time.perf_counter()
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
        "closed_form_s": round(closed_seconds, 4),
        "integrator_s": round(integrator_seconds, 2),
        "integrator_sampled_inits": int(picked.size),
        "speedup": round(integrator_seconds / closed_seconds, 1),
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
