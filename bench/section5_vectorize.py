"""Does fit's vectorized path (stack_module_state + vmap) pay for the Section 5 models?

Times R runs of the quick presets' models trained together (vectorize=True) against one after
the other (vectorize=False), one torch thread, and checks that both give the same accuracies:

    PYTHONPATH=src python bench/section5_vectorize.py [--device cuda]
"""

from __future__ import annotations

import argparse
import time

import torch

from richlazy.data import modular_arithmetic, random_hierarchy
from richlazy.nn import unbalance
from richlazy.nn.models import HierarchicalCNN, ModularTransformer
from richlazy.nn.training import Optimizer, fit


def _transformers(R: int, device):
    models = []
    for r in range(R):
        torch.manual_seed(r)
        model = ModularTransformer(43, d_model=64, d_mlp=256, logits_dtype=torch.float64)
        unbalance(model, 2.0 ** (r % 4), rescale_last=False)
        models.append(model.to(device))
    split = modular_arithmetic(43, fraction=0.5, seed=0)
    data = [torch.as_tensor(a, device=device) for a in (split.x, split.y)]
    return models, data, Optimizer("adamw", lr=3e-3, weight_decay=1.0, betas=(0.9, 0.98))


def _cnns(R: int, device):
    models = []
    for r in range(R):
        torch.manual_seed(r)
        model = HierarchicalCNN(8, 64, 3, 2, 8)
        unbalance(model, 4.0 ** (r % 3))
        models.append(model.to(device))
    split = random_hierarchy(8, 8, 3, 3, 2, seed=0).sample(512, 0, seed=0)
    data = [torch.as_tensor(a, device=device) for a in (split.x, split.y)]
    return models, data, Optimizer("sgd", lr=1.0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--runs", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(1)
    device = torch.device(args.device)
    for name, build in (
        ("transformer p=43 d=64", _transformers),
        ("RHM CNN width 64 P=512", _cnns),
    ):
        seconds, accuracy = {}, {}
        for vectorize in (False, True):
            models, (x, y), optimizer = build(args.runs, device)
            fit(models, x, y, optimizer=optimizer, steps=2, vectorize=vectorize)  # warm up
            models, (x, y), optimizer = build(args.runs, device)
            start = time.perf_counter()
            history = fit(models, x, y, optimizer=optimizer, steps=args.steps,
                          eval_steps=[0, args.steps], vectorize=vectorize)  # fmt: skip
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds[vectorize] = time.perf_counter() - start
            accuracy[vectorize] = history.train_accuracy.values[:, -1]
        same = float(abs(accuracy[True] - accuracy[False]).max())
        per = {v: 1e3 * s / args.steps / args.runs for v, s in seconds.items()}
        print(
            f"{name}: {args.runs} runs x {args.steps} steps: sequential {per[False]:.2f} ms, "
            f"vectorized {per[True]:.2f} ms per run-step; speed-up "
            f"{seconds[False] / seconds[True]:.2f}x; max accuracy difference {same:.3g}"
        )


if __name__ == "__main__":
    main()
