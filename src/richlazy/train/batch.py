"""Helpers shared by the solvers: per-network values, freezing diverged networks, threads.

A batch holds S × K networks (``richlazy.nets.TwoLayerNets``, tensors (S, K, ...)); every value
that differs between networks is an (S, K) array broadcast against each parameter tensor.
Learning rates follow the reference's convention (docs/theory.md §0, §5.3).
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import numpy as np
import torch

from richlazy import _validate as check
from richlazy import runtime
from richlazy.nets.two_layer import TwoLayerNets, check_data, loss

DEVICES = runtime.DEVICES
DTYPES = {name: runtime.dtype_of(name) for name in runtime.DTYPES}

# Below this many activations per step (S·n·K·m), one CPU thread is faster than several: the
# work per operation is too small to split, and spinning threads of an oversubscribed machine
# were measured to slow small batches down 6-10x (fig1a quick 7.8 s on 1 thread, 72 s on 2;
# fig1b quick 24 s vs 151 s, both on a busy 2-core machine).
SINGLE_THREAD_BELOW = 1 << 20


def step_size(lr: np.ndarray | float, n: int) -> np.ndarray:
    """Step h = 2·lr/n on L = ½Σ(f − y)² of a reference GD step with rate lr on the MSE
    (docs/theory.md §0)."""
    lr = check.positive_array("lr", lr)
    with np.errstate(over="ignore"):
        h = 2.0 * lr / n
    if not np.all(np.isfinite(h)):
        raise ValueError(
            f"lr must be finite and its step 2·lr/n must be too, got lr up to {lr.max():.3g}"
        )
    return h


def per_network_values(name: str, value: object, shape: tuple[int, int]) -> np.ndarray:
    """``value`` as finite positive float64 numbers broadcast to one per network (S, K).

    Raises:
        ValueError: naming ``name``, if it is not positive and finite or does not broadcast.
    """
    array = check.positive_array(name, value)
    try:
        return np.broadcast_to(array, shape)
    except ValueError:
        raise ValueError(
            f"{name} must be a number or broadcast to (S, K) = {shape}, got shape {array.shape}"
        ) from None


def activations(nets: TwoLayerNets, X: torch.Tensor) -> int:
    """Pre-activations per step of the batch: S·n·K·m (X checked against the networks)."""
    check_data(nets, X)
    S, K, m, _ = nets.W.shape
    return S * X.shape[1] * K * m


def _engine_threads(nets: TwoLayerNets, X: torch.Tensor) -> int:
    """How many CPU threads training uses for this batch (1 below SINGLE_THREAD_BELOW)."""
    if activations(nets, X) < SINGLE_THREAD_BELOW and nets.W.device.type == "cpu":
        return 1
    return torch.get_num_threads()


def _threads_for(nets: TwoLayerNets, X: torch.Tensor) -> AbstractContextManager[None]:
    """Run the batch on :func:`_engine_threads` threads; restore torch's count afterwards."""
    return runtime.torch_threads(_engine_threads(nets, X))


def check_device(device: str) -> None:
    """A ValueError unless ``device`` is one of DEVICES and usable here."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but PyTorch sees no CUDA device here")


def per_network(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-network value (S, K) shaped to broadcast against a parameter tensor (S, K, ...)."""
    return x.view(*x.shape, *([1] * (like.ndim - 2)))


def rate_tensors(nets: TwoLayerNets, eta_a: np.ndarray, eta_w: np.ndarray) -> tuple:
    """The rate of each trainable tensor (η_a for the readouts, η_w otherwise), shaped to
    broadcast against it."""
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
