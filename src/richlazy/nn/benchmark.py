"""The eNTK of a CIFAR ResNet-18 against the torch.func Jacobian contraction (docs/nn.md).

``ntk_benchmark`` runs each method in its own Python subprocess (so that each one's peak
resident memory, ``ru_maxrss``, is its own), on the same seeded network and probe points,
and compares the kernels. The baseline is the PyTorch tutorial's contraction: the per-point
Jacobian ``vmap(jacrev(f))`` over all parameters, then ``einsum`` per parameter tensor (its
Jacobian is computed once when x2 = x1, which favours the baseline). Both run with
``OMP_WAIT_POLICY=PASSIVE`` unless the environment sets it. Run as a script:

    python -m richlazy.nn.benchmark --n 64 128 --width 64 --dtype float64
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from richlazy.runtime import torch_threads

__all__ = ["ntk_benchmark"]


def _setup(n: int, width: int, outputs: int, dtype: str, seed: int):
    from richlazy.nn.models import ResNet18

    torch.manual_seed(seed)
    model = ResNet18(outputs, width=width).to(getattr(torch, dtype)).eval()
    x = torch.randn(n, 3, 32, 32, dtype=getattr(torch, dtype))
    return model, x


def _jacobian_contraction(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The tutorial's method: Jacobians of every point, then Σ_p J_p J_pᵀ (trace kernel)."""
    from torch.func import functional_call, jacrev, vmap

    params = {k: v.detach() for k, v in model.named_parameters()}

    def f_single(p, xi):
        return functional_call(model, p, (xi.unsqueeze(0),)).squeeze(0)  # (O,)

    jac = vmap(jacrev(f_single), (None, 0))(params, x)  # name -> (N, O, *shape)
    jac = [j.flatten(2) for j in jac.values()]  # (N, O, P_l)
    return torch.stack([torch.einsum("Naf,Maf->NM", j, j) for j in jac]).sum(0)


def _worker(options: argparse.Namespace) -> None:
    with torch_threads(options.threads or None):  # 0: torch's own count
        model, x = _setup(options.n, options.width, options.outputs, options.dtype, options.seed)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        if options.method == "layerwise":
            from richlazy.nn import empirical_ntk

            kernel = empirical_ntk(model, x, kernel="trace")
        else:
            kernel = _jacobian_contraction(model, x)
        wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    torch.save(kernel.detach().to(torch.float64), options.out)
    print(json.dumps({"wall_s": wall, "peak_rss_gib": peak / 2**20,
                      "rss_before_gib": before / 2**20}))  # fmt: skip


def _run(method: str, n: int, *, width, outputs, dtype, seed, threads, timeout) -> dict:
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "kernel.pt"
        command = [sys.executable, "-m", "richlazy.nn.benchmark", "--worker", method,
                   "--n", str(n), "--width", str(width), "--outputs", str(outputs),
                   "--dtype", dtype, "--seed", str(seed), "--threads", str(threads or 0),
                   "--out", str(out)]  # fmt: skip
        env = dict(os.environ)  # the subprocess imports the same richlazy as this process
        # Idle OpenMP workers sleep instead of spinning: on a CPU shared with other jobs a
        # spinning worker takes the core its own main thread needs (measured: the layer-wise
        # method 3.7x slower with 2 threads under load, the Jacobian 1.5x); the caller's
        # setting wins.
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env=env, check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{method} at N={n} failed:\n{done.stderr[-3000:]}")
        record = json.loads(done.stdout.strip().splitlines()[-1])
        record["kernel"] = torch.load(out)
    return record


def ntk_benchmark(
    n_points: tuple[int, ...] = (64, 128),
    *,
    width: int = 64,
    outputs: int = 1,
    dtype: str = "float64",
    threads: int | None = None,
    seed: int = 0,
    repeats: int = 1,
    timeout: float | None = None,
) -> list[dict]:
    """Time and peak memory of ``empirical_ntk`` and of the Jacobian contraction.

    Args:
        n_points: probe sizes N (each gives an N × N kernel).
        width: the ResNet's first-stage width (64 is the standard 11.2M-parameter network).
        outputs: outputs of the network (the "trace" kernel is compared).
        dtype: "float64" or "float32" — the model's dtype; ``empirical_ntk`` accumulates in
            float64 either way, the baseline in the model's dtype.
        threads: torch intra-op threads in each subprocess (None: torch's default).
        seed: seeds the network and the probe points.
        repeats: runs of each method, alternating (layerwise, jacobian, layerwise, …); the
            fastest run of each is reported (the usual estimate on a machine shared with other
            work), and every run's time in ``*_runs_s``.
        timeout: seconds allowed to each subprocess.

    Returns:
        One dict per N: ``n_points``, ``layerwise_s``, ``jacobian_s``, ``speedup``,
        ``layerwise_peak_gib``, ``jacobian_peak_gib`` (ru_maxrss of each subprocess, the
        interpreter, torch, the model and the probe points included; ``*_rss_before_gib``
        is that part), ``memory_ratio``, ``relative_error`` ‖K − K_jac‖_F/‖K_jac‖_F, and
        the settings.

    Raises:
        ValueError: a dtype other than float32/float64, or sizes < 1.
        RuntimeError: a subprocess failed (its error output is included).
    """
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    if not n_points or any(int(n) < 1 for n in n_points) or width < 1 or outputs < 1:
        raise ValueError("n_points, width and outputs must be positive")
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    settings = dict(width=width, outputs=outputs, dtype=dtype, seed=seed, threads=threads)
    records = []
    for n in n_points:
        runs: dict[str, list[dict]] = {"layerwise": [], "jacobian": []}
        for _ in range(repeats):
            for method in runs:
                runs[method].append(_run(method, int(n), timeout=timeout, **settings))
        mine = min(runs["layerwise"], key=lambda r: r["wall_s"])
        base = min(runs["jacobian"], key=lambda r: r["wall_s"])
        error = float((mine["kernel"] - base["kernel"]).norm() / base["kernel"].norm())
        records.append({
            "n_points": int(n),
            "layerwise_s": mine["wall_s"],
            "jacobian_s": base["wall_s"],
            "speedup": base["wall_s"] / mine["wall_s"],
            "layerwise_runs_s": [r["wall_s"] for r in runs["layerwise"]],
            "jacobian_runs_s": [r["wall_s"] for r in runs["jacobian"]],
            "layerwise_peak_gib": mine["peak_rss_gib"],
            "jacobian_peak_gib": base["peak_rss_gib"],
            "memory_ratio": base["peak_rss_gib"] / mine["peak_rss_gib"],
            "layerwise_rss_before_gib": mine["rss_before_gib"],
            "jacobian_rss_before_gib": base["rss_before_gib"],
            "relative_error": error,
            "parameters": sum(p.numel() for p in _setup(1, width, outputs, dtype, seed)[0]
                              .parameters()),
            "repeats": repeats,
            **settings,
        })  # fmt: skip
    return records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--outputs", type=int, default=1)
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--worker", choices=["layerwise", "jacobian"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.worker:
        options.method, options.n = options.worker, options.n[0]
        _worker(options)
        return
    for record in ntk_benchmark(tuple(options.n), width=options.width, outputs=options.outputs,
                                dtype=options.dtype, threads=options.threads or None,
                                seed=options.seed, repeats=options.repeats):  # fmt: skip
        print(json.dumps(record))
        print(f"N={record['n_points']}: {record['speedup']:.2f}x faster, "
              f"{record['memory_ratio']:.2f}x less peak memory, relative error "
              f"{record['relative_error']:.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
