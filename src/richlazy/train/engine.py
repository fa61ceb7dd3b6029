"""Train a batch of two-layer networks: gradient descent or adaptive gradient flow.

Time convention. Training descends L = ½ Σ_i (f − y)² (docs/theory.md §0) with layer rates η_a, η_w.
Learning rates are given in the reference's convention: a GD step θ ← θ − lr ∇_θ MSE on the
mean squared error MSE = (1/n) Σ_i (f − y)², which is a step of size h = 2·lr/n on L. Gradient
flow time after s such steps is t = s·h; checkpoints are given in steps and reported in both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from richlazy.nets.two_layer import Gradient, TwoLayerNets, loss
from richlazy.train.schedule import checked_schedule

if TYPE_CHECKING:  # flow imports this module
    from richlazy.train.flow import FlowSteps


@dataclass(frozen=True)
class TrainResult:
    """Parameters at each checkpoint, and what happened on the way.

    Attributes:
        snapshots: the networks at each checkpoint (tensors (S, K, ...)); NaN after divergence.
        steps: checkpoints in reference GD steps, shape (C,).
        time: gradient-flow time of each checkpoint, shape (S, K, C).
        diverged: networks whose loss became non-finite, shape (S, K). The eager step freezes
            them at once; the fused step does not check, so their parameters go on non-finite
            (reaching no other network) and they are flagged at the next checkpoint. Either
            way their snapshots are NaN from then on.
        gradient_evaluations: gradient evaluations per network, on average (GD: the steps).
        flow_steps: gradient flow only: the stepper's accepted steps per network and how many
            were at the GD step (:class:`richlazy.train.flow.FlowSteps`); None for GD.
    """

    snapshots: tuple[TwoLayerNets, ...]
    steps: np.ndarray
    time: np.ndarray
    diverged: np.ndarray
    gradient_evaluations: float
    flow_steps: FlowSteps | None = None


METHODS = ("gd", "gf")
DEVICES = ("cpu", "cuda")
DTYPES = {"float64": torch.float64, "float32": torch.float32}


def step_size(lr: np.ndarray | float, n: int) -> np.ndarray:
    """Step h = 2·lr/n on L = ½Σ(f − y)² of a reference GD step with rate lr on the MSE."""
    lr = np.asarray(lr, dtype=np.float64)
    if not np.all(np.isfinite(lr)) or np.any(lr <= 0):
        raise ValueError(f"lr must be finite and > 0, got {lr}")
    return 2.0 * lr / n


def train(
    nets: TwoLayerNets,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    lr,
    checkpoints,
    eta_a=1.0,
    eta_w=1.0,
    method: str = "gd",
    rtol: float = 1e-4,
    fuse: bool | None = None,
    progress: Callable[[int], None] | None = None,
    gradient: Callable | None = None,
) -> TrainResult:
    """Train ``nets`` in place and return their parameters at the checkpoints.

    Args:
        nets: a batch of S × K networks (modified in place).
        X: training inputs per dataset, (S, n, d); y: targets, (S, n).
        lr: reference learning rate per network (MSE convention), broadcastable to (S, K).
        checkpoints: strictly increasing GD step counts; gradient flow stops at their times.
        eta_a, eta_w: layer-specific rates multiplying the gradients, broadcastable to (S, K).
        method: "gd" (full-batch gradient descent, the reference's semantics) or "gf"
            (gradient flow with adaptive, error-controlled steps chosen per network).
        rtol: relative tolerance of the gradient-flow stepper.
        fuse: GD only: run each step as one torch.compile-fused function
            (``richlazy.train.fused``); None fuses large batches on a GPU (:func:`fuses`).
        progress: called with a count of finished units (GD steps, or checkpoints reached).
        gradient: gradient flow only: the vector field in place of ∇L, called as
            ``gradient(nets, X, y)`` -> (losses (S, K), one tensor per parameter tensor); the
            flow is θ̇ = −η·gradient (:func:`richlazy.train.flow.integrate`).

    Raises:
        ValueError: bad method, schedule, rates or shapes.
    """
    steps = checked_schedule(checkpoints)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "gf" and not 0 < rtol < 1:
        raise ValueError(f"rtol must be in (0, 1), got {rtol}")
    if fuse not in (None, True, False):
        raise ValueError(f"fuse must be True, False or None (the engine decides), got {fuse!r}")
    if fuse and method != "gd":
        raise ValueError("fuse must be None or False for method 'gf' (the fused step is a GD step)")
    if gradient is not None and method != "gf":
        raise ValueError("gradient must be None for method 'gd' (GD steps along ∇L)")
    S, K = nets.a.shape[:2]
    for name, tensor in (("X", X), ("y", y)):
        if tensor.dtype != nets.W.dtype or tensor.device != nets.W.device:
            raise ValueError(
                f"{name} must have the networks' dtype and device ({nets.W.dtype}, "
                f"{nets.W.device}), got ({tensor.dtype}, {tensor.device})"
            )
    if X.ndim != 3 or X.shape[0] != S or y.shape != X.shape[:2] or X.shape[2] != nets.W.shape[3]:
        raise ValueError(
            f"X must be (S={S}, n, d={nets.W.shape[3]}) and y (S, n); got "
            f"{tuple(X.shape)} and {tuple(y.shape)}"
        )
    h = np.array(_per_network("lr", step_size(lr, X.shape[1]), (S, K)))
    rates = {
        name: _per_network(name, np.asarray(value, dtype=np.float64), (S, K))
        for name, value in (("eta_a", eta_a), ("eta_w", eta_w))
    }
    for name, value in rates.items():
        if not np.all(np.isfinite(value)) or np.any(value <= 0):
            raise ValueError(f"{name} must be finite and > 0")
    coefficients = _per_tensor(nets, rates["eta_a"], rates["eta_w"])
    times = h[..., None] * steps  # (S, K, C)
    flow_steps = None
    with threads_for(nets, X):
        if method == "gd":
            fused = fuses(nets, X, int(steps[-1])) if fuse is None else fuse
            snapshots, alive, evaluations = _descend(
                nets, X, y, coefficients, h, steps, progress, fused
            )
        else:
            from richlazy.train.flow import integrate

            snapshots, alive, evaluations, flow_steps = integrate(
                nets, X, y, coefficients, h, times, rtol, progress, gradient
            )
    return TrainResult(
        tuple(snapshots), steps, times, ~alive.cpu().numpy(), evaluations, flow_steps
    )


def _per_network(name: str, value: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``value`` broadcast to one entry per network (S, K), or a ValueError naming it."""
    try:
        return np.broadcast_to(value, shape)
    except ValueError:
        raise ValueError(
            f"{name} must be a number or broadcast to (S, K) = {shape}, got shape {value.shape}"
        ) from None


# Below this many activations per step (S·n·K·m), one CPU thread is faster than several: the
# work per operation is too small to split, and spinning threads of an oversubscribed machine
# were measured to slow small batches down 6-10x (fig1a quick 7.8 s on 1 thread, 72 s on 2;
# fig1b quick 24 s vs 151 s, both on a busy 2-core machine).
SINGLE_THREAD_BELOW = 1 << 20


def _activations(nets: TwoLayerNets, X: torch.Tensor) -> int:
    """Pre-activations per step of the batch: S·n·K·m."""
    S, K, m, _ = nets.W.shape
    return S * X.shape[1] * K * m


def engine_threads(nets: TwoLayerNets, X: torch.Tensor) -> int:
    """How many CPU threads :func:`train` uses for this batch (1 below SINGLE_THREAD_BELOW)."""
    if nets.W.device.type == "cpu" and _activations(nets, X) < SINGLE_THREAD_BELOW:
        return 1
    return torch.get_num_threads()


# A fused step pays a compilation (seconds) per new shape; on a GPU it makes small batches about
# five times faster than graph-replayed eager steps, which run ~5e9 activation-steps per second
# on an H100 (docs/performance.md). From this much work, eager steps would take longer than that.
FUSE_FROM_ACTIVATION_STEPS = 1 << 35


def fuses(nets: TwoLayerNets, X: torch.Tensor, steps: int = 0) -> bool:
    """Whether ``steps`` GD steps fuse by default: on a GPU, for large batches or long runs.

    Large batches (from SINGLE_THREAD_BELOW activations per step) are bound by memory traffic,
    which fusing cuts; small ones by kernel launches, which fusing also cuts, but a compilation
    pays off only over a long run (FUSE_FROM_ACTIVATION_STEPS). On the CPU the eager step was
    faster at large sizes, and the compilation outweighs the gain of typical small runs.
    """
    activations = _activations(nets, X)
    return nets.W.device.type == "cuda" and (
        activations >= SINGLE_THREAD_BELOW or activations * steps >= FUSE_FROM_ACTIVATION_STEPS
    )


@contextmanager
def threads_for(nets: TwoLayerNets, X: torch.Tensor) -> Iterator[None]:
    """Run the batch on :func:`engine_threads` threads; restore torch's count afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(engine_threads(nets, X))
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def check_device(device: str) -> None:
    """A ValueError unless ``device`` is one of DEVICES and usable here."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but PyTorch sees no CUDA device here")


def per_network(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-network value (S, K) shaped to broadcast against a parameter tensor (S, K, ...)."""
    return x.view(*x.shape, *([1] * (like.ndim - 2)))


def _per_tensor(nets: TwoLayerNets, eta_a: np.ndarray, eta_w: np.ndarray) -> tuple:
    """The rate of each trainable tensor, shaped to broadcast against it."""
    rates = {
        name: torch.tensor(value, dtype=nets.W.dtype, device=nets.W.device)
        for name, value in (("eta_a", eta_a), ("eta_w", eta_w))
    }
    return tuple(
        per_network(rates["eta_a"] if tensor is nets.a else rates["eta_w"], tensor)
        for tensor in nets.tensors
    )


def snapshot(nets: TwoLayerNets, alive: torch.Tensor) -> TwoLayerNets:
    """A copy of ``nets`` with the parameters of diverged networks set to NaN."""
    return nets.with_tensors(tuple(frozen(t, alive, fill=float("nan")) for t in nets.tensors))


def finite(nets: TwoLayerNets, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Which networks have finite parameters and a finite loss: (S, K) booleans."""
    ok = torch.isfinite(loss(nets, X, y))
    for tensor in nets.tensors:
        ok &= torch.isfinite(tensor).flatten(2).all(-1)
    return ok


def frozen(gradient: torch.Tensor, alive: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """``gradient`` with the entries of diverged networks set to ``fill`` (0: they stop moving)."""
    return torch.where(per_network(alive, gradient), gradient, fill)


def _descend(nets, X, y, coefficients, h, steps, progress, fused):
    """Full-batch gradient descent: θ ← θ − h·η·∇L at every step, for all networks at once."""
    h = torch.as_tensor(h, dtype=nets.W.dtype, device=nets.W.device)  # (S, K)
    step = tuple(c * per_network(h, c) for c in coefficients)  # h·η per tensor
    alive = torch.ones(h.shape, dtype=torch.bool, device=nets.W.device)
    on_cpu = nets.W.device.type == "cpu"
    gradient = Gradient()

    def descend_fused() -> None:
        fused_step(nets.W, nets.a, nets.b, X, y, step[0], step[1], nets.leak)

    def descend() -> None:
        losses, grads = gradient(nets, X, y)
        alive.logical_and_(torch.isfinite(losses))
        # Freezing diverged networks costs a pass per tensor; on the CPU, checking is free. On
        # a GPU, checking would wait for the device at every step, so it always freezes.
        freeze = not on_cpu or not bool(alive.all())
        for tensor, grad, size in zip(nets.tensors, grads, step, strict=True):
            tensor.addcmul_(frozen(grad, alive) if freeze else grad, size, value=-1.0)

    snapshots = [snapshot(nets, alive)] if steps[0] == 0 else []
    if fused:
        from richlazy.train.fused import compiled_gd_step

        fused_step = compiled_gd_step()
    runs = _Steps(descend_fused if fused else descend, replay=not on_cpu)
    done, report_every, reported = 0, 1000, 0
    for checkpoint in steps[steps > 0]:
        while done < checkpoint:
            count = min(int(checkpoint) - done, report_every - done % report_every)
            runs(count)
            done += count
            if progress is not None and done % report_every == 0:
                progress(done - reported)
                reported = done
        if fused:  # the fused step does not check; a diverged network is non-finite by now
            alive.logical_and_(finite(nets, X, y))
        snapshots.append(snapshot(nets, alive))
    if progress is not None and done > reported:
        progress(done - reported)
    return snapshots, alive, done


class _Steps:
    """Runs ``step`` a given number of times; on CUDA, as replays of captured graphs.

    A GD step is some twenty small kernels whose launches, not their arithmetic, bound small
    batches on a GPU. After ``WARMUP`` eager steps (which also allocate every work buffer), one
    step and a block of ``BLOCK`` steps are captured as CUDA graphs and replayed; the results are
    the same kernels on the same buffers, so they equal eager steps exactly.
    """

    WARMUP = 3
    BLOCK = 32

    def __init__(self, step: Callable[[], None], *, replay: bool):
        self.step, self.replay = step, replay
        self.done = 0
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}

    def __call__(self, count: int) -> None:
        if not self.replay:
            for _ in range(count):
                self.step()
            return
        while count > 0 and self.done < self.WARMUP:
            self._warm_up()
            count -= 1
        if count <= 0:
            return
        if not self.graphs:
            self.graphs = {size: self._capture(size) for size in (self.BLOCK, 1)}
        blocks, rest = divmod(count, self.BLOCK)
        for _ in range(blocks):
            self.graphs[self.BLOCK].replay()
        for _ in range(rest):
            self.graphs[1].replay()
        self.done += count

    def _warm_up(self) -> None:
        """One eager step on a side stream, as CUDA graph capture asks of warm-up work."""
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            self.step()
        torch.cuda.current_stream().wait_stream(stream)
        self.done += 1

    def _capture(self, size: int) -> torch.cuda.CUDAGraph:
        """A graph of ``size`` consecutive steps; capturing runs none of them."""
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for _ in range(size):
                self.step()
        return graph
