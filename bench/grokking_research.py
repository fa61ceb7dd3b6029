"""Grokking research runs behind docs/section5-structure.md (a plain torch loop, one thread).

For each (alpha, seed): Nanda et al.'s transformer on (a + b) mod p, full batch, loss in float64;
alpha divides the embedding's initialization (richlazy.nn.unbalance). Prints one JSON line per run:
steps until test accuracy > 95% (None: not within the cap) and until train accuracy > 95%.

    PYTHONPATH=src python bench/grokking_research.py --p 43 --d-model 64 --d-mlp 256 \
        --fraction 0.5 --alphas 1,2,4,8 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch.nn import functional

from richlazy.data.modular import modular_arithmetic
from richlazy.nn import unbalance
from richlazy.nn.models.transformer import ModularTransformer


def one_run(args, alpha: float, seed: int) -> dict:
    split = modular_arithmetic(args.p, fraction=args.fraction, seed=seed)
    x, y = torch.as_tensor(split.x), torch.as_tensor(split.y)
    xt, yt = torch.as_tensor(split.x_test), torch.as_tensor(split.y_test)
    torch.manual_seed(seed)
    model = ModularTransformer(args.p, d_model=args.d_model, n_heads=args.heads, d_mlp=args.d_mlp)
    scales = {"pos": 1 / alpha} if args.scale_pos else None
    geometry = unbalance(model, alpha, rescale_last=args.rescale_last, scales=scales)
    groups = geometry.param_groups(args.lr)
    if args.embed_lr_power:  # embedding lr x alpha^-power (AdamW moves a tensor by lr per step)
        emb = {id(model.embed.weight), id(model.pos.weight)}
        groups = [
            {
                "params": [q for q in model.parameters() if id(q) in emb],
                "lr": args.lr / alpha**args.embed_lr_power,
            },
            {"params": [q for q in model.parameters() if id(q) not in emb], "lr": args.lr},
        ]
    if args.optimizer == "adamw":
        opt = torch.optim.AdamW(groups, lr=args.lr, weight_decay=args.wd, betas=(0.9, 0.98))
    else:
        opt = torch.optim.SGD(groups, lr=args.lr, weight_decay=args.wd, momentum=args.momentum)
    gen = mem = None
    trace = []  # (step, |E_t| / |E_0|, |E_t - E_0| / |E_0|) of the token embedding
    e0 = model.embed.weight.detach().clone()
    start = time.perf_counter()  # the whole run's seconds, recorded with it (not a benchmark)
    for step in range(args.steps + 1):
        if step % args.every == 0:
            with torch.no_grad():
                test_acc = (model(xt).argmax(-1) == yt).double().mean().item()
                train_acc = (model(x).argmax(-1) == y).double().mean().item()
            if args.trace:
                e = model.embed.weight.detach()
                trace.append(
                    (
                        step,
                        round((e.norm() / e0.norm()).item(), 3),
                        round(((e - e0).norm() / e0.norm()).item(), 3),
                    )
                )
            if mem is None and train_acc > 0.95:
                mem = step
            if gen is None and test_acc > 0.95:
                gen = step
                break
        if step == args.steps:
            break
        opt.zero_grad(set_to_none=True)
        loss = functional.cross_entropy(model(x).double(), y)
        loss.backward()
        opt.step()
    emb_norm = model.embed.weight.norm().item()
    return dict(
        alpha=alpha,
        seed=seed,
        steps_to_generalize=gen,
        steps_to_memorize=mem,
        last_step=step,
        train_acc=train_acc,
        test_acc=test_acc,
        loss=loss.item(),
        embed_norm=emb_norm,
        embed_trace=trace,
        seconds=round(time.perf_counter() - start, 1),
        **{k: v for k, v in vars(args).items() if k not in ("alphas", "seeds")},
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--p", type=int, default=113)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--d-mlp", type=int, default=512)
    parser.add_argument("--fraction", type=float, default=0.3)
    parser.add_argument("--optimizer", default="adamw")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--wd", type=float, default=1.0)
    parser.add_argument("--momentum", type=float, default=0.0)
    parser.add_argument("--rescale-last", action="store_true")
    parser.add_argument("--scale-pos", action="store_true")
    parser.add_argument("--embed-lr-power", type=float, default=0.0)
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--alphas", default="1,2,4,8")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--tag", default="")
    parser.add_argument("--trace", action="store_true", help="embedding norms at each eval")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for seed in map(int, args.seeds.split(",")):
        for alpha in map(float, args.alphas.split(",")):
            print(json.dumps(one_run(args, alpha, seed)), flush=True)


if __name__ == "__main__":
    main()
