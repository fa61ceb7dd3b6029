"""Train a batch of two-layer networks with a solver: ``train(..., solver=GD())`` or
``solver=GradientFlow(rtol=...)`` (docs/theory.md §5.3).

Time convention (docs/theory.md §0). Training descends L = ½ Σ_i (f − y)² with layer rates η_a,
η_w. Learning rates are given in the reference's convention: a GD step θ ← θ − lr ∇_θ MSE on
the mean squared error MSE = (1/n) Σ_i (f − y)², which is a step of size h = 2·lr/n on L.
Gradient flow time after s such steps is t = s·h; checkpoints are given in steps and reported
in both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from richlazy.nets.two_layer import TwoLayerNets, check_data
from richlazy.runtime import Progress, progress_task
from richlazy.train.batch import (
    _engine_threads,
    _threads_for,
    per_network_values,
    rate_tensors,
    step_size,
)
from richlazy.train.descent import descend
from richlazy.train.flow import FlowSteps, integrate
from richlazy.train.schedule import checked_schedule
from richlazy.train.solvers import GD, Solver, checked_solver


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
        threads: the torch CPU threads the run used (one for batches under 2^20 activations
            per step on the CPU, docs/performance.md; torch's count otherwise).
        fused: whether the GD steps ran as one torch.compile-fused function (``GD.fuses``).
    """

    snapshots: tuple[TwoLayerNets, ...]
    steps: np.ndarray
    time: np.ndarray
    diverged: np.ndarray
    gradient_evaluations: float
    flow_steps: FlowSteps | None = None
    threads: int = 1
    fused: bool = False


def train(
    nets: TwoLayerNets,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    lr,
    checkpoints,
    eta_a=1.0,
    eta_w=1.0,
    solver: Solver | None = None,
    progress: Progress | Callable[[int], None] | None = None,
) -> TrainResult:
    """Train ``nets`` in place and return their parameters at the checkpoints.

    Args:
        nets: a batch of S × K networks (modified in place).
        X: training inputs per dataset, (S, n, d); y: targets, (S, n).
        lr: reference learning rate per network (MSE convention), broadcastable to (S, K).
        checkpoints: strictly increasing GD step counts; gradient flow stops at their times.
        eta_a, eta_w: layer-specific rates multiplying the gradients, broadcastable to (S, K).
        solver: :class:`~richlazy.train.GD` (the reference's full-batch gradient descent, the
            default) or :class:`~richlazy.train.GradientFlow` (adaptive, error-controlled steps
            per network).
        progress: a ``richlazy.runtime.Progress`` (one task is opened, counting GD steps, or
            checkpoints reached by each network for gradient flow), or a callable given those
            counts as they finish.

    Raises:
        TypeError: ``solver`` is not a solver object, or the networks or data are not
            floating-point tensors.
        ValueError: bad schedule (more than richlazy.train.MAX_STEPS steps included), rates,
            shapes, dtypes or devices (naming the argument).
    """
    steps = checked_schedule(checkpoints)
    solver = GD() if solver is None else checked_solver(solver)
    check_data(nets, X, y)  # floating dtypes (integer networks would take steps of size 0)
    S, K = nets.a.shape[:2]
    h = np.array(per_network_values("lr", step_size(lr, X.shape[1]), (S, K)))
    rates = rate_tensors(
        nets,
        per_network_values("eta_a", eta_a, (S, K)),
        per_network_values("eta_w", eta_w, (S, K)),
    )
    times = h[..., None] * steps  # (S, K, C)
    flow_steps, fused = None, False
    descent = isinstance(solver, GD)
    units, total = ("GD steps", int(steps[-1])) if descent else ("checkpoints", S * K * steps.size)
    task = progress_task(progress, f"training {S}×{K} networks: {units}", total)
    with task as advance, _threads_for(nets, X):
        if descent:
            fused = solver.fuses(nets, X, int(steps[-1]))
            snapshots, alive, evaluations = descend(nets, X, y, rates, h, steps, advance, fused)
        else:
            snapshots, alive, evaluations, flow_steps = integrate(
                nets, X, y, rates, h, times, solver.rtol, advance, solver.vector_field
            )
    return TrainResult(
        tuple(snapshots),
        steps,
        times,
        ~alive.cpu().numpy(),
        evaluations,
        flow_steps,
        threads=_engine_threads(nets, X),
        fused=fused,
    )
