"""Gradient flow θ̇ = −η ∇L(θ) with adaptive steps chosen per network (Bogacki–Shampine 3(2)).

All networks advance together, each with its own time t, step h and next checkpoint; a network's
step is accepted or rejected on its own local error estimate and is shortened to land exactly on
its checkpoints. The pair is FSAL: three gradient evaluations per step.

Steps never shrink below the network's reference GD step h_GD, and a step of that size is always
accepted. Where a data point sits on a neuron's kink and the flow slides along it (a Filippov
sliding mode: the gradient jumps across w_kᵀx_i = 0 and both sides push towards it), no
error-controlled method converges on its own, and GD itself zig-zags across the kink; there the
stepper zig-zags like GD with step h_GD, so it is never less accurate than the reference GD and
typically costs about three evaluations per GD step there. Everywhere else it takes the long
steps its error control allows. Columns of the batch (the same cell across datasets) whose
networks are all finished are dropped from the batch, so the cost follows each network's own
number of steps. Explicit steps are bounded by stability,
h ≲ 2.5/λ_max of the Hessian, which the controller finds on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from richlazy.nets.two_layer import Gradient
from richlazy.train.batch import frozen, per_network

# Bogacki–Shampine 3(2): stage nodes, third-order weights and the error weights (third order
# minus embedded second order; the last one on the FSAL stage).
_STAGES = ((0.5,), (0.0, 0.75))
_B = (2 / 9, 1 / 3, 4 / 9)
_E = (-5 / 72, 1 / 12, 1 / 9, -1 / 8)


def _combine(base, step, weights, stages):
    """base + step·Σ_j weights_j·stages_j, tensor by tensor (zero weights skipped)."""
    return tuple(
        y0
        + per_network(step, y0) * sum(w * k[i] for w, k in zip(weights, stages, strict=False) if w)
        for i, y0 in enumerate(base)
    )


@dataclass
class FlowBatch:
    """The per-network state of the columns (cells) still in the batch: tensors (S, K', ...)
    for the K' columns kept, and which original columns those are.

    Attributes:
        state: the parameter tensors.
        rates: per-tensor rates η, shaped against each parameter tensor.
        k1: the velocity at ``state`` (the FSAL stage).
        targets: checkpoint times, (S, K', C).
        t: time reached; h: next trial step; h_min: the GD step, the floor; (S, K').
        index: next checkpoint to reach, (S, K') integers.
        alive: networks not diverged, (S, K') booleans.
        atol: absolute tolerance, (S, K').
        columns: the original column of each kept column, (K',).
    """

    state: tuple[torch.Tensor, ...]
    rates: tuple[torch.Tensor, ...]
    k1: tuple[torch.Tensor, ...]
    targets: torch.Tensor
    t: torch.Tensor
    h: torch.Tensor
    h_min: torch.Tensor
    index: torch.Tensor
    alive: torch.Tensor
    atol: torch.Tensor
    columns: torch.Tensor

    def keep(self, mask: torch.Tensor) -> None:
        """Keep only the columns where ``mask`` (K',) is set."""
        index = torch.nonzero(mask)[:, 0]
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name == "columns":
                kept = value[index]
            elif isinstance(value, tuple):
                kept = tuple(v.index_select(1, index) for v in value)
            else:
                kept = value.index_select(1, index)
            setattr(self, field.name, kept)


def integrate(nets, X, y, coefficients, h_reference, times, rtol, progress, gradient=None):
    """Integrate to every checkpoint time of every network.

    Args:
        coefficients: per-tensor rates η, shaped (S, K, 1...) against each parameter tensor.
        h_reference: the GD step of each network: its first trial step and its smallest, (S, K).
        times: checkpoint times per network, (S, K, C).
        rtol: relative tolerance; the absolute one is rtol·1e-3 times each network's initial
            root-mean-square parameter.
        gradient: what integrate calls as ``gradient(nets, X, y)`` for the losses (S, K) and the
            gradients; by default ∇L (:class:`Gradient`). Another vector field in its place
            integrates another flow θ̇ = −η·gradient.

    Returns:
        (snapshots, alive (S, K), gradient evaluations per network on average, and
        :class:`FlowSteps`: the accepted steps of each network and how many were GD-sized).
    """
    device, dtype = nets.W.device, nets.W.dtype
    targets = torch.as_tensor(np.ascontiguousarray(times), dtype=dtype, device=device)
    S, K, C = targets.shape
    gradient = Gradient() if gradient is None else gradient
    state = tuple(t.clone() for t in nets.tensors)
    count = sum(t[0, 0].numel() for t in state)
    rms0 = torch.sqrt(sum((t**2).flatten(2).sum(-1) for t in state) / count)  # (S, K)
    # Snapshots of the whole batch, filled column by column as networks reach checkpoints.
    snapshots = [tuple(torch.full_like(t, float("nan")) for t in state) for _ in range(C)]
    h_reference = torch.as_tensor(np.ascontiguousarray(h_reference), dtype=dtype, device=device)
    rates = tuple(coefficients)

    def velocity(tensors, rates):
        losses, grads = gradient(nets.with_tensors(tensors), X, y)
        return losses, tuple(-r * g for r, g in zip(rates, grads, strict=True))

    losses, k1 = velocity(state, rates)
    batch = FlowBatch(
        state=state,
        rates=rates,
        k1=k1,
        targets=targets,
        t=torch.zeros((S, K), dtype=dtype, device=device),
        h=h_reference.clone(),
        h_min=h_reference,
        index=torch.zeros((S, K), dtype=torch.long, device=device),
        alive=torch.isfinite(losses),
        atol=rtol * 1e-3 * rms0.clamp(min=torch.finfo(dtype).tiny),
        columns=torch.arange(K, device=device),
    )
    evaluations = S * K
    accepted = torch.zeros((S, K), dtype=torch.long, device=device)
    at_gd_step = torch.zeros((S, K), dtype=torch.long, device=device)
    finished: list[tuple[torch.Tensor, torch.Tensor]] = []  # (columns, alive) written back
    _record(batch, snapshots, progress)
    while True:
        active = batch.alive & (batch.index < C)
        if not bool(active.any()):
            break
        if int(active.any(0).sum()) < 0.75 * active.shape[1]:
            finished.append(_finish(batch, ~active.any(0), nets))
            batch.keep(active.any(0))
            active = batch.alive & (batch.index < C)
        target = _next_target(batch)
        landing = active & (batch.h >= target - batch.t)
        step = torch.where(active, torch.where(landing, target - batch.t, batch.h), 0.0)
        stages = [batch.k1]
        for nodes in _STAGES:
            stages.append(velocity(_combine(batch.state, step, nodes, stages), batch.rates)[1])
        proposal = _combine(batch.state, step, _B, stages)
        losses, k4 = velocity(proposal, batch.rates)
        evaluations += 3 * active.numel()
        error = _error_norm(batch.state, proposal, [*stages, k4], step, batch.atol, rtol)
        finite = torch.isfinite(error) & torch.isfinite(losses)
        accept = active & finite & ((error <= 1.0) | (step <= batch.h_min))
        factor = torch.clamp(0.9 * error.clamp(min=1e-10) ** (-1 / 3), 0.2, 5.0)
        # A step shortened to land on a checkpoint says little about the step size: keep h. A
        # trial step that overflowed is rejected and shortened like any other; only a step at
        # the GD floor that overflows means the network diverges (GD would too).
        factor = torch.where(finite, factor, 0.2)
        h = torch.where(active, torch.where(landing & accept, batch.h, step * factor), batch.h)
        alive = batch.alive & (finite | ~active | (step > batch.h_min))
        h = torch.maximum(h, batch.h_min)
        accepted[:, batch.columns] += accept.long()
        at_gd_step[:, batch.columns] += (accept & ~landing & (step <= batch.h_min)).long()
        batch.state = _where(accept, proposal, batch.state)
        batch.k1 = _where(accept, k4, batch.k1)
        batch.t = torch.where(accept, torch.where(landing, target, batch.t + step), batch.t)
        batch.h, batch.alive = h, alive
        _record(batch, snapshots, progress)
    finished.append(_finish(batch, torch.ones_like(batch.columns, dtype=torch.bool), nets))
    alive = torch.zeros((S, K), dtype=torch.bool, device=device)
    for columns, column_alive in finished:
        alive[:, columns] = column_alive
    steps = FlowSteps(accepted.cpu().numpy(), at_gd_step.cpu().numpy())
    return [nets.with_tensors(s) for s in snapshots], alive, evaluations / (S * K), steps


@dataclass(frozen=True)
class FlowSteps:
    """What the stepper did, per network (S, K): its accepted steps, and how many of them were
    at the GD step h_GD, the floor (there the flow advances no faster than GD, at three
    gradient evaluations per step)."""

    accepted: np.ndarray
    at_gd_step: np.ndarray

    @property
    def at_gd_step_fraction(self) -> float:
        """The share of all accepted steps, over the batch, taken at the GD step."""
        return float(self.at_gd_step.sum() / max(int(self.accepted.sum()), 1))


def _finish(batch: FlowBatch, mask: torch.Tensor, nets) -> tuple[torch.Tensor, torch.Tensor]:
    """Write the final parameters of the columns in ``mask`` back into ``nets``.

    Returns:
        Those columns and which of their networks are alive.
    """
    columns = batch.columns[mask]
    for tensor, value in zip(nets.tensors, batch.state, strict=True):
        tensor[:, columns] = value[:, mask]
    return columns, batch.alive[:, mask]


def _where(mask, new, old):
    return tuple(torch.where(per_network(mask, n), n, o) for n, o in zip(new, old, strict=True))


def _next_target(batch: FlowBatch) -> torch.Tensor:
    C = batch.targets.shape[-1]
    return torch.gather(batch.targets, 2, batch.index.clamp(max=C - 1)[..., None])[..., 0]


def _error_norm(state, proposal, stages, step, atol, rtol):
    """Per-network RMS of the local error over atol + rtol·max(|θ|, |θ_new|): (S, K)."""
    total, count = 0.0, 0
    for i, (old, new) in enumerate(zip(state, proposal, strict=True)):
        local = per_network(step, old) * sum(e * k[i] for e, k in zip(_E, stages, strict=True))
        scale = per_network(atol, old) + rtol * torch.maximum(old.abs(), new.abs())
        total = total + ((local / scale) ** 2).flatten(2).sum(-1)
        count += old[0, 0].numel()
    return torch.sqrt(total / count)


def _record(batch: FlowBatch, snapshots, progress) -> None:
    """Snapshot the networks that reached their next checkpoint (diverged ones as NaN)."""
    C = batch.targets.shape[-1]
    while True:
        reached = (batch.index < C) & ((batch.t >= _next_target(batch)) | ~batch.alive)
        if not bool(reached.any()):
            return
        values = tuple(frozen(t, batch.alive, fill=float("nan")) for t in batch.state)
        for c in torch.unique(batch.index[reached]).tolist():
            mask = reached & (batch.index == c)
            for full, value in zip(snapshots[c], values, strict=True):
                current = full[:, batch.columns]
                full[:, batch.columns] = torch.where(per_network(mask, value), value, current)
        if progress is not None:
            progress(int(reached.sum()))
        batch.index = batch.index + reached.long()
