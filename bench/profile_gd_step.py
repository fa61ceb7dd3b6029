"""The GPU kernels of the engine's GD step and their times, from torch.profiler.

    python bench/profile_gd_step.py [--fuse | --no-fuse] [--samples N --dim D --nets G]

Trains the benchmark's batch (richlazy.benchmarks.two_layer's problem) for a few hundred steps
under the profiler and prints the kernels of the steps, busiest first, with the number of
launches per step: what bounds a step on a GPU (docs/performance.md).
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from richlazy.benchmarks import two_layer_problem
from richlazy.train import GD, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fuse", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--width", type=int, default=50)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--dim", type=int, default=2)
    parser.add_argument("--nets", type=int, default=256)
    parser.add_argument("--steps", type=int, default=320)
    options = parser.parse_args()
    if not torch.cuda.is_available():
        parser.error("this profiles CUDA kernels; PyTorch sees no CUDA device here")
    _, nets, X, y, lr = two_layer_problem(
        options.width, options.samples, options.dim, options.nets, seed=0, device="cuda"
    )
    train(
        nets.clone(), X, y, lr=lr, checkpoints=[0, 64], solver=GD(fuse=options.fuse)
    )  # compile, warm up
    with profile(activities=[ProfilerActivity.CUDA]) as profiler:
        train(nets, X, y, lr=lr, checkpoints=[0, options.steps], solver=GD(fuse=options.fuse))
        torch.cuda.synchronize()
    kernels = [e for e in profiler.key_averages() if e.self_device_time_total > 0]
    kernels.sort(key=lambda e: -e.self_device_time_total)
    total = sum(e.self_device_time_total for e in kernels)
    print(f"GPU time per step: {total / options.steps:.2f} us (fuse={options.fuse})")
    for event in kernels[:12]:
        print(
            f"{event.count / options.steps:6.2f} per step  "
            f"{event.self_device_time_total / event.count:7.2f} us each  {event.key[:90]}"
        )


if __name__ == "__main__":
    main()
