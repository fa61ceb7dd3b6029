"""richlazy.nn.fit: R runs trained as one vmapped batch vs one after the other.

Both paths train the same seeded models on the same data and minibatch orders in this process,
alternating, the fastest of ``--repeats`` kept; the ratio is sequential time over batched time,
and the largest parameter difference between the paths checks that they trained the same runs.
Models:

- ``mlp``: a deep bias-free ReLU MLP on 64-dimensional inputs, minibatches of ``--batch``;
- ``cnn``: the SmallCNN on 8×8 images (the sizes of scikit-learn's digits; random data here);
- ``transformer``: fig6d's quick transformer on (a + b) mod 43, full-batch AdamW, α = 1, 2, 4, 8
  in turn;
- ``rhm``: fig6c's hierarchical CNN on 512 Random Hierarchy Model samples, full-batch SGD,
  α = 1, 4, 16 in turn.

Prints the command, then one JSON line per (model, runs, threads).

Usage:
    python bench/fit_batched_vs_sequential.py [--runs 3 8] [--threads 1 2] [--steps 100]
                                              [--batch 64] [--repeats 2] [--models ...]
                                              [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from richlazy.data import modular_arithmetic, random_hierarchy
from richlazy.nn import SGD, AdamW, fit, unbalance
from richlazy.nn.models import MLP, HierarchicalCNN, ModularTransformer, SmallCNN


def _seeded(build, runs: int) -> list[torch.nn.Module]:
    models = []
    for seed in range(runs):
        torch.manual_seed(seed)
        models.append(build(seed))
    return models


def _random_images(shape, device):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1024, *shape, generator=generator)
    return x.to(device), torch.randint(0, 10, (1024,), generator=generator).to(device)


def _mlp(runs, device, batch):
    models = _seeded(lambda seed: MLP(64, 128, 4, 10), runs)  # d_in, width, depth, classes
    return models, *_random_images((64,), device), SGD(0.05, momentum=0.9), batch


def _cnn(runs, device, batch):
    models = _seeded(lambda seed: SmallCNN(8, width=16), runs)
    optimizer = SGD(0.05, momentum=0.9)
    return models, *_random_images((1, 8, 8), device), optimizer, batch


def _transformer(runs, device, batch):
    def build(seed):
        model = ModularTransformer(43, d_model=64, d_mlp=256, logits_dtype=torch.float64)
        unbalance(model, 2.0 ** (seed % 4), rescale_last=False)
        return model

    split = modular_arithmetic(43, fraction=0.5, seed=0)
    x, y = (torch.as_tensor(a, device=device) for a in (split.x, split.y))
    optimizer = AdamW(3e-3, weight_decay=1.0, betas=(0.9, 0.98))
    return _seeded(build, runs), x, y, optimizer, None


def _rhm(runs, device, batch):
    def build(seed):
        model = HierarchicalCNN(8, 64, 3, 2, 8)
        unbalance(model, 4.0 ** (seed % 3))
        return model

    split = random_hierarchy(8, 8, 3, 3, 2, seed=0).sample(512, 0, seed=0)
    x, y = (torch.as_tensor(a, device=device) for a in (split.x, split.y))
    return _seeded(build, runs), x, y, SGD(1.0), None


SETUPS = {"mlp": _mlp, "cnn": _cnn, "transformer": _transformer, "rhm": _rhm}


def _time(name, runs, args, vectorize, device):
    models, x, y, optimizer, batch = SETUPS[name](runs, device, args.batch)
    models = [model.to(device) for model in models]
    # By hand rather than torch.utils.benchmark.Timer: fit trains these models in place and
    # they are compared afterwards, so the call must run exactly once (Timer first runs its
    # statement at least twice to warm up), and each call is a whole multi-second fit.
    start = time.perf_counter()
    fit(models, x, y, optimizer=optimizer, steps=args.steps, batch_size=batch,
        seed=list(range(runs)), eval_steps=[0], vectorize=vectorize)  # fmt: skip
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[3, 8])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=64, help="minibatch of mlp and cnn")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print("# command: python " + " ".join(sys.argv), flush=True)
    device = torch.device(args.device)
    for name in args.models:
        for threads in args.threads:
            torch.set_num_threads(threads)
            _time(name, 2, args, True, device)  # warm up vmap's first call
            for runs in args.runs:
                best = {True: float("inf"), False: float("inf")}
                trained = {}
                for _ in range(args.repeats):
                    for vectorize in (True, False):
                        elapsed, trained[vectorize] = _time(name, runs, args, vectorize, device)
                        best[vectorize] = min(best[vectorize], elapsed)
                difference = max(
                    (p - q).abs().max().item()
                    for a, b in zip(trained[True], trained[False], strict=True)
                    for p, q in zip(a.parameters(), b.parameters(), strict=True)
                )
                print(json.dumps({
                    "model": name, "runs": runs, "threads": threads, "steps": args.steps,
                    "batched_s": round(best[True], 3), "sequential_s": round(best[False], 3),
                    "batched_ms_per_run_step": round(1e3 * best[True] / runs / args.steps, 2),
                    "speedup": round(best[False] / best[True], 2),
                    "max_parameter_difference": difference,
                }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
