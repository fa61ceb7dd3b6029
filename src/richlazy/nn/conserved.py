"""Conserved quantities of consecutive layers of any module (docs/theory.md §6.1, §5, §4).

Gradient flow θ̇_p = −η_p ∇_p L conserves, for each symmetry of the loss, a quadratic quantity.
Two layers joined by a positively homogeneous activation (ReLU, LeakyReLU, max-pooling; and
linear maps acting on each channel alone: average pooling, flatten, dropout) can rescale
hidden unit k by c > 0 (its incoming weights and bias by c, its outgoing weights by 1/c), so

    δ_k = η_in η_out (Σ_{p ∈ out_k} ‖θ_p‖²/η_p − Σ_{p ∈ in_k} ‖θ_p‖²/η_p)

is conserved; with one rate per layer it is δ_k = η_in‖out_k‖² − η_out‖in_k‖², the per-neuron
δ_k = η_w a_k² − η_a‖w_k‖² of §5 for a two-layer network (η_in = η_w is the rate of the incoming
weights, η_out = η_a of the outgoing ones). Two layers with only linear maps between them have
the larger symmetry of any invertible mixing of the hidden units and conserve the matrix
Δ = η_in Out Outᵀ − η_out In Inᵀ (§4's Δ_l = η_l W_{l+1}ᵀW_{l+1} − η_{l+1} W_l W_lᵀ), whose
diagonal is δ.

Pairs are found on the model's ``torch.fx`` graph: a pair is skipped, with the reason recorded,
when a layer's output feeds several operations (a residual connection), a normalisation layer
or a non-homogeneous activation sits between, a layer is called twice, or a parameter of the
pair is not trained.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (the usual name)
import xarray as xr
from torch import fx, nn

from richlazy.nn import _checks, _names
from richlazy.nn.geometry import NORM_TYPES

__all__ = ["Pair", "conserved_quantities", "find_pairs", "pair_values"]

IN_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Embedding)
OUT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_HOMOGENEOUS_MODULES = (nn.ReLU, nn.LeakyReLU, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d,
                        nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
                        nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)  # fmt: skip
_LINEAR_MODULES = (nn.Identity, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
                   nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)  # fmt: skip
_HOMOGENEOUS_FUNCTIONS = {F.relu, torch.relu, torch.relu_, F.leaky_relu, F.max_pool1d,
                          F.max_pool2d, F.max_pool3d, F.adaptive_max_pool1d,
                          F.adaptive_max_pool2d, F.dropout}  # fmt: skip
_LINEAR_FUNCTIONS = {F.avg_pool1d, F.avg_pool2d, F.avg_pool3d, F.adaptive_avg_pool1d,
                     F.adaptive_avg_pool2d}  # fmt: skip
# A product with (or a division by) a number scales every unit alike: a linear map.
_SCALINGS = {operator.mul, torch.mul, operator.truediv, torch.div}
_JOINS = {operator.add, operator.iadd, torch.add, torch.cat, operator.mul, torch.mul}


@dataclass(frozen=True)
class Pair:
    """Two layers with a rescaling symmetry between them.

    Attributes:
        inner, outer: module names of the incoming and outgoing layer.
        kind: "homogeneous" (per-unit δ_k) or "linear" (the whole matrix Δ).
        between: the operations between them, e.g. "ReLU, MaxPool2d, flatten".
        flatten: whether the hidden units are flattened into the outer layer's inputs.
    """

    inner: str
    outer: str
    kind: str
    between: str
    flatten: bool

    @property
    def name(self) -> str:
        return f"{self.inner}->{self.outer}"


def _flattens(node: fx.Node) -> bool:
    args, kwargs = node.args, node.kwargs
    start = kwargs.get("start_dim", args[1] if len(args) > 1 else 0)
    end = kwargs.get("end_dim", args[2] if len(args) > 2 else -1)
    return start == 1 and end == -1


def _by_a_number(node: fx.Node) -> bool:
    """Whether ``node`` multiplies (divides) one tensor by a plain number (not a tensor)."""
    args = [*node.args, *node.kwargs.values()]
    nodes = [a for a in args if isinstance(a, fx.Node)]
    numbers = [a for a in args if isinstance(a, int | float) and not isinstance(a, bool)]
    first_is_tensor = node.target in (operator.mul, torch.mul) or args[0] is nodes[0]
    return len(nodes) == 1 and len(numbers) == 1 and len(args) == 2 and bool(first_is_tensor)


def _step(node: fx.Node, modules: dict) -> tuple[str, str]:
    """How the operation ``node`` acts between two layers: (what, label)."""
    if node.op == "call_module":
        module = modules[node.target]
        label = type(module).__name__
        if isinstance(module, OUT_LAYERS):
            return "layer", label
        if isinstance(module, _HOMOGENEOUS_MODULES):
            return "homogeneous", label
        if isinstance(module, _LINEAR_MODULES):
            return "linear", label
        if isinstance(module, nn.Flatten):
            ok = module.start_dim == 1 and module.end_dim == -1
            return ("flatten", "flatten") if ok else ("other", "Flatten of other dims")
        if isinstance(module, NORM_TYPES):
            return "norm", f"normalisation layer {node.target!r} ({label})"
        return "other", f"{label} {node.target!r}"
    target = node.target
    name = getattr(target, "__name__", str(target))
    if node.op == "call_method":
        if target in ("relu", "relu_"):
            return "homogeneous", "relu"
        if target == "flatten":
            return ("flatten", "flatten") if _flattens(node) else ("other", "flatten")
        return "other", f"method .{target}()"
    if node.op == "call_function":
        if target in _HOMOGENEOUS_FUNCTIONS:
            return "homogeneous", name
        if target in _LINEAR_FUNCTIONS:
            return "linear", name
        if target is torch.flatten:
            return ("flatten", "flatten") if _flattens(node) else ("other", "flatten")
        if target in _SCALINGS and _by_a_number(node):
            return "linear", f"{name} by a number"
        if target in _JOINS:
            return "join", f"{name} (a residual connection or concatenation)"
        return "other", f"function {name}"
    return "end", str(node.op)


def find_pairs(model: nn.Module) -> tuple[list[Pair], list[str]]:
    """The layer pairs of ``model`` with a rescaling symmetry, and why others were skipped.

    Returns:
        ``(pairs, skipped)``, skipped as "layer: reason" strings.

    Raises:
        TypeError: ``model`` is not a module.
    """
    model = _checks.module("model", model)
    try:
        graph = fx.symbolic_trace(model).graph
    except Exception as error:  # any failure of tracing: control flow, custom tensors, ...
        return [], [f"(model): torch.fx could not trace it ({type(error).__name__}: {error})"]
    modules = dict(model.named_modules())
    calls: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    pairs, skipped = [], []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], IN_LAYERS):
            continue
        inner, kind, labels, flatten, current = node.target, "linear", [], False, node
        while True:
            users = list(current.users)
            if len(users) != 1:
                if len(users) > 1:
                    skipped.append(
                        f"{inner}: the output of {current.name!r} feeds {len(users)} operations "
                        "(a residual connection or a branch)"
                    )
                break
            current = users[0]
            what, label = _step(current, modules)
            if what == "layer":
                outer = current.target
                module, other = modules[inner], modules[outer]
                reason = _invalid(module, other, flatten, calls, inner, outer)
                if reason:
                    skipped.append(f"{inner}->{outer}: {reason}")
                else:
                    pairs.append(Pair(_names.canonical(inner), _names.canonical(outer), kind,
                                      ", ".join(labels) or "nothing", flatten))  # fmt: skip
                break
            if what == "homogeneous":
                kind = "homogeneous"
            elif what == "flatten":
                flatten = True
            elif what == "norm":
                skipped.append(f"{inner}: a {label} follows it, which undoes its scale")
                break
            elif what == "join":
                skipped.append(f"{inner}: its output reaches {label}")
                break
            elif what != "linear":
                if what != "end":
                    skipped.append(f"{inner}: {label} follows it, which is not known to be "
                                   "positively homogeneous unit by unit")  # fmt: skip
                break
            labels.append(label)
    return pairs, skipped


def _units(module: nn.Module) -> int:
    if isinstance(module, nn.Linear):
        return module.out_features
    if isinstance(module, nn.Embedding):
        return module.embedding_dim
    return module.out_channels


def _invalid(inner, outer, flatten, calls, inner_name, outer_name) -> str | None:
    if calls[inner_name] > 1 or calls[outer_name] > 1:
        return "a layer of the pair is called more than once (shared)"
    for layer in (inner, outer):
        if getattr(layer, "groups", 1) != 1:
            return "grouped convolution"
    h = _units(inner)
    width = outer.in_features if isinstance(outer, nn.Linear) else outer.in_channels
    if flatten and not (isinstance(outer, nn.Linear) and width % h == 0):
        return "flattened units do not map onto the next layer's inputs"
    if not flatten and width != h:
        return f"{h} units feed {width} inputs"
    return None


def _sides(pair: Pair, modules: dict) -> tuple[list, list]:
    """[(param, matrix (h, ·))] of the incoming and outgoing side of the hidden units."""
    inner, outer = modules[pair.inner], modules[pair.outer]
    h = _units(inner)
    if isinstance(inner, nn.Embedding):
        incoming = [(inner.weight, inner.weight.T)]  # (d, V)
    else:
        incoming = [(inner.weight, inner.weight.reshape(h, -1))]
        if inner.bias is not None:
            incoming.append((inner.bias, inner.bias.reshape(h, 1)))
    w = outer.weight
    if pair.flatten:  # (o, h·q) -> (h, o·q)
        out = w.reshape(w.shape[0], h, -1).transpose(0, 1).reshape(h, -1)
    else:
        out = w.transpose(0, 1).reshape(h, -1)  # Linear (o, h) / Conv (o, h, k…) -> (h, ·)
    return incoming, [(w, out)]


def pair_values(pairs: list[Pair], model: nn.Module, rates: dict[int, float]):
    """δ (h,) for every pair and Δ (h, h) for linear ones, float64, from the present weights.

    Args:
        rates: ``{id(parameter): η}``; a pair with an untrained parameter gets None.
    """
    model = _checks.unwrap(model)
    modules = {_names.canonical(n): m for n, m in model.named_modules()}
    values = []
    with torch.no_grad():
        for pair in pairs:
            incoming, outgoing = _sides(pair, modules)
            if any(id(p) not in rates for p, _ in (*incoming, *outgoing)):
                values.append(None)
                continue
            eta_in, eta_out = rates[id(incoming[0][0])], rates[id(outgoing[0][0])]

            def gram(side):
                return sum(m.to(torch.float64) @ m.to(torch.float64).T / rates[id(p)]
                           for p, m in side)  # fmt: skip

            if pair.kind == "linear":
                matrix = eta_in * eta_out * (gram(outgoing) - gram(incoming))  # (h, h)
                values.append((torch.diagonal(matrix).clone(), matrix))
            else:

                def norms(side):
                    return sum((m.to(torch.float64) ** 2).sum(1) / rates[id(p)] for p, m in side)

                values.append((eta_in * eta_out * (norms(outgoing) - norms(incoming)), None))
    return values


def conserved_quantities(model: nn.Module, *, lrs: object = None) -> xr.Dataset:
    """The conserved quantities of ``model``'s layer pairs at its present weights (§6.1).

    Args:
        model: any module (traced with ``torch.fx``).
        lrs: the per-parameter rates, as ``empirical_ntk``'s ``lr_weights``: None (all 1), an
            optimizer, an ``InitGeometry`` or ``{name or glob: rate}``.

    Returns:
        Dataset with ``delta`` (pair, unit): δ_k, NaN beyond a pair's width; for pairs with
        only linear maps between, ``delta_matrix`` (linear_pair, row, col); coordinates
        ``inner``, ``outer``, ``kind``, ``between``, ``units``, ``eta_in``, ``eta_out`` per
        pair; attribute ``skipped``: the reason for each layer not paired.

    Raises:
        TypeError: ``model`` is not a module or ``lrs`` of the wrong kind.
    """
    model = _checks.module("model", model)
    rates = {id(e.param): r for e, r in _names.rates(model, lrs, argument="lrs")}
    pairs, skipped = find_pairs(model)
    values = pair_values(pairs, model, rates)
    kept = []
    for pair, value in zip(pairs, values, strict=True):
        if value is None:
            skipped.append(f"{pair.name}: a parameter of the pair is not trained (rate 0)")
        else:
            kept.append((pair, value))
    modules = {_names.canonical(n): m for n, m in model.named_modules()}
    width = max((len(v[0]) for _, v in kept), default=0)
    delta = np.full((len(kept), width), np.nan)
    for i, (_, (d, _)) in enumerate(kept):
        delta[i, : len(d)] = d.cpu().numpy()
    coords = {
        "pair": [p.name for p, _ in kept],
        "inner": ("pair", [p.inner for p, _ in kept]),
        "outer": ("pair", [p.outer for p, _ in kept]),
        "kind": ("pair", [p.kind for p, _ in kept]),
        "between": ("pair", [p.between for p, _ in kept]),
        "units": ("pair", [len(v[0]) for _, v in kept]),
        "eta_in": ("pair", [rates[id(modules[p.inner].weight)] for p, _ in kept]),
        "eta_out": ("pair", [rates[id(modules[p.outer].weight)] for p, _ in kept]),
    }
    data = {"delta": (("pair", "unit"), delta)}
    linear = [(p, v[1]) for p, v in kept if v[1] is not None]
    if linear:
        side = max(m.shape[0] for _, m in linear)
        matrices = np.full((len(linear), side, side), np.nan)
        for i, (_, m) in enumerate(linear):
            matrices[i, : m.shape[0], : m.shape[0]] = m.cpu().numpy()
        data["delta_matrix"] = (("linear_pair", "row", "col"), matrices)
        coords["linear_pair"] = [p.name for p, _ in linear]
    attrs = {
        "skipped": list(skipped),
        "convention": "delta_k = eta_in eta_out (sum_out |theta|^2/eta - sum_in |theta|^2/eta) "
        "= eta_in |out_k|^2 - eta_out |in_k|^2 for one rate per layer (docs/theory.md §6.1)",
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)
