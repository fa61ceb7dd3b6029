"""The plan of an eNTK contraction: which route computes each parameter's share (theory §6.2).

The pipeline of ``empirical_ntk`` is capture (``_capture``: inputs and output gradients of every
layer) → plan (this module) → layer kernels (``_contract``, with the math of ``_routes``) →
assembly (``ntk``: blocks of probe points into the kernel, one kernel per group of parameters).

A plan splits the trained parameters, the same way for both captures of a block, into

- *units*: a module called once whose parameters nothing else uses, with one ``Route`` per
  parameter (``Route.GRAM`` or ``Route.PER_SAMPLE`` for the weight of a Linear, convolution or
  Embedding, by their cost in multiply-adds);
- *shared* parameters: used by several modules or calls (tied weights, a layer applied twice),
  ``Route.SHARED``;
- the *rest*: parameters the hooks cannot account for, ``Route.MODEL`` (torch.func on the model).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum

from torch import nn

from richlazy.nn import _names, _routes
from richlazy.nn.geometry import BATCH_NORM_TYPES, NORM_TYPES


class Route(StrEnum):
    """How one parameter's share of the kernel is computed (docs/nn.md, "How the eNTK is
    computed"); the value is what ``ntk_routes`` reports."""

    GRAM = "gram"  # (x·x')(g·g') over positions or patches: no per-sample gradient
    PER_SAMPLE = "per-sample"  # each probe point's gradient, contracted in float64
    SHARED = "per-sample, shared"  # per-sample gradients summed over every use
    MODULE = "torch.func, module"  # vjp of the module alone, vmapped over the probe points
    MODEL = "torch.func, model"  # jacrev of the whole model, vmapped over the probe points


class Kind(Enum):
    """How the per-sample gradients of a module's own parameters are taken."""

    LINEAR = "linear"
    CONV = "conv"
    EMBEDDING = "embedding"
    BATCH_NORM = "batch norm"  # eval mode, running statistics: closed form
    PRELU = "prelu"  # closed form
    MODULE = "module"  # torch.func on the module alone (it acts on each point separately)
    MODEL = "model"  # not understood: its parameters go to the torch.func route of the model


# Layers whose weight takes the Gram or per-sample route of ``_routes``.
_FAST_KINDS = {nn.Linear: Kind.LINEAR, nn.Conv1d: Kind.CONV, nn.Conv2d: Kind.CONV,
               nn.Embedding: Kind.EMBEDDING}  # fmt: skip
# Normalisation layers that act on each probe point separately in eval mode (SyncBatchNorm
# needs a process group in some torch versions even there: the model route takes it).
_PER_POINT_NORMS = tuple(t for t in NORM_TYPES if t is not nn.SyncBatchNorm)
_BATCH_NORMS = tuple(t for t in BATCH_NORM_TYPES if t is not nn.SyncBatchNorm)


def _plain(kind: type, base: type) -> bool:
    """``kind`` is ``base`` or a subclass that keeps its forward."""
    return kind is base or (
        issubclass(kind, base)
        and kind.forward is base.forward
        and getattr(kind, "_conv_forward", None) is getattr(base, "_conv_forward", None)
    )


def kind_of(module: nn.Module) -> Kind:
    """The ``Kind`` of a module holding parameters."""
    kind = type(module)
    for base in _FAST_KINDS:
        if _plain(kind, base):
            if isinstance(module, nn.Conv1d | nn.Conv2d) and module.padding_mode != "zeros":
                return Kind.MODULE
            if isinstance(module, nn.Embedding) and (
                module.max_norm is not None or module.scale_grad_by_freq or module.sparse
            ):
                return Kind.MODEL
            return _FAST_KINDS[base]
    plain_batch_norm = any(_plain(kind, base) for base in _BATCH_NORMS)
    if plain_batch_norm and module.running_mean is not None:
        return Kind.BATCH_NORM
    if _plain(kind, nn.PReLU):
        return Kind.PRELU
    if isinstance(module, _PER_POINT_NORMS):
        return Kind.MODULE
    return Kind.MODEL


@dataclass
class Unit:
    """A module called once whose parameters nothing else uses."""

    module: nn.Module
    kind: Kind
    attrs: dict[str, str]  # attribute -> parameter name
    weight: Route | None  # GRAM or PER_SAMPLE for a Linear/conv/Embedding weight, else None
    geometry: dict | None  # a convolution's geometry (``_routes.conv_geometry``)

    def routes(self) -> dict[str, Route]:
        per = Route.MODULE if self.kind is Kind.MODULE else Route.PER_SAMPLE
        return {n: (self.weight if a == "weight" and self.weight else per)
                for a, n in self.attrs.items()}  # fmt: skip


@dataclass
class Plan:
    """Units, shared parameters and the rest, with the route and group of every parameter."""

    units: dict[str, Unit]  # module name -> unit
    shared: dict[tuple[str, ...], list[str]]  # the modules using them -> parameter names
    rest: list[str]
    routes: dict[str, Route]  # parameter name -> route
    group_of: dict[str, int]  # parameter name -> index of its group of parameters

    def split(self, names) -> list[tuple[int, list[str]]]:
        """``names`` by group: ``[(group, names in their order)]``, groups in index order."""
        found: dict[int, list[str]] = {}
        for n in names:
            found.setdefault(self.group_of[n], []).append(n)
        return sorted(found.items())


def attr_of(entry: _names.Entry, owner: str) -> str:
    """The parameter's attribute name inside module ``owner``."""
    for alias in entry.aliases:
        if not owner:
            if "." not in alias:
                return alias
        elif alias.startswith(owner + ".") and "." not in alias[len(owner) + 1 :]:
            return alias[len(owner) + 1 :]
    raise AssertionError(f"{entry.name} is not held by {owner!r}")  # pragma: no cover


def weight_route(module, kind: Kind, x_shape, g_shape, dtype, Bb: int, *, full, same):
    """(GRAM or PER_SAMPLE, conv geometry) of a Linear/conv/Embedding weight, by cost."""
    Ba, R = x_shape[0], g_shape[1]
    if kind is Kind.EMBEDDING:
        return Route.GRAM, None
    if kind is Kind.LINEAR:
        gram, per = _routes.linear_costs(x_shape, g_shape, Ba, Bb, full, same)
        return (Route.GRAM if gram < per else Route.PER_SAMPLE), None
    geometry = _routes.conv_geometry(module, x_shape)
    gram, per = _routes.conv_costs(geometry, x_shape[1], g_shape[2], R, Ba, Bb, full, same,
                                   low_precision=dtype != _routes.F64)  # fmt: skip
    return (Route.GRAM if gram < per else Route.PER_SAMPLE), geometry


def make(A, B, entries, rates, *, Ba: int, Bb: int, R: int, full: bool, same: bool,
         group_of: dict[str, int] | None = None) -> Plan:  # fmt: skip
    """The plan of a block between the captures ``A`` (Ba points) and ``B`` (Bb points).

    Args:
        A, B: ``_capture.Capture`` of the two sides (the same object for one capture).
        entries, rates: the trained parameters and their rates.
        R: the output rows contracted at once (1 when units stream, one row per pass).
        group_of: parameter name -> group index (None: one group).
    """
    by_name = {e.name: e for e in entries}
    rest = set(A.leftover) | set(B.leftover)
    for name in rates:
        owners = [w for w in by_name[name].owners if w in A.calls or w in B.calls]
        if any(w not in A.calls or w not in B.calls for w in owners):
            rest.add(name)  # the two blocks saw different uses: take the exact route
    shared: dict[tuple[str, ...], list[str]] = {}
    for name in rates:
        users = tuple(w for w in by_name[name].owners if w in A.calls)
        if name not in rest and users:
            shared.setdefault(users, []).append(name)
    units: dict[str, Unit] = {}
    for users, names in list(shared.items()):
        w = users[0]
        call = A.calls[w][0]
        kind = kind_of(call.module)
        once = all(len(c.calls[w]) == 1 and len(c.calls[w][0].outputs) == 1 for c in (A, B))
        if len(users) == 1 and once and kind is not Kind.MODEL:
            attrs = {attr_of(by_name[n], w): n for n in names}
            weight, geometry = None, None
            if kind in (Kind.LINEAR, Kind.CONV, Kind.EMBEDDING) and "weight" in attrs:
                x_shape = (Ba, *call.args[0].shape[1:])
                g_shape = (Ba, R, *call.outputs[0][0][1:])
                dtype = call.args[0].dtype
                weight, geometry = weight_route(call.module, kind, x_shape, g_shape, dtype, Bb,
                                                full=full, same=same)  # fmt: skip
            units[w] = Unit(call.module, kind, attrs, weight, geometry)
            del shared[users]
    rest_list = sorted(rest, key=list(rates).index)
    routes: dict[str, Route] = {}
    for unit in units.values():
        routes.update(unit.routes())
    for names in shared.values():
        routes.update(dict.fromkeys(names, Route.SHARED))
    routes.update(dict.fromkeys(rest_list, Route.MODEL))
    group_of = group_of if group_of is not None else dict.fromkeys(rates, 0)
    return Plan(units, shared, rest_list, routes, group_of)
