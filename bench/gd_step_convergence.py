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

import numpy as np
import torch

from richlazy import metrics
from richlazy.data.tasks import student_directions, teacher_student
from richlazy.nets.two_layer import symmetric_pairs
from richlazy.train import log_schedule, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tau", type=float, default=0.1)
    parser.add_argument("--delta", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=200, help="training samples n")
    parser.add_argument("--dim", type=int, default=20, help="input dimension d")
    args = parser.parse_args()
    print("# command: python " + " ".join(sys.argv), flush=True)
    data = teacher_student(0, d=args.dim, n=args.samples, n_test=2000)
    rng = np.random.default_rng([0, 1])
    directions, signs = student_directions(rng, 50, args.dim)  # (1, m/2, d), (1, m/2)
    tau, delta = np.array([[args.tau]]), np.array([[args.delta]])
    X, y, X_test, y_test = (
        torch.as_tensor(v)[None] for v in (data.X, data.y, data.X_test, data.y_test)
    )
    initial = symmetric_pairs(directions, signs, tau, delta)
    lr = 5e-3 / args.tau**2
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
        losses = [
            float(metrics.mean_squared_error(s, X_test, y_test)[0, 0]) for s in result.snapshots
        ]
        distances = metrics.kernel_distances(initial, result.snapshots, X)[0, 0]  # (C,)
        record = {
            "run": label,
            "tau": args.tau,
            "delta": args.delta,
            "time": [float(t) for t in result.time[0, 0]],
            "test_loss": [float(f"{v:.4g}") for v in losses],
            "kernel_distance": [float(f"{v:.4g}") for v in distances.tolist()],
            "gradient_evaluations": result.gradient_evaluations,
        }
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
