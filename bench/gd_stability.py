"""How close is GD at the reference rate to its stability edge? h·λ_max(NTK) in Figure-1b cells.

A GD step of size h on L = ½Σ(f − y)² is stable along the NTK's top eigenvector while
h·λ_max < 2 (near a minimum the Hessian is the Gauss–Newton matrix, whose nonzero eigenvalues are
the NTK's). Explicit error-controlled integrators of the flow are bounded similarly (Bogacki–
Shampine: h ≲ 2.5/λ_max), so where GD's own step is close to the edge, gradient flow cannot take
much longer steps than GD. Trains the cells of `richlazy bench gf-vs-gd` by GD and prints
h_GD·λ_max at every checkpoint, one column per cell.

Usage:
    python bench/gd_stability.py [--samples 200] [--dim 20] [--steps 20000]
"""

from __future__ import annotations

import argparse
import sys

import torch

from richlazy import metrics
from richlazy.data.tasks import teacher_student
from richlazy.sweeps import GridConfig, train_cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200, help="training samples n")
    parser.add_argument("--dim", type=int, default=20, help="input dimension d")
    parser.add_argument("--steps", type=int, default=20_000, help="GD steps")
    args = parser.parse_args()
    print("# command: python " + " ".join(sys.argv), flush=True)
    config = GridConfig(taus=(0.1, 1.0, 2.0), deltas=(-1.0, 0.0, 1.0), seeds=(0,), steps=args.steps)
    data = teacher_student(0, d=args.dim, n=args.samples, n_test=1)
    trained = train_cells(config, data, seed=0)
    h = 2 * config.learning_rates().reshape(-1) / args.samples  # the GD step on L, per cell
    cells = [f"τ={t:g},δ={d:+g}" for t in config.taus for d in config.deltas]
    print("step".rjust(8) + "".join(c.rjust(13) for c in cells))
    for step, nets in zip(trained.result.steps, trained.result.snapshots, strict=True):
        top = torch.linalg.eigvalsh(metrics.ntk(nets, trained.X))[0, :, -1].numpy()  # (cells,)
        print(f"{int(step):8d}" + "".join(f"{v:13.3f}" for v in h * top))


if __name__ == "__main__":
    main()
