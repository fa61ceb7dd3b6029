"""Feature-learning metrics of two-layer network batches (docs/theory.md §5), from parameters alone.

Every metric checks its arguments first (``richlazy.nets.check_data``, ``check_same_batch``:
a clear error naming the argument for a wrong type, dtype, device or shape, never a raw torch
error or a silent comparison of the first networks only), is computed per network, (S, K), in
chunks of networks so that memory stays bounded, and never builds per-sample Jacobians: the
NTK has the closed form K = η_a ΦΦᵀ + η_w (XXᵀ + 1_bias) ⊙ (C diag(a²) Cᵀ), Φ = σ(XWᵀ + b),
C = σ'(XWᵀ + b), which costs O(n²m) per network.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from richlazy import _validate as check
from richlazy.nets.two_layer import (
    TwoLayerNets,
    activation,
    activation_slope,
    check_data,
    check_same_batch,
    forward,
    per_neuron_delta,
    preactivations,
)

CHUNK_ELEMENTS = 1 << 24  # largest temporary per chunk: 128 MB in float64


def _chunks(K: int, per_network: int) -> Iterator[slice]:
    """Slices of the K networks of each dataset holding at most CHUNK_ELEMENTS elements."""
    size = max(1, CHUNK_ELEMENTS // max(per_network, 1))
    for start in range(0, K, size):
        yield slice(start, min(start + size, K))


def _rates(nets: TwoLayerNets, eta_a, eta_w) -> tuple[torch.Tensor, torch.Tensor]:
    """Layer rates as tensors of shape (S, K) on the networks' device, from numbers or arrays."""
    shape = tuple(nets.a.shape[:2])
    rates = []
    for name, value in (("eta_a", eta_a), ("eta_w", eta_w)):
        if isinstance(value, torch.Tensor):
            if value.is_complex() or value.dtype == torch.bool:
                raise TypeError(f"{name} must hold real numbers, got {value.dtype}")
            value = value.detach().cpu().to(torch.float64).numpy()
        check.finite_array(name, value)  # real and finite (no complex, NaN or inf)
        rate = torch.as_tensor(value, dtype=nets.W.dtype, device=nets.W.device)
        try:
            rates.append(rate.broadcast_to(shape))
        except RuntimeError:
            raise ValueError(
                f"{name} must be a number or broadcast to (S, K) = {shape}, "
                f"got shape {tuple(rate.shape)}"
            ) from None
    return rates[0], rates[1]


def ntk(
    nets: TwoLayerNets,
    X: torch.Tensor,
    eta_a=1.0,
    eta_w=1.0,
    *,
    X2: torch.Tensor | None = None,
) -> torch.Tensor:
    """Closed-form NTK Θ(x, x') of every network: X (S, n, d) -> (S, K, n, n).

    Args:
        eta_a, eta_w: layer rates: numbers or per network, broadcastable to (S, K).
        X2: second inputs (S, n2, d) for the cross kernel Θ(X, X2), (S, K, n, n2); default X.
    """
    check_data(nets, X)
    if X2 is not None:
        check_data(nets, X2, names=("X2", "y"))
    eta_a, eta_w = _rates(nets, eta_a, eta_w)

    def features_and_slopes(inputs):
        pre = preactivations(nets, inputs).permute(0, 2, 1, 3)  # (S, K, n, m)
        return activation(pre, nets.leak), activation_slope(pre, nets.leak) * nets.a[:, :, None]

    features, slopes = features_and_slopes(X)  # σ(·), σ'(·) a_k: (S, K, n, m)
    features2, slopes2 = (features, slopes) if X2 is None else features_and_slopes(X2)
    X2 = X if X2 is None else X2
    gram = X @ X2.transpose(1, 2) + (0.0 if nets.b is None else 1.0)  # (S, n, n2)
    first = features @ features2.transpose(-1, -2)  # readout part: (S, K, n, n2)
    second = gram[:, None] * (slopes @ slopes2.transpose(-1, -2))  # first-layer part
    return eta_a[..., None, None] * first + eta_w[..., None, None] * second


def kernel_distance(
    initial: TwoLayerNets,
    current: TwoLayerNets,
    X: torch.Tensor,
    eta_a=1.0,
    eta_w=1.0,
) -> torch.Tensor:
    """S(0, t) = 1 − ⟨K0, Kt⟩_F/(‖K0‖_F‖Kt‖_F) on the inputs X, per network: (S, K).

    NaN where a kernel is identically zero (the distance is undefined there).

    Raises:
        TypeError: an argument is not a TwoLayerNets or a tensor.
        ValueError: ``current`` is not the same batch as ``initial`` (e.g. 3 networks against
            2), or X has the wrong dtype, device or shape.
    """
    check_same_batch(initial, current)
    return kernel_distances(initial, [current], X, eta_a, eta_w)[..., 0]


def kernel_distances(
    initial: TwoLayerNets,
    snapshots: Sequence[TwoLayerNets],
    X: torch.Tensor,
    eta_a=1.0,
    eta_w=1.0,
) -> torch.Tensor:
    """S(0, t) of every snapshot, building each chunk's initial NTK once: (S, K, C).

    Each kernel is divided by its largest |entry| before the inner product, so kernels with
    entries of 1e200 or 1e-200 (float64) neither overflow nor underflow; S is invariant to the
    scaling. NaN where a kernel is identically zero, or where a network diverged.
    """
    check_data(initial, X)
    if isinstance(snapshots, TwoLayerNets) or not isinstance(snapshots, Sequence):
        raise TypeError(
            f"snapshots must be a sequence of TwoLayerNets, got {type(snapshots).__name__}"
        )
    for c, current in enumerate(snapshots):
        check_same_batch(initial, current, f"snapshots[{c}]")
    eta_a, eta_w = _rates(initial, eta_a, eta_w)
    S, K = initial.a.shape[:2]
    n = X.shape[1]
    distance = torch.empty((S, K, len(snapshots)), dtype=X.dtype, device=X.device)
    for part in _chunks(K, 3 * S * n * n):
        K0 = _normalized(ntk(initial.take(part), X, eta_a[:, part], eta_w[:, part]))
        norm0 = torch.linalg.matrix_norm(K0)  # (S, k, n, n) -> (S, k)
        for c, current in enumerate(snapshots):
            Kt = _normalized(ntk(current.take(part), X, eta_a[:, part], eta_w[:, part]))
            inner = (K0 * Kt).sum((-1, -2))
            norms = norm0 * torch.linalg.matrix_norm(Kt)
            value = 1 - inner / torch.where(norms > 0, norms, 1.0)
            value = value.masked_fill((Kt == K0).all(-1).all(-1), 0.0)  # S(K, K) = 0 exactly
            distance[:, part, c] = torch.where(norms > 0, value, float("nan"))
    return distance


def _normalized(K: torch.Tensor) -> torch.Tensor:
    """K / max|K| per matrix, (..., n, n) (a zero matrix stays zero, NaN stays NaN)."""
    peak = K.abs().amax((-2, -1), keepdim=True)
    return K / torch.where(peak > 0, peak, 1.0)


def hamming_distance(initial: TwoLayerNets, current: TwoLayerNets, X: torch.Tensor) -> torch.Tensor:
    """H(t) = Σ_k mean_i 1[c_ik(t) ≠ c_ik(0)], c_ik = 1[w_kᵀx_i + b_k > 0]: (S, K).

    In units of neurons: 0 when no activation pattern changed, at most m.
    """
    check_same_batch(initial, current, same_width=True)
    check_data(initial, X)
    S, K, m, _ = initial.W.shape
    distance = torch.empty((S, K), dtype=X.dtype, device=X.device)
    for part in _chunks(K, 2 * S * X.shape[1] * m):
        before = preactivations(initial.take(part), X) > 0  # (S, n, k, m)
        after = preactivations(current.take(part), X) > 0
        distance[:, part] = (before != after).to(X.dtype).mean(1).sum(-1)
    invalid = ~torch.isfinite(sum(t.flatten(2).sum(-1) for t in current.tensors))
    return distance.masked_fill(invalid, float("nan"))


def parameter_distance(initial: TwoLayerNets, current: TwoLayerNets) -> torch.Tensor:
    """‖θ(t) − θ(0)‖₂ over all parameters of each network: (S, K)."""
    check_same_batch(initial, current, same_width=True)
    return torch.sqrt(
        sum(
            ((c - i) ** 2).flatten(2).sum(-1)
            for i, c in zip(initial.tensors, current.tensors, strict=True)
        )
    )


def conservation_drift(
    initial: TwoLayerNets, current: TwoLayerNets, eta_a=1.0, eta_w=1.0
) -> torch.Tensor:
    """max_k |δ_k(t) − δ_k(0)|: how far the per-neuron conserved quantities moved, (S, K)."""
    check_same_batch(initial, current, same_width=True)
    eta_a, eta_w = _rates(initial, eta_a, eta_w)
    change = per_neuron_delta(current, eta_a, eta_w) - per_neuron_delta(initial, eta_a, eta_w)
    return change.abs().amax(-1)


def mean_squared_error(nets: TwoLayerNets, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(1/n) Σ_i (f(x_i) − y_i)² per network, the reference's loss: (S, K)."""
    check_data(nets, X, y)
    S, K, m, _ = nets.W.shape
    error = torch.empty((S, K), dtype=X.dtype, device=X.device)
    for part in _chunks(K, 2 * S * X.shape[1] * m):
        error[:, part] = ((forward(nets.take(part), X) - y[..., None]) ** 2).mean(1)
    return error
