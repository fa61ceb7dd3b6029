"""Is GD at the reference rate close to gradient flow? Step-size refinement on one Figure-1b cell.

Trains the same two-layer ReLU student (teacher–student, by default n = 200, d = 20, m = 50, the
seed of `richlazy bench gf-vs-gd`; Figure 1b's own size is --samples 1000 --dim 100) by GD at the
reference rate lr = 5e-3/τ², at lr/4 and lr/16 (4x and 16x more steps, same gradient-flow time),
and by adaptive gradient flow at two tolerances, and prints the test loss and the kernel
distance S(0, t) at every checkpoint. If GD had converged in its step size, all rows would agree.

Usage:
    python bench/gd_step_convergence.py [--tau 0.1] [--delta 1.0] [--steps 10000]
        [--samples 200] [--dim 20]
"""

from __future__ import annotations

import argparse
import json
import sys

from richlazy import metrics
from richlazy.data.tasks import teacher_student
from richlazy.experiments._two_layer import GridConfig, initial_cells
from richlazy.train import log_schedule, train


def cell(tau: float, delta: float, samples: int, dim: int):
    """One Figure-1b cell as the bench gf-vs-gd draws it (seed 0): the initial networks (S = K =
    1), the data X, y, X_test, y_test (each with a leading dataset axis) and the reference rate."""
    config = GridConfig(taus=(tau,), deltas=(delta,), seeds=(0,))
    initial, tensors = initial_cells(config, teacher_student(0, d=dim, n=samples, n_test=2000), 0)
    return initial, tensors, float(config.learning_rates()[0, 0])


def record(label: str, initial, result, X, X_test, y_test, **extra) -> str:
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


def main() -> None:
    args = cell_arguments(__doc__.splitlines()[0], samples=200, dim=20)
    print("# command: python " + " ".join(sys.argv), flush=True)
    initial, (X, y, X_test, y_test), lr = cell(args.tau, args.delta, args.samples, args.dim)
    checkpoints = log_schedule(args.steps)
    runs = [
        ("gd, reference lr", "gd", lr, 1, 1e-3),
        ("gd, lr/4", "gd", lr / 4, 4, 1e-3),
        ("gd, lr/16", "gd", lr / 16, 16, 1e-3),
        ("gf, rtol 1e-3", "gf", lr, 1, 1e-3),
        ("gf, rtol 1e-6", "gf", lr, 1, 1e-6),
    ]
    for label, method, rate, refine, rtol in runs:
        nets = initial.clone()
        result = train(
            nets, X, y, lr=rate, checkpoints=checkpoints * refine, method=method, rtol=rtol
        )
        print(record(label, initial, result, X, X_test, y_test, tau=args.tau, delta=args.delta))


if __name__ == "__main__":
    main()
