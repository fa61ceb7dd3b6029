"""The speed of the paper's Figure 6c and 6d recipes on CPU cores, and the wall time of their grids.

fig6c: the mean-field MLP (width 64, 3 hidden layers) on the paper's Random Hierarchy Model
(L = 3, n_c = 8, m = 4, s = 2, v = 8; P training points, one RHM and one draw per seed), SGD
with momentum 0.9 at rate 6.4, minibatches of 128, cross-entropy (the cosine schedule costs
nothing and is left out). Seconds per epoch for

- ``one run``: one model, ``torch.optim.SGD``, 1 thread: the baseline;
- ``vmapped``: R runs (the α × seed grid, α ∈ {0.03, …, 10}) as one batch: parameters stacked by
  ``torch.func.stack_module_state``, one ``vmap``-ed loss, one SGD over the stacked tensors (as
  ``richlazy.nn.fit``'s vectorized path), each run's minibatch of its own data gathered at once;
- ``fit``: the same R runs through ``richlazy.nn.fit(..., vectorize=True)`` (its per-epoch cost:
  a 3-epoch call minus a 1-epoch call, so that the measurements at its ends cancel);
- ``two processes``: two processes of 1 thread at once, each with half the runs vmapped (the
  way to use 2 cores); the time is the slower one's;
- ``test``: one evaluation of the R runs on 20,000 test points (vmapped, no gradient).

fig6d: the one-layer grokking transformer (d = 128, 4 heads, p = 97, "a op b =" tokens),
AdamW (lr 1e-3, betas (0.9, 0.98), weight decay 1), minibatches of 512: milliseconds per step
for one run (1 and 2 threads), R runs vmapped (the α of one τ row), two processes of one run
each, and one evaluation on the train and test sets (9,409 points).

Every case is timed in this process (or its two children) against the baseline measured in the
same call; the fastest of ``--repeats`` is kept, wall clock and this process's CPU time both (on
a loaded machine the CPU time is what one free core would take). The evaluations, short calls
without side effects, are timed by ``torch.utils.benchmark.Timer`` instead (the fastest of its
blocks, on each clock). ``ratio`` is the baseline's
cost for the same work over the case's: for fig6c R × (one run) over the case, for fig6d the
same per step. The last lines of each recipe estimate the wall time of the paper grids on 2 free
cores (one process per core) from the CPU time of the cheapest one-thread way measured (formulas
in docs/performance.md, "The paper's Section 5 recipes").

Prints the command, then one JSON line per case and one per estimate.

Usage:
    python bench/section5_recipes.py [--recipes 6c 6d] [--p 4096] [--runs 36] [--epochs 2]
                                     [--steps 20] [--runs-6d 5] [--d-model 128] [--repeats 3]
                                     [--one-thread-only]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import torch
from torch.func import functional_call, stack_module_state, vmap
from torch.nn import functional
from torch.utils import benchmark

from richlazy.data import modular_arithmetic, random_hierarchy
from richlazy.nn import SGD, fit, unbalance
from richlazy.nn.models import GrokkingTransformer, MeanFieldMLP

ALPHAS = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)  # fig6c's α
P_MAX = 8 * 4**7  # the paper's RHM
SIZES = [int(2 ** (k / 2) * P_MAX) for k in range(-20, 0)]  # 2^-10 … 2^-0.5 of P_max, 20 sizes
BATCH_6C, EPOCHS_6C, N_TEST_6C = 128, 250, 20_000
BATCH_6D = 512
GROK_STEPS = {"tau=1 row (25 runs)": [1800, 1500, 1600, 800, 700] * 5}  # the preview


def _timed(work, repeats: int) -> tuple[float, float]:
    """The fastest (wall, CPU) seconds of ``repeats`` calls of ``work`` (after one warm-up).

    Timed by hand for the training cases: each call is seconds of training, and both clocks come
    from the same calls, while torch.utils.benchmark.Timer reads one clock per measurement (so
    it would train twice as long) and keeps a single call of that length (see _timed_call).
    """
    work()
    best_wall = best_cpu = math.inf
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu


def _timed_call(work) -> tuple[float, float]:
    """The fastest (wall, CPU) seconds per call of ``work()``, an evaluation without side
    effects, from torch.utils.benchmark.Timer: it warms up, times blocks of as many calls as
    make the clock's own cost negligible (a millisecond evaluation is no longer one noisy call)
    and keeps torch's thread count as it is. Once with the wall clock (Timer's default, which
    synchronizes an accelerator) and once with this process's CPU clock; the fastest block of
    each."""
    seconds = []
    for clock in ({}, {"timer": time.process_time}):
        timer = benchmark.Timer(
            "work()", globals={"work": work}, num_threads=torch.get_num_threads(), **clock
        )
        seconds.append(min(timer.blocked_autorange().times))
    return seconds[0], seconds[1]


# ---------------------------------------------------------------------------------------------
# fig6c


def _rhm_runs(runs: int, p: int):
    """R models (α × seed) with each seed's own RHM data: (R, P, 64) inputs, (R, P) labels."""
    seeds = math.ceil(runs / len(ALPHAS))
    data = []
    for seed in range(seeds):
        split = random_hierarchy(8, 8, 4, 3, 2, seed=seed).sample(p, N_TEST_6C, seed=seed,
                                                                 nested=True)  # fmt: skip
        data.append(tuple(torch.as_tensor(a) for a in (split.x, split.y, split.x_test,
                                                       split.y_test)))  # fmt: skip
    models, xs, ys, xts, yts = [], [], [], [], []
    for run in range(runs):
        seed, alpha = divmod(run, len(ALPHAS))
        torch.manual_seed(seed)
        models.append(MeanFieldMLP(64, 64, 3, 8))
        unbalance(models[-1], ALPHAS[alpha])
        x, y, xt, yt = data[seed]
        xs.append(x.flatten(1))
        ys.append(y)
        xts.append(xt.flatten(1))
        yts.append(yt)
    return models, torch.stack(xs), torch.stack(ys), torch.stack(xts), torch.stack(yts)


class _Vmapped:
    """R runs as stacked parameters, one vmapped loss and one SGD (fit's vectorized path)."""

    def __init__(self, models, x, y):
        self.params, _ = stack_module_state(models)  # name -> (R, ...)
        self.base = copy.deepcopy(models[0]).to("meta")
        self.optimizer = torch.optim.SGD(list(self.params.values()), lr=6.4, momentum=0.9)
        self.x, self.y = x, y  # (R, P, 64), (R, P)
        self.rows = torch.arange(x.shape[0])[:, None]  # (R, 1)
        self.generator = torch.Generator().manual_seed(0)
        self.loss = vmap(self._loss)

    def _loss(self, params, x, y):
        return functional.cross_entropy(functional_call(self.base, params, (x,)), y)

    def epoch(self) -> None:
        runs, p = self.y.shape
        order = torch.rand(runs, p, generator=self.generator).argsort(dim=1)  # (R, P)
        for start in range(0, p, BATCH_6C):
            index = order[:, start : start + BATCH_6C]  # (R, B)
            self.optimizer.zero_grad(set_to_none=True)
            self.loss(
                self.params, self.x[self.rows, index], self.y[self.rows, index]
            ).sum().backward()
            self.optimizer.step()

    def test(self, x, y) -> torch.Tensor:
        forward = vmap(lambda params, x: functional_call(self.base, params, (x,)))
        with torch.no_grad():
            return (forward(self.params, x).argmax(-1) != y).double().mean(1)  # (R,)


def _one_run_epoch(model, x, y):
    optimizer = torch.optim.SGD(model.parameters(), lr=6.4, momentum=0.9)
    generator = torch.Generator().manual_seed(0)

    def epoch():
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), BATCH_6C):
            index = order[start : start + BATCH_6C]
            optimizer.zero_grad(set_to_none=True)
            functional.cross_entropy(model(x[index]), y[index]).backward()
            optimizer.step()

    return epoch


def _vmapped_6c(runs, p, epochs, repeats, threads):
    """(wall, CPU) seconds per epoch of ``runs`` vmapped runs, in a process of ``threads``."""
    torch.set_num_threads(threads)
    models, x, y, _, _ = _rhm_runs(runs, p)
    batch = _Vmapped(models, x, y)
    wall, cpu = _timed(lambda: [batch.epoch() for _ in range(epochs)], repeats)
    return wall / epochs, cpu / epochs


def _two_processes(job, args) -> tuple[float, float]:
    """Run ``job(*args)`` in two 1-thread processes at once; the slower one's (wall, CPU) (each
    process times itself with _timed: what is measured is two processes sharing the cores)."""
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(job, *zip(args, args, strict=True)))
    return max(r[0] for r in results), max(r[1] for r in results)


def bench_6c(p: int, runs: int, epochs: int, repeats: int, parallel: bool = True) -> list[dict]:
    torch.set_num_threads(1)
    models, x, y, x_test, y_test = _rhm_runs(runs, p)
    one = _one_run_epoch(copy.deepcopy(models[0]), x[0], y[0])
    wall, cpu = _timed(lambda: [one() for _ in range(epochs)], repeats)
    base = {"wall": wall / epochs, "cpu": cpu / epochs}
    rows = [("one run, 1 thread", 1, 1, base["wall"], base["cpu"])]
    for threads in (1, 2) if parallel else (1,):
        w, c = _vmapped_6c(runs, p, epochs, repeats, threads)
        rows.append((f"vmapped, {threads} thread(s)", runs, threads, w, c))
    torch.set_num_threads(1)

    def fit_epochs(k):
        fit([copy.deepcopy(m) for m in models], list(x), list(y), epochs=k, batch_size=BATCH_6C,
            optimizer=SGD(6.4, momentum=0.9), seed=list(range(runs)),
            eval_steps=[0], vectorize=True)  # fmt: skip

    three, three_cpu = _timed(lambda: fit_epochs(3), repeats)
    once, once_cpu = _timed(lambda: fit_epochs(1), repeats)
    rows.append(("fit(vectorize=True), 1 thread", runs, 1, (three - once) / 2,
                 (three_cpu - once_cpu) / 2))  # fmt: skip
    if parallel:
        half = runs // 2
        w, c = _two_processes(_vmapped_6c, (half, p, epochs, repeats, 1))
        rows.append((f"two processes × {half} vmapped, 1 thread each", 2 * half, 2, w, c))
    batch = _Vmapped(models, x, y)
    test_wall, test_cpu = _timed_call(lambda: batch.test(x_test, y_test))
    records = []
    steps = math.ceil(p / BATCH_6C)
    for case, n, threads, w, c in rows:
        records.append({
            "recipe": "fig6c", "case": case, "P": p, "runs": n, "threads": threads,
            "s_per_epoch": round(w, 4), "cpu_s_per_epoch": round(c, 4),
            "ms_per_step": round(1000 * w / steps, 3),
            "ratio": round(n * base["wall"] / w, 2), "cpu_ratio": round(n * base["cpu"] / c, 2),
        })  # fmt: skip
    records.append({"recipe": "fig6c", "case": f"test on {N_TEST_6C} points", "runs": runs,
                    "threads": 1, "s": round(test_wall, 4),
                    "cpu_s": round(test_cpu, 4)})  # fmt: skip
    # the grid: every size, 250 epochs; the per-step cost of a vmapped batch does not depend on P.
    # Wall times on 2 free cores from the CPU time of the cheapest 1-thread way per run-step.
    grid_steps = sum(EPOCHS_6C * math.ceil(size / BATCH_6C) for size in SIZES)
    one_thread = [r for r in records[:-1] if r["threads"] == 1]
    best = min(one_thread, key=lambda r: r["cpu_s_per_epoch"] / r["runs"])
    cpu_step = best["cpu_s_per_epoch"] / best["runs"] / steps  # CPU seconds per run-step
    grid_runs = 6 * len(ALPHAS)
    tests = len(SIZES) * (EPOCHS_6C // 10) * test_cpu / runs * grid_runs  # every 10 epochs
    records.append({
        "recipe": "fig6c", "estimate": "paper grid: 6 α × 6 seeds × 20 sizes, 250 epochs",
        "sizes": SIZES, "steps_per_run_over_sizes": grid_steps, "best_case": best["case"],
        "cpu_ms_per_run_step": round(1000 * cpu_step, 3),
        "wall_h_two_free_cores": round(grid_steps * grid_runs * cpu_step / 2 / 3600, 2),
        "tests_every_10_epochs_h_two_free_cores": round(tests / 2 / 3600, 2),
    })  # fmt: skip
    return records


# ---------------------------------------------------------------------------------------------
# fig6d


def _grok_models(runs: int, d_model: int):
    alphas = (0.1, 0.3, 1.0, 3.0, 10.0)  # fig6d's α, repeated beyond 5 runs
    models = []
    for alpha in (alphas * runs)[:runs]:
        torch.manual_seed(0)
        models.append(GrokkingTransformer(97, d_model=d_model))
        unbalance(models[-1], alpha, first=GrokkingTransformer.EMBEDDINGS, rescale_last=False)
    return models


def _grok_data():
    split = modular_arithmetic(97, fraction=0.5, seed=0, sequence="a op b =")
    return [torch.as_tensor(a) for a in (split.x, split.y, split.x_test, split.y_test)]


def _grok_steps(
    runs: int, steps: int, repeats: int, threads: int, d_model: int
) -> tuple[float, float]:
    """(wall, CPU) seconds per step of ``runs`` runs (vmapped if > 1) on ``threads`` threads."""
    torch.set_num_threads(threads)
    x, y, _, _ = _grok_data()
    models = _grok_models(runs, d_model)
    adamw = dict(lr=1e-3, betas=(0.9, 0.98), weight_decay=1.0)
    generator = torch.Generator().manual_seed(0)
    if runs == 1:
        model = models[0]
        optimizer = torch.optim.AdamW(model.parameters(), **adamw)

        def step(index):
            optimizer.zero_grad(set_to_none=True)
            functional.cross_entropy(model(x[index]), y[index]).backward()
            optimizer.step()
    else:
        params, buffers = stack_module_state(models)
        base = copy.deepcopy(models[0]).to("meta")
        optimizer = torch.optim.AdamW(list(params.values()), **adamw)
        loss = vmap(
            lambda p, b, xb, yb: functional.cross_entropy(functional_call(base, (p, b), (xb,)), yb),
            in_dims=(0, 0, None, None),
        )

        def step(index):
            optimizer.zero_grad(set_to_none=True)
            loss(params, buffers, x[index], y[index]).sum().backward()
            optimizer.step()

    def work():
        order = torch.randperm(len(y), generator=generator)
        for k in range(steps):
            start = (k * BATCH_6D) % (len(y) - BATCH_6D)
            step(order[start : start + BATCH_6D])

    wall, cpu = _timed(work, repeats)
    return wall / steps, cpu / steps


def bench_6d(
    runs: int, steps: int, repeats: int, d_model: int = 128, parallel: bool = True
) -> list[dict]:
    rows = [("one run, 1 thread", 1, 1, *_grok_steps(1, steps, repeats, 1, d_model))]
    if parallel:
        rows.append(("one run, 2 threads", 1, 2, *_grok_steps(1, steps, repeats, 2, d_model)))
    rows.append(
        (f"vmapped {runs} α, 1 thread", runs, 1, *_grok_steps(runs, steps, repeats, 1, d_model))
    )
    if parallel:
        w, c = _two_processes(_grok_steps, (1, steps, repeats, 1, d_model))
        rows.append(("two processes × one run, 1 thread each", 2, 2, w, c))
    torch.set_num_threads(1)
    x, _, x_test, _ = _grok_data()
    model = _grok_models(1, d_model)[0]
    with torch.no_grad():
        ev_wall, ev_cpu = _timed_call(lambda: (model(x), model(x_test)))
    base_wall, base_cpu = rows[0][3], rows[0][4]
    records = [
        {"recipe": "fig6d", "case": case, "runs": n, "threads": threads,
         "ms_per_step": round(1000 * w, 2), "cpu_ms_per_step": round(1000 * c, 2),
         "ms_per_run_step": round(1000 * w / n, 2),
         "ratio": round(n * base_wall / w, 2), "cpu_ratio": round(n * base_cpu / c, 2)}
        for case, n, threads, w, c in rows
    ]  # fmt: skip
    records.append({"recipe": "fig6d", "case": "evaluate train + test (9,409 points)",
                    "ms": round(1000 * ev_wall, 1), "cpu_ms": round(1000 * ev_cpu, 1)})  # fmt: skip
    # wall times on 2 free cores (one run per process) from the CPU time of one run's step
    cpu_step = min(r[4] for r in rows if r[1] <= 2)  # one run alone, or each of two processes
    for name, per_run in {**GROK_STEPS, "125 runs at 2000 steps each": [2000] * 125}.items():
        total = sum(per_run)
        records.append({
            "recipe": "fig6d", "estimate": name, "steps": total,
            "cpu_ms_per_step": round(1000 * cpu_step, 2),
            "wall_h_two_free_cores": round(total * cpu_step / 2 / 3600, 2),
            "checks_every_50_h_two_free_cores": round(total / 50 * ev_cpu / 2 / 3600, 2),
            "one_censored_run_h_one_core": round(30_000 * cpu_step / 3600, 2),
        })  # fmt: skip
    return records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=["6c", "6d"], choices=["6c", "6d"])
    parser.add_argument("--p", type=int, default=4096, help="fig6c's training points")
    parser.add_argument("--runs", type=int, default=36, help="fig6c's vmapped runs (α × seed)")
    parser.add_argument("--epochs", type=int, default=2, help="fig6c's epochs per timing")
    parser.add_argument("--steps", type=int, default=20, help="fig6d's steps per timing")
    parser.add_argument("--runs-6d", type=int, default=5, help="fig6d's vmapped runs")
    parser.add_argument("--d-model", type=int, default=128, help="fig6d's width (tests: small)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--one-thread-only", action="store_true", help="skip the 2-thread and 2-process cases"
    )
    args = parser.parse_args(argv)
    print("# command: python " + " ".join(sys.argv), flush=True)
    if "6c" in args.recipes:
        parallel = not args.one_thread_only
        for record in bench_6c(args.p, args.runs, args.epochs, args.repeats, parallel):
            print(json.dumps(record), flush=True)
    if "6d" in args.recipes:
        parallel = not args.one_thread_only
        for record in bench_6d(args.runs_6d, args.steps, args.repeats, args.d_model, parallel):
            print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
