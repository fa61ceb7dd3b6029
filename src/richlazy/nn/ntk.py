"""Empirical NTK of any ``torch.nn.Module``, and the kernel distance (docs/theory.md §6.2).

Θ(x, x') = Σ_p η_p ∂f(x)/∂θ_p · ∂f(x')/∂θ_p over the trainable parameters θ_p with rates η_p.
The default ``method="layerwise"`` never forms the N × P Jacobian. Its pipeline: capture
(``_capture``: one forward and one backward pass per output row record each layer's inputs and
output gradients) → plan (``_plan``: one ``Route`` per parameter, the Gram or per-sample route
whichever costs fewer multiply-adds) → layer kernels (``_contract``) → assembly (here: blocks of
probe points under a memory budget into one kernel per group of parameters, with the symmetry
Θ(x, x') = Θ(x', x) used when ``x2`` is None). Parameters the hooks cannot account for exactly
take the torch.func route, which ``method="jacobian"`` uses for every parameter.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Literal, get_args

import numpy as np
import torch
from torch import nn

from richlazy.nn import _capture, _checks, _contract, _functional, _names, _plan, _routes
from richlazy.nn.geometry import BATCH_NORM_TYPES

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
        if isinstance(module, BATCH_NORM_TYPES) and module.running_mean is None:
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
    groups: Mapping[str, Sequence[str]] | None = None,
) -> torch.Tensor | dict[str, torch.Tensor]:
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
        groups: ``{group name: [parameter names, module names or globs]}``: the kernel of each
            group of parameters (the others held constant), all from one contraction. Each
            trained parameter may be in one group at most; parameters in no group are left out.
            The kernels of groups that partition the parameters sum to the whole kernel.

    Returns:
        float64 tensor on x1's device: (N1, N2) for "sum"/"trace", (N1, O, N2, O) for "full";
        with ``groups``, ``{group name: such a tensor}``.

    Raises:
        TypeError: model not a module, probes not tensors, bad ``lr_weights`` or ``groups``,
            or a model that does not return one tensor.
        ValueError: probes of the wrong shape or device, an unknown kernel or method, no
            trainable parameter, batch norm without running statistics, an output without
            the probe dimension first, or ``groups`` naming an unknown, untrained or repeated
            parameter.
    """
    model = _checks.module("model", model)
    x1 = _checks.probe("x1", x1)
    if x2 is not None:
        x2 = _checks.probe("x2", x2, like=x1)
    kernel = _checks.choice("kernel", kernel, KERNELS)
    method = _checks.choice("method", method, METHODS)
    budget = _checks.memory("max_memory", max_memory, DEFAULT_MEMORY)
    trained = _names.rates(model, lr_weights)
    if groups is None:
        return compute(model, x1, x2, trained, kernel=kernel, budget=budget, method=method)
    group_of = group_indices(model, groups, trained)
    trained = [(e, r) for e, r in trained if e.name in group_of]
    Ks = compute(model, x1, x2, trained, kernel=kernel, budget=budget, method=method,
                 group_of=group_of, count=len(groups))  # fmt: skip
    return dict(zip(groups, Ks, strict=True))


def group_indices(model: nn.Module, groups: object, trained: list[tuple]) -> dict[str, int]:
    """``{parameter name: group index}`` from ``groups={name: [keys]}``, checked."""
    if not isinstance(groups, Mapping) or not groups:
        raise TypeError(
            "groups must be a non-empty mapping {group name: [parameter names]}, got "
            f"{type(groups).__name__ if not isinstance(groups, Mapping) else 'an empty one'}"
        )
    entries = _names.parameters(model)
    rated = {e.name for e, _ in trained}
    found: dict[str, int] = {}
    source: dict[str, tuple[str, str]] = {}
    for index, (group, keys) in enumerate(groups.items()):
        if not isinstance(group, str):
            raise TypeError(f"groups keys must be group names (str), got {group!r}")
        if isinstance(keys, str) or not isinstance(keys, Sequence | set | frozenset) or not keys:
            raise TypeError(
                f"groups[{group!r}] must be a non-empty list of parameter names, module names "
                f"or globs, got {keys!r}"
            )
        if len(set(keys)) != len(keys):
            repeated = sorted({k for k in keys if list(keys).count(k) > 1})
            raise ValueError(f"groups[{group!r}] lists {repeated} more than once")
        for key in keys:
            if not isinstance(key, str):
                raise TypeError(f"groups[{group!r}] must list names (str), got {key!r}")
            chosen = _names.match(key, entries)
            if not chosen:
                raise ValueError(_names.no_match_message(f"groups[{group!r}]", key, entries))
            for entry in chosen:
                if entry.name not in rated:
                    raise ValueError(
                        f"groups[{group!r}]: parameter {entry.name!r} (from {key!r}) is not "
                        "trained (requires_grad=False, or a rate of 0 in lr_weights): it has no "
                        "kernel"
                    )
                if entry.name in found:
                    other, other_key = source[entry.name]
                    raise ValueError(
                        f"groups: parameter {entry.name!r} is in groups[{other!r}] (from "
                        f"{other_key!r}) and groups[{group!r}] (from {key!r}); the groups "
                        "must not overlap"
                    )
                found[entry.name], source[entry.name] = index, (group, key)
    return found


def compute(model, x1, x2, trained, *, kernel: str, budget: int, method: str,
            group_of: dict[str, int] | None = None, count: int = 1):  # fmt: skip
    """``empirical_ntk`` on checked arguments, with the rates as ``[(entry, rate)]``.

    Returns the kernel, or with ``group_of`` (parameter name -> group index) the list of the
    ``count`` groups' kernels.
    """
    if not trained:
        raise ValueError("model has no trainable parameter with a rate > 0 (check lr_weights)")
    refuse_batch_statistics(model)
    entries = [entry for entry, _ in trained]
    rates = {entry.name: rate for entry, rate in trained}
    x1 = x1.clone() if x1.is_inference() else x1
    x2 = x2.clone() if x2 is not None and x2.is_inference() else x2
    grouped = group_of is not None
    group_of = group_of if grouped else dict.fromkeys(rates, 0)
    with neutral(model, x1.device):
        outputs = output_size(model, x1, entries)
        if method == "jacobian":
            Ks = _jacobian(model, x1, x2, entries, rates, kernel, budget, outputs, group_of, count)
        else:
            Ks = _layerwise(model, x1, x2, entries, rates, kernel, budget, group_of, count)
    return Ks if grouped else Ks[0]


def output_size(model: nn.Module, x: torch.Tensor, entries: list[_names.Entry]) -> int:
    """O, the outputs per probe point, from the model on x[:1]; checks that x fits and that
    the output is a tensor, batch-first and differentiable in the trained parameters."""
    trained = {e.raw: e.param for e in entries}
    constants = {n: p.detach() for n, p in model.named_parameters() if n not in trained}
    try:
        out = torch.func.functional_call(model, {**constants, **trained}, (x[:1],), strict=False)
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
    if not out.is_floating_point():
        raise ValueError(
            f"the model's output has dtype {out.dtype}: the kernel is of outputs differentiable "
            "in the parameters (a float tensor), e.g. logits rather than argmax labels"
        )
    if not out.requires_grad:
        raise ValueError(
            "the model's output does not depend differentiably on its trained parameters (an "
            "argmax, a comparison, .detach() or torch.no_grad() inside forward?): its kernel "
            "would be zero; give the model's differentiable output, e.g. logits"
        )
    return max(1, int(out[0].numel()))


def _jacobian(model, x1, x2, entries, rates, kernel, budget, outputs, group_of, count):
    R = 1 if kernel == "sum" else outputs
    full = kernel == "full"
    params = {e.name: e.param.detach() for e in entries}
    raw = {e.name: e.raw for e in entries}
    x2_ = x1 if x2 is None else x2
    block = _contract.Block(x1.shape[0], x2_.shape[0], R, full, x2 is None, x1.device, count)
    plan = _plan.Plan({}, {}, list(params), dict.fromkeys(params, _plan.Route.MODEL), group_of)

    def build(x):
        return lambda rows: _functional.model_jacobian(model, x[rows], params, raw, summed=R == 1)

    row_bytes = 8 * R * sum(p.numel() for p in params.values()) * 4
    _contract.per_sample(block, build(x1), build(x2_), x1.shape[0], x2_.shape[0],
                          row_bytes, rates, budget, plan)  # fmt: skip
    return block.Ks


def _layerwise(model, x1, x2, entries, rates, kernel, budget, group_of, count):
    """The kernels of the ``count`` groups: capture, plan, layer kernels, assembly."""
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
        block = _contract.Block(N1, N2, R, full, symmetric, x1.device, count)
        plan = _plan.make(A, A, entries, rates, Ba=N1, Bb=N2, R=1, full=full, same=symmetric,
                          group_of=group_of)  # fmt: skip
        A.backward(_contract.streaming(block, ra, rb, plan, A.calls, rates, budget // 2,
                                       passes=A.passes))  # fmt: skip
        _contract.contract(model, A, A, plan, entries, rates, block, ra=ra, rb=rb,
                           streamed=True, budget=budget // 2)  # fmt: skip
        return block.Ks
    size = max(1, (budget // 4) // per_point)  # two blocks of records in a quarter each
    rows1 = _routes.tiles(N1, size)
    rows2 = rows1 if symmetric else _routes.tiles(N2, size)
    x2_ = x1 if symmetric else x2
    shape = (N1, R, N2, R) if full else (N1, N2)
    Ks = [torch.zeros(shape, dtype=torch.float64, device=x1.device) for _ in range(count)]
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
            Ba, Bb = A.x.shape[0], B.x.shape[0]
            block = _contract.Block(Ba, Bb, R, full, same, x1.device, count)
            plan = _plan.make(A, B, entries, rates, Ba=Ba, Bb=Bb, R=R, full=full, same=same,
                              group_of=group_of)  # fmt: skip
            _contract.contract(model, A, B, plan, entries, rates, block, budget=budget // 2)
            for K, part in zip(Ks, block.Ks, strict=True):
                _assemble(K, part, ra, rb, full, symmetric and not same)
            del B
    return Ks


def _assemble(K, part, ra, rb, full: bool, mirror: bool) -> None:
    """Place a block's kernel at rows ``ra``, columns ``rb`` (and its transpose if ``mirror``)."""
    if full:
        K[ra, :, rb] = part
        if mirror:
            K[rb, :, ra] = part.permute(2, 3, 0, 1)
    else:
        K[ra, rb] = part
        if mirror:
            K[rb, ra] = part.T


def ntk_routes(
    model: nn.Module, x: torch.Tensor, *, kernel: Kernel = "sum", lr_weights: object = None
) -> dict[str, str]:
    """How ``empirical_ntk(model, x, kernel=kernel)`` contracts each parameter (a diagnostic).

    The routes of the contraction's plan (``_plan.Route``): "gram" (no per-sample gradient:
    (x·x')(g·g') over positions or patches), "per-sample" (gradients of each probe point,
    contracted in float64), "per-sample, shared" (summed over several uses: tied weights,
    layers called twice), "torch.func, module" (``vjp`` of the module alone, e.g. LayerNorm)
    and "torch.func, model" (``jacrev`` of the whole model: parameters the hooks cannot see,
    e.g. inside MultiheadAttention); "unused" for a parameter the forward pass never reads.
    Decided for ``x`` as one block of probe points.

    Returns:
        ``{parameter name: route}`` for every trained parameter.

    Raises:
        TypeError: as ``empirical_ntk``.
        ValueError: as ``empirical_ntk``.
    """
    model = _checks.module("model", model)
    x = _checks.probe("x", x)
    kernel = _checks.choice("kernel", kernel, KERNELS)
    trained = _names.rates(model, lr_weights)
    if not trained:
        raise ValueError("model has no trainable parameter with a rate > 0 (check lr_weights)")
    entries = [entry for entry, _ in trained]
    rates = {entry.name: rate for entry, rate in trained}
    refuse_batch_statistics(model)
    with neutral(model, x.device):
        output_size(model, x, entries)
        A = _capture.capture(model, x, entries, kernel=kernel)
    full = kernel == "full"
    N = x.shape[0]
    plan = _plan.make(A, A, entries, rates, Ba=N, Bb=N, R=A.passes if full else 1, full=full,
                      same=True)  # fmt: skip
    return {e.name: plan.routes[e.name].value if e.name in plan.routes else "unused"
            for e in entries}  # fmt: skip


def _real_kernel(name: str, K) -> torch.Tensor:
    """``K`` as a real, non-boolean tensor (NumPy input converted); complex ones refused."""
    if not isinstance(K, torch.Tensor):
        array = np.asarray(K)
        if not np.issubdtype(array.dtype, np.number) and array.dtype != bool:
            raise TypeError(f"{name} must be a real numeric kernel, got dtype {array.dtype}")
        K = torch.as_tensor(array)
    if K.is_complex():
        raise TypeError(f"{name} must be real, got complex values ({K.dtype})")
    if K.dtype == torch.bool:
        raise TypeError(f"{name} must be a real numeric kernel, got {K.dtype}")
    return K


def kernel_distance(K0, Kt, *, ndim: int = 2):
    """S = 1 − ⟨K0, Kt⟩_F / (‖K0‖_F ‖Kt‖_F) over the last ``ndim`` dims, batched (§6.2).

    Each kernel is divided by its largest entry and then by its norm before the inner
    product, so entries of 1e±200 neither overflow nor underflow.

    Args:
        K0, Kt: kernels (..., N1, N2) — or (..., N1, O, N2, O) with ``ndim=4`` — whose leading
            dims broadcast; torch tensors or array-likes (NumPy in, NumPy out).
        ndim: how many trailing dims form one kernel.

    Returns:
        float64 distances of the broadcast leading shape, exactly 0 where the two kernels are
        equal; NaN where a kernel is zero or not finite.

    Raises:
        TypeError: complex, boolean or non-numeric kernels (NumPy or torch alike).
        ValueError: the kernels' trailing shapes differ or are empty, or leading shapes do not
            broadcast.
    """
    as_numpy = not isinstance(K0, torch.Tensor) and not isinstance(Kt, torch.Tensor)
    a, b = _real_kernel("K0", K0), _real_kernel("Kt", Kt)
    if (
        isinstance(ndim, bool)
        or not isinstance(ndim, int)
        or ndim < 1
        or min(a.ndim, b.ndim) < ndim
    ):
        raise ValueError(f"ndim must be ≥ 1 and at most the kernels' dims, got {ndim}")
    if a.shape[a.ndim - ndim :] != b.shape[b.ndim - ndim :]:
        raise ValueError(
            f"K0 and Kt must have the same kernel shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    entries = math.prod(a.shape[a.ndim - ndim :])
    if entries == 0:
        raise ValueError(
            "K0 and Kt must be non-empty kernels, got kernel shape "
            f"{tuple(a.shape[a.ndim - ndim :])}"
        )
    a, b = a.to(torch.float64), b.to(a.device, torch.float64)
    try:
        lead = torch.broadcast_shapes(a.shape[: a.ndim - ndim], b.shape[: b.ndim - ndim])
    except RuntimeError:
        raise ValueError(
            f"leading shapes of K0 {tuple(a.shape)} and Kt {tuple(b.shape)} do not broadcast"
        ) from None

    def unit(k):
        k = k.reshape(*k.shape[: k.ndim - ndim], entries)  # (..., entries)
        scale = k.abs().amax(-1, keepdim=True)
        k = k / scale
        return k / torch.linalg.vector_norm(k, dim=-1, keepdim=True), scale[..., 0]

    ua, sa = unit(a)
    ub, sb = unit(b)
    distance = (1 - (ua * ub).sum(-1)).broadcast_to(lead)
    # S(K, K) = 0 exactly: the rounding of the norm would leave ±1e-16, invisible on log axes.
    same = (ua == ub).all(-1).broadcast_to(lead)
    distance = distance.masked_fill(same, 0.0)
    bad = ~(torch.isfinite(sa) & (sa > 0)).broadcast_to(lead)
    bad = bad | ~(torch.isfinite(sb) & (sb > 0)).broadcast_to(lead)
    distance = distance.masked_fill(bad, float("nan"))
    return distance.numpy() if as_numpy else distance
