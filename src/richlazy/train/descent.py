"""Full-batch gradient descent of a batch of networks, the reference's semantics
(docs/theory.md §5.3): θ ← θ − h·η·∇L at every step, for all S × K networks at once."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from richlazy.nets.two_layer import Gradient, TwoLayerNets
from richlazy.train.batch import (
    SINGLE_THREAD_BELOW,
    activations,
    finite,
    frozen,
    per_network,
    snapshot,
)
from richlazy.train.replay import StepReplay

# A fused step pays a compilation (seconds) per new shape; on a GPU it makes small batches about
# five times faster than graph-replayed eager steps, which run ~5e9 activation-steps per second
# on an H100 (docs/performance.md). From this much work, eager steps would take longer than that.
FUSE_FROM_ACTIVATION_STEPS = 1 << 35

# Progress is reported every this many steps.
REPORT_EVERY = 1000


def _fuses(nets: TwoLayerNets, X: torch.Tensor, steps: int = 0) -> bool:
    """Whether ``steps`` GD steps fuse by default: on a GPU, for large batches or long runs.

    Large batches (from SINGLE_THREAD_BELOW activations per step) are bound by memory traffic,
    which fusing cuts; small ones by kernel launches, which fusing also cuts, but a compilation
    pays off only over a long run (FUSE_FROM_ACTIVATION_STEPS). On the CPU the eager step was
    faster at large sizes, and the compilation outweighs the gain of typical small runs.
    """
    work = activations(nets, X)
    return nets.W.device.type == "cuda" and (
        work >= SINGLE_THREAD_BELOW or work * steps >= FUSE_FROM_ACTIVATION_STEPS
    )


def descend(
    nets: TwoLayerNets,
    X: torch.Tensor,
    y: torch.Tensor,
    rates: tuple[torch.Tensor, ...],
    h: np.ndarray,
    steps: np.ndarray,
    progress: Callable[[int], None] | None,
    fused: bool,
) -> tuple[list[TwoLayerNets], torch.Tensor, int]:
    """Descend to every checkpoint of ``steps``, in place.

    Args:
        rates: per-tensor rates η, shaped (S, K, 1...) against each parameter tensor.
        h: the step on L of each network, (S, K).
        steps: checkpoints in steps, strictly increasing.
        fused: run each step as one compiled function (``richlazy.train.fused``).

    Returns:
        (snapshots at the checkpoints, alive (S, K), steps taken).
    """
    h = torch.as_tensor(h, dtype=nets.W.dtype, device=nets.W.device)  # (S, K)
    step = tuple(c * per_network(h, c) for c in rates)  # h·η per tensor
    alive = torch.ones(h.shape, dtype=torch.bool, device=nets.W.device)
    on_cpu = nets.W.device.type == "cpu"
    gradient = Gradient()

    def descend_fused() -> None:
        fused_step(nets.W, nets.a, nets.b, X, y, step[0], step[1], nets.leak)

    def descend_eager() -> None:
        losses, grads = gradient(nets, X, y)
        alive.logical_and_(torch.isfinite(losses))
        # Freezing diverged networks costs a pass per tensor; on the CPU, checking is free. On
        # a GPU, checking would wait for the device at every step, so it always freezes.
        freeze = not on_cpu or not bool(alive.all())
        for tensor, grad, size in zip(nets.tensors, grads, step, strict=True):
            tensor.addcmul_(frozen(grad, alive) if freeze else grad, size, value=-1.0)

    snapshots = [snapshot(nets, alive)] if steps[0] == 0 else []
    if fused:
        from richlazy.train.fused import compiled_gd_step  # loads torch.compile: only on use

        fused_step = compiled_gd_step()
    runs = StepReplay(descend_fused if fused else descend_eager, replay=not on_cpu)
    done, reported = 0, 0
    for checkpoint in steps[steps > 0]:
        while done < checkpoint:
            count = min(int(checkpoint) - done, REPORT_EVERY - done % REPORT_EVERY)
            runs(count)
            done += count
            if progress is not None and done % REPORT_EVERY == 0:
                progress(done - reported)
                reported = done
        if fused:  # the fused step does not check; a diverged network is non-finite by now
            alive.logical_and_(finite(nets, X, y))
        snapshots.append(snapshot(nets, alive))
    if progress is not None and done > reported:
        progress(done - reported)
    return snapshots, alive, done
