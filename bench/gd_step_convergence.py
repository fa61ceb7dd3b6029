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

import sys

from richlazy.benchmarks import cell_arguments, checkpoint_record, one_cell
from richlazy.train import GD, GradientFlow, log_schedule, train


def main() -> None:
    args = cell_arguments(__doc__.splitlines()[0], samples=200, dim=20)
    print("# command: python " + " ".join(sys.argv), flush=True)
    initial, (X, y, X_test, y_test), lr = one_cell(args.tau, args.delta, args.samples, args.dim)
    checkpoints = log_schedule(args.steps)
    runs = [
        ("gd, reference lr", GD(), lr, 1),
        ("gd, lr/4", GD(), lr / 4, 4),
        ("gd, lr/16", GD(), lr / 16, 16),
        ("gf, rtol 1e-3", GradientFlow(rtol=1e-3), lr, 1),
        ("gf, rtol 1e-6", GradientFlow(rtol=1e-6), lr, 1),
    ]
    for label, solver, rate, refine in runs:
        nets = initial.clone()
        result = train(nets, X, y, lr=rate, checkpoints=checkpoints * refine, solver=solver)
        print(
            checkpoint_record(
                label, initial, result, X, X_test, y_test, tau=args.tau, delta=args.delta
            )
        )


if __name__ == "__main__":
    main()
