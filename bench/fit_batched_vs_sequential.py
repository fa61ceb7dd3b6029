"""richlazy.nn.fit: R runs trained as one vmapped batch vs one after the other.

Both paths train the same seeded models on the same data and minibatch orders in this process,
alternating, the fastest of ``--repeats`` kept; the ratio is sequential time over batched time,
and the largest parameter difference between the paths checks that they trained the same runs.
Models: a deep bias-free ReLU MLP on 64-dimensional inputs and the SmallCNN on 8×8 images (the
sizes of scikit-learn's digits, random data here). Prints the command, then one JSON line per
(model, runs, threads).

Usage:
    python bench/fit_batched_vs_sequential.py [--runs 3 8] [--threads 1 2] [--steps 100]
                                              [--batch 64] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from richlazy.nn import Optimizer, fit
from richlazy.nn.models import MLP, SmallCNN

MODELS = {
    "mlp": (lambda: MLP(64, 128, 4, 10), (64,)),  # d_in, width, depth, classes
    "cnn": (lambda: SmallCNN(8, width=16), (1, 8, 8)),
}


def _models(name: str, runs: int) -> list[torch.nn.Module]:
    build, _ = MODELS[name]
    models = []
    for seed in range(runs):
        torch.manual_seed(seed)
        models.append(build())
    return models


def _time(name, runs, x, y, args, vectorize) -> tuple[float, list[torch.nn.Module]]:
    models = _models(name, runs)
    start = time.perf_counter()
    optimizer = Optimizer("sgd", lr=0.05, momentum=0.9)
    seeds = list(range(runs))
    fit(models, x, y, optimizer=optimizer, steps=args.steps, batch_size=args.batch, seed=seeds,
        eval_steps=[0], vectorize=vectorize)  # fmt: skip
    return time.perf_counter() - start, models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[3, 8])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    args = parser.parse_args()
    print("# command: python " + " ".join(sys.argv), flush=True)
    generator = torch.Generator().manual_seed(0)
    for name in args.models:
        shape = MODELS[name][1]
        x = torch.randn(1024, *shape, generator=generator)
        y = torch.randint(0, 10, (1024,), generator=generator)
        for threads in args.threads:
            torch.set_num_threads(threads)
            _time(name, 2, x, y, args, True)  # warm up vmap's first call
            for runs in args.runs:
                best = {True: float("inf"), False: float("inf")}
                trained = {}
                for _ in range(args.repeats):
                    for vectorize in (True, False):
                        elapsed, trained[vectorize] = _time(name, runs, x, y, args, vectorize)
                        best[vectorize] = min(best[vectorize], elapsed)
                difference = max(
                    (p - q).abs().max().item()
                    for a, b in zip(trained[True], trained[False], strict=True)
                    for p, q in zip(a.parameters(), b.parameters(), strict=True)
                )
                print(json.dumps({
                    "model": name, "runs": runs, "threads": threads, "steps": args.steps,
                    "batch": args.batch, "batched_s": round(best[True], 3),
                    "sequential_s": round(best[False], 3),
                    "speedup": round(best[False] / best[True], 2),
                    "max_parameter_difference": difference,
                }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
