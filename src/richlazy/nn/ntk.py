"""Empirical NTK of any ``torch.nn.Module``, and the kernel distance (docs/theory.md §6.2).

Θ(x, x') = Σ_p η_p ∂f(x)/∂θ_p · ∂f(x')/∂θ_p over the trainable parameters θ_p with rates η_p.
The default ``method="layerwise"`` never forms the N × P Jacobian: each layer's block is
contracted from the activations and output gradients of one forward and one backward pass per
output row (the Gram or per-sample route of ``_routes``, whichever costs fewer multiply-adds),
over tiles of probe points under a memory budget, with the symmetry Θ(x, x') = Θ(x', x) used when
``x2`` is None. Parameters the hooks cannot account for exactly take the torch.func route, which
``method="jacobian"`` uses for every parameter (the test oracle).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal, get_args

import numpy as np
import torch
from torch import nn

from richlazy.nn import _capture, _checks, _contract, _functional, _names, _routes

__all__ = [
    "KERNELS",
    "METHODS",
    "Kernel",
    "Method",
    "empirical_ntk",
    "kernel_distance",
    "ntk_routes",
]

Kernel = Literal["sum", "trace", "full"]
Method = Literal["layerwise", "jacobian"]
KERNELS: tuple[str, ...] = get_args(Kernel)
METHODS: tuple[str, ...] = get_args(Method)
DEFAULT_MEMORY = 2 << 30  # 2 GiB of temporaries: fits the 128-point ResNet-18 benchmark at once
_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


@contextmanager
def neutral(model: nn.Module, device: torch.device) -> Iterator[None]:
    """Eval mode, gradients on, autocast off and the RNG state restored afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    devices = [device] if device.type == "cuda" else []
    try:
        model.eval()
        with (
            torch.random.fork_rng(devices=devices),
            torch.inference_mode(False),
            torch.enable_grad(),
            torch.autocast(device_type=device.type, enabled=False),
        ):
            yield
    finally:
        for module, mode in modes:
            module.training = mode


def refuse_batch_statistics(model: nn.Module) -> None:
    """Batch norm without running statistics couples the probe points even in eval mode."""
    for name, module in model.named_modules():
        if isinstance(module, _BATCH_NORMS) and module.running_mean is None:
            raise ValueError(
                f"{name or 'the model'} is a BatchNorm without running statistics "
                "(track_running_stats=False): its output on one probe point depends on the "
                "others, so there is no per-point kernel; use running statistics"
            )


def empirical_ntk(
    model: nn.Module,
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    *,
    kernel: Kernel = "sum",
    lr_weights: object = None,
    max_memory: int | None = None,
    method: Method = "layerwise",
) -> torch.Tensor:
    """The empirical NTK of ``model`` between probe points ``x1`` and ``x2`` (§6.2).

    The model runs in eval mode on its own parameters; ``.grad``, the RNG state, BatchNorm
    statistics, train/eval flags and autocast are left as they were. The kernel is
    accumulated in float64 whatever the model's dtype.

    Args:
        model: any module mapping a batch (N, ...) to outputs (N,) or (N, *O), batch-first.
        x1: probe points (N1, ...).
        x2: second probe points (N2, ...) of x1's trailing shape; default x1 (symmetric).
        kernel: "sum" — the kernel of Σ_o f_o; "trace" — Σ_o of each output's kernel; "full"
            — every pair of outputs.
        lr_weights: per-parameter rates η_p: None (all 1), an optimizer (its group rates;
            parameters it does not train are left out), an ``InitGeometry`` (its
            ``lr_scales``) or ``{name or glob: rate}``.
        max_memory: bytes of temporaries to stay under (default 2 GiB); the model's own
            forward and backward memory comes on top.
        method: "layerwise" (fast, default) or "jacobian" (torch.func ``vmap(jacrev)`` over
            all parameters: the exact brute-force route).

    Returns:
        float64 tensor on x1's device: (N1, N2) for "sum"/"trace", (N1, O, N2, O) for "full".

    Raises:
        TypeError: model not a module, probes not tensors, bad ``lr_weights``, or a model
            that does not return one tensor.
        ValueError: probes of the wrong shape or device, an unknown kernel or method, no
            trainable parameter, batch norm without running statistics, or an output without
            the probe dimension first.
    """
    _checks.module("model", model)
    x1 = _checks.probe("x1", x1)
    if x2 is not None:
        x2 = _checks.probe("x2", x2, like=x1)
    kernel = _checks.choice("kernel", kernel, KERNELS)
    method = _checks.choice("method", method, METHODS)
    budget = _checks.memory("max_memory", max_memory, DEFAULT_MEMORY)
    trained = _names.rates(model, lr_weights)
    return compute(model, x1, x2, trained, kernel=kernel, budget=budget, method=method)


def compute(model, x1, x2, trained, *, kernel: str, budget: int, method: str) -> torch.Tensor:
    """``empirical_ntk`` on checked arguments, with the rates as ``[(entry, rate)]``."""
    if not trained:
        raise ValueError("model has no trainable parameter with a rate > 0 (check lr_weights)")
    refuse_batch_statistics(model)
    entries = [entry for entry, _ in trained]
    rates = {entry.name: rate for entry, rate in trained}
    x1 = x1.clone() if x1.is_inference() else x1
    x2 = x2.clone() if x2 is not None and x2.is_inference() else x2
    with neutral(model, x1.device):
        outputs = output_size(model, x1)
        if method == "jacobian":
            return _jacobian(model, x1, x2, entries, rates, kernel, budget, outputs)
        return _layerwise(model, x1, x2, entries, rates, kernel, budget)


def output_size(model: nn.Module, x: torch.Tensor) -> int:
    """O, the outputs per probe point, from the model on x[:1] (checks that x fits)."""
    try:
        with torch.no_grad():
            out = model(x[:1])
    except (RuntimeError, ValueError, TypeError, IndexError) as error:
        raise ValueError(
            f"probe points of shape {tuple(x.shape)} do not fit the model: {error}"
        ) from error
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"the model must return one tensor of outputs, got {type(out).__name__}")
    if out.ndim == 0 or out.shape[0] != 1:
        raise ValueError(
            f"the model's output must have the probe dimension first: one point gave shape "
            f"{tuple(out.shape)}"
        )
    return max(1, int(out[0].numel()))


def _jacobian(model, x1, x2, entries, rates, kernel, budget, outputs) -> torch.Tensor:
    R = 1 if kernel == "sum" else outputs
    full = kernel == "full"
    params = {e.name: e.param.detach() for e in entries}
    raw = {e.name: e.raw for e in entries}
    x2_ = x1 if x2 is None else x2
    block = _contract.Block(x1.shape[0], x2_.shape[0], R, full, x2 is None, x1.device)

    def build(x):
        return lambda rows: _functional.model_jacobian(model, x[rows], params, raw, summed=R == 1)

    row_bytes = 8 * R * sum(p.numel() for p in params.values()) * 4
    _contract.per_sample(block, build(x1), build(x2_), x1.shape[0], x2_.shape[0],
                          row_bytes, rates, budget)  # fmt: skip
    return block.K


def _layerwise(model, x1, x2, entries, rates, kernel, budget) -> torch.Tensor:
    full = kernel == "full"
    symmetric = x2 is None
    N1, N2 = x1.shape[0], (x1 if symmetric else x2).shape[0]
    one = _capture.capture(model, x1[:1], entries, kernel=kernel)
    one.backward()
    per_point, inputs, R = max(1, one.nbytes()), max(1, one.nbytes(grads=False)), one.passes
    del one
    joined = N1 if symmetric else N1 + N2
    if not full and joined * inputs <= budget:
        # One capture of every point (its activations, ~ what autograd keeps, in the budget);
        # units are contracted while the backward pass runs and release their inputs.
        x = x1 if symmetric else torch.cat([x1, x2])
        A = _capture.capture(model, x, entries, kernel=kernel)
        ra, rb = slice(0, N1), slice(0, N1) if symmetric else slice(N1, N1 + N2)
        block = _contract.Block(N1, N2, R, full, symmetric, x1.device)
        units, _, _ = _contract.plan(A, A, entries, rates)
        A.backward(_contract.streaming(block, ra, rb, units, A.calls, rates, budget // 2,
                                       passes=A.passes))  # fmt: skip
        _contract.contract(model, A, A, entries, rates, block, ra=ra, rb=rb, units={},
                           budget=budget // 2)  # fmt: skip
        return block.K
    size = max(1, (budget // 4) // per_point)  # two blocks of records in a quarter each
    rows1 = _routes.tiles(N1, size)
    rows2 = rows1 if symmetric else _routes.tiles(N2, size)
    x2_ = x1 if symmetric else x2
    K = torch.zeros((N1, R, N2, R) if full else (N1, N2), dtype=torch.float64, device=x1.device)
    for ra in rows1:
        A = _capture.capture(model, x1[ra], entries, kernel=kernel)
        A.backward()
        for rb in rows2:
            if symmetric and rb.start < ra.start:
                continue
            same = symmetric and rb == ra
            if same:
                B = A
            else:
                B = _capture.capture(model, x2_[rb], entries, kernel=kernel)
                B.backward()
            block = _contract.Block(A.x.shape[0], B.x.shape[0], R, full, same, x1.device)
            _contract.contract(model, A, B, entries, rates, block, budget=budget // 2)
            if full:
                K[ra, :, rb] = block.K
                if symmetric and not same:
                    K[rb, :, ra] = block.K.permute(2, 3, 0, 1)
            else:
                K[ra, rb] = block.K
                if symmetric and not same:
                    K[rb, ra] = block.K.T
            del B
    return K


def ntk_routes(
    model: nn.Module, x: torch.Tensor, *, kernel: Kernel = "sum", lr_weights: object = None
) -> dict[str, str]:
    """How ``empirical_ntk(model, x, kernel=kernel)`` contracts each parameter (a diagnostic).

    Routes: "gram" (no per-sample gradient: (x·x')(g·g') over positions or patches),
    "per-sample" (gradients of each probe point, contracted in float64), "per-sample, shared"
    (summed over several uses: tied weights, layers called twice), "torch.func, module"
    (``vjp`` of the module alone, e.g. LayerNorm) and "torch.func, model" (``jacrev`` of the
    whole model: parameters the hooks cannot see, e.g. inside MultiheadAttention). Decided
    for ``x`` as one block of probe points.

    Returns:
        ``{parameter name: route}`` for every trained parameter.

    Raises:
        TypeError: as ``empirical_ntk``.
        ValueError: as ``empirical_ntk``.
    """
    _checks.module("model", model)
    x = _checks.probe("x", x)
    kernel = _checks.choice("kernel", kernel, KERNELS)
    trained = _names.rates(model, lr_weights)
    if not trained:
        raise ValueError("model has no trainable parameter with a rate > 0 (check lr_weights)")
    entries = [entry for entry, _ in trained]
    rates = {entry.name: rate for entry, rate in trained}
    refuse_batch_statistics(model)
    with neutral(model, x.device):
        output_size(model, x)
        A = _capture.capture(model, x, entries, kernel=kernel)
    units, groups, rest = _contract.plan(A, A, entries, rates)
    full = kernel == "full"
    R = A.passes if full else 1
    found: dict[str, str] = {}
    for w, attrs in units.items():
        call = A.calls[w][0]
        module = call.module
        for attr, name in attrs.items():
            if _capture.route_of(module) == "fast":
                if attr == "weight":
                    shape, _, _ = call.outputs[0]
                    g_shape = (shape[0], R, *shape[1:])
                    found[name] = _contract.weight_route(
                        module, tuple(call.args[0].shape), g_shape, call.args[0].dtype,
                        shape[0], full=full, same=True)[0]  # fmt: skip
                else:
                    found[name] = "per-sample"
            elif isinstance(module, _BATCH_NORMS):
                found[name] = "per-sample"
            else:
                found[name] = "torch.func, module"
    for names in groups.values():
        found.update(dict.fromkeys(names, "per-sample, shared"))
    found.update(dict.fromkeys(rest, "torch.func, model"))
    return {e.name: found.get(e.name, "unused") for e in entries}


def kernel_distance(K0, Kt, *, ndim: int = 2):
    """S = 1 − ⟨K0, Kt⟩_F / (‖K0‖_F ‖Kt‖_F) over the last ``ndim`` dims, batched (§6.2).

    Each kernel is divided by its largest entry and then by its norm before the inner
    product, so entries of 1e±200 neither overflow nor underflow.

    Args:
        K0, Kt: kernels (..., N1, N2) — or (..., N1, O, N2, O) with ``ndim=4`` — whose leading
            dims broadcast; torch tensors or array-likes (NumPy in, NumPy out).
        ndim: how many trailing dims form one kernel.

    Returns:
        float64 distances of the broadcast leading shape; NaN where a kernel is zero or not
        finite.

    Raises:
        ValueError: the kernels' trailing shapes differ, or leading shapes do not broadcast.
    """
    as_numpy = not isinstance(K0, torch.Tensor) and not isinstance(Kt, torch.Tensor)
    a = torch.as_tensor(np.asarray(K0) if not isinstance(K0, torch.Tensor) else K0)
    b = torch.as_tensor(np.asarray(Kt) if not isinstance(Kt, torch.Tensor) else Kt)
    if not isinstance(ndim, int) or ndim < 1 or a.ndim < ndim or b.ndim < ndim:
        raise ValueError(f"ndim must be ≥ 1 and at most the kernels' dims, got {ndim}")
    if a.shape[a.ndim - ndim :] != b.shape[b.ndim - ndim :]:
        raise ValueError(
            f"K0 and Kt must have the same kernel shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    a, b = a.to(torch.float64), b.to(a.device, torch.float64)
    try:
        lead = torch.broadcast_shapes(a.shape[: a.ndim - ndim], b.shape[: b.ndim - ndim])
    except RuntimeError:
        raise ValueError(
            f"leading shapes of K0 {tuple(a.shape)} and Kt {tuple(b.shape)} do not broadcast"
        ) from None

    def unit(k):
        k = k.reshape(*k.shape[: k.ndim - ndim], -1)  # (..., entries)
        scale = k.abs().amax(-1, keepdim=True)
        k = k / scale
        return k / torch.linalg.vector_norm(k, dim=-1, keepdim=True), scale[..., 0]

    ua, sa = unit(a)
    ub, sb = unit(b)
    distance = (1 - (ua * ub).sum(-1)).broadcast_to(lead)
    bad = ~(torch.isfinite(sa) & (sa > 0)).broadcast_to(lead)
    bad = bad | ~(torch.isfinite(sb) & (sb > 0)).broadcast_to(lead)
    distance = distance.masked_fill(bad, float("nan"))
    return distance.numpy() if as_numpy else distance
