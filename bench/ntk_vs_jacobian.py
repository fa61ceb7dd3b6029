"""The empirical NTK of a CIFAR ResNet-18: richlazy.nn.empirical_ntk vs the torch.func Jacobian.

Each method runs in its own subprocess on the same seeded network and probe points (3×32×32):
wall time of the kernel computation, peak resident memory (ru_maxrss of the subprocess) and
the relative Frobenius difference of the two kernels. The baseline is the PyTorch tutorial's
Jacobian contraction (vmap(jacrev) over all parameters, then einsum per parameter tensor;
richlazy.nn.benchmark). Prints the command, then one JSON line per N with the ratios
(docs/nn.md records the measured numbers).

Usage:
    python bench/ntk_vs_jacobian.py [--n 64 128] [--width 64] [--dtype float64] [--threads 1]
                                    [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import sys

from richlazy.nn.benchmark import ntk_benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[64, 128], help="probe points N")
    parser.add_argument("--width", type=int, default=64, help="first-stage width (64: standard)")
    parser.add_argument("--outputs", type=int, default=1, help="network outputs")
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--threads", type=int, default=None, help="torch threads per process")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1, help="alternating runs; fastest kept")
    args = parser.parse_args()
    print("# command: python " + " ".join(sys.argv), flush=True)
    records = ntk_benchmark(tuple(args.n), width=args.width, outputs=args.outputs,
                            dtype=args.dtype, threads=args.threads, seed=args.seed,
                            repeats=args.repeats)  # fmt: skip
    for record in records:
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
