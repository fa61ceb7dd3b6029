"""Initialization geometry of any ``torch.nn.Module``: the α knob and per-layer rates.

docs/theory.md §6.1: α divides the first layer's initialization (α > 1 upstream, α < 1
downstream, α = 1 the standard parameterization) and, with ``rescale_last``, multiplies the last
layer's weight, which leaves a bias-free positively homogeneous network's function unchanged
while moving the layers' relative learning speeds by α². Per-layer learning rates are the second
knob; both enter the conserved quantities.

Which model was already unbalanced is remembered in a registry keyed by the parameter tensors
themselves (``torch.utils.weak.WeakIdKeyDictionary``: no attribute is set on any tensor, nothing is
patched, and an entry disappears with its tensor). Keying by tensors, not by the module, also
recognises the same model behind a ``torch.compile`` or DDP wrapper.
"""

from __future__ import annotations

import json
import math
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.utils.weak import WeakIdKeyDictionary

from richlazy.nn import _checks, _names

__all__ = ["LAYER_TYPES", "InitGeometry", "unbalance"]

# Modules that count as "layers" when α finds the first and the last one.
LAYER_TYPES: tuple[type[nn.Module], ...] = (
    nn.Linear,
    nn.Bilinear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.Embedding,
    nn.EmbeddingBag,
)
# Batch normalisation: in eval mode, an affine map per channel from running statistics.
BATCH_NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.SyncBatchNorm,
)
# Normalisation layers hold parameters but are never "the first layer" (docs/theory.md §6.1);
# the one list of them in the package.
NORM_TYPES: tuple[type[nn.Module], ...] = BATCH_NORM_TYPES + tuple(
    t
    for t in (
        nn.LayerNorm,
        nn.GroupNorm,
        nn.InstanceNorm1d,
        nn.InstanceNorm2d,
        nn.InstanceNorm3d,
        getattr(nn, "RMSNorm", None),
    )
    if t is not None
)

_APPLIED: WeakIdKeyDictionary = WeakIdKeyDictionary()  # parameter tensor -> its InitGeometry


@dataclass(frozen=True, eq=True)
class InitGeometry:
    """What ``unbalance`` did to a model: one init factor and one rate factor per parameter.

    Attributes:
        scales: ``{parameter name: factor}`` the initial values were multiplied by (1 if left).
        lr_scales: ``{parameter name: factor}`` of the base learning rate (1 if not given).
        alpha: the α of the call, or None.
        rescale_last: whether α also multiplied the last layer.
        first, last: names of the layers α acted on (None without α; ``last`` None without
            ``rescale_last``).

    Names have no ``module.`` / ``_orig_mod.`` wrapper prefixes. ``to_dict``/``to_json`` and
    ``from_dict``/``from_json`` round-trip everything but the model, which a loaded geometry
    is given back through ``param_groups(..., model=)``.
    """

    scales: Mapping[str, float]
    lr_scales: Mapping[str, float]
    alpha: float | None = None
    rescale_last: bool = True
    first: str | None = None
    last: str | None = None
    model: Any = field(default=None, compare=False, repr=False)  # weakref.ref or None

    def __post_init__(self) -> None:
        object.__setattr__(self, "scales", MappingProxyType(dict(self.scales)))
        object.__setattr__(self, "lr_scales", MappingProxyType(dict(self.lr_scales)))
        if set(self.scales) != set(self.lr_scales):
            raise ValueError("scales and lr_scales must name the same parameters")

    __hash__ = None  # type: ignore[assignment]  # holds mappings

    def to_dict(self) -> dict:
        """A plain, JSON-serialisable dict of the geometry."""
        return {
            "alpha": self.alpha,
            "rescale_last": self.rescale_last,
            "first": self.first,
            "last": self.last,
            "scales": dict(self.scales),
            "lr_scales": dict(self.lr_scales),
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> InitGeometry:
        """The geometry ``to_dict`` wrote (not bound to any model), each field checked."""
        keys = ("alpha", "rescale_last", "first", "last", "scales", "lr_scales")
        if not isinstance(data, Mapping) or not {"scales", "lr_scales"} <= set(data):
            raise ValueError("data must be a mapping written by InitGeometry.to_dict")
        unknown = sorted(str(k) for k in set(data) - set(keys))
        if unknown:
            raise ValueError(f"data has unknown fields {unknown}; InitGeometry has {list(keys)}")
        fields = dict(data)
        fields["scales"] = _checks.factors("data['scales']", data["scales"])
        fields["lr_scales"] = _checks.factors("data['lr_scales']", data["lr_scales"])
        if fields.get("alpha") is not None:
            fields["alpha"] = _checks.real("data['alpha']", fields["alpha"])
        if not isinstance(fields.get("rescale_last", True), bool):
            raise TypeError(f"data['rescale_last'] must be a bool, got {fields['rescale_last']!r}")
        for key in ("first", "last"):
            if not isinstance(fields.get(key), str | None):
                raise TypeError(f"data[{key!r}] must be a module name or None, got {fields[key]!r}")
        if set(fields["scales"]) != set(fields["lr_scales"]):
            raise ValueError("data['scales'] and data['lr_scales'] must name the same parameters")
        return cls(**fields)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> InitGeometry:
        """The geometry ``to_json`` wrote, checked as ``from_dict`` checks it."""
        if not isinstance(text, str | bytes | bytearray):
            raise TypeError(
                f"text must be the JSON string to_json wrote, got {type(text).__name__}"
            )
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"text is not JSON written by InitGeometry.to_json: {error}") from None
        return cls.from_dict(data)

    def param_groups(self, lr: float, *, model: nn.Module | None = None, **defaults) -> list[dict]:
        """Parameter groups with rate ``lr × lr_scale``, for any ``torch.optim`` optimizer.

        Args:
            lr: the base learning rate (≥ 0).
            model: the model to take the tensors from; default the model this geometry was made
                from (required for a geometry loaded with ``from_dict``/``from_json``).
            **defaults: other options of every group (``momentum=0.9``, ``weight_decay=…``).

        Returns:
            ``[{"params": [...], "lr": lr × s, **defaults}]``, one group per distinct scale s, in
            the order the model registers its parameters.

        Raises:
            ValueError: no model is known, or the model's parameters are not those of the
                geometry.
            TypeError: ``defaults`` sets ``params`` or ``lr``.
        """
        lr = _checks.real("lr", lr, allow_zero=True)
        if {"params", "lr"} & set(defaults):
            raise TypeError("param_groups sets 'params' and 'lr' itself; pass lr as its argument")
        if model is None:
            model = self.model() if self.model is not None else None
            if model is None:
                raise ValueError(
                    "this geometry is not bound to a live model (it was loaded or its model was "
                    "deleted): pass model="
                )
        entries = _names.parameters(_checks.module("model", model))
        names = [e.name for e in entries]
        if set(names) != set(self.lr_scales):
            missing = sorted(set(names) ^ set(self.lr_scales))[:5]
            raise ValueError(f"model's parameters differ from the geometry's: {missing}")
        groups: dict[float, dict] = {}
        for entry in entries:
            scale = self.lr_scales[entry.name]
            if scale not in groups:
                groups[scale] = {"params": [], "lr": lr * scale, **defaults}
            groups[scale]["params"].append(entry.param)
        return list(groups.values())


def _refuse_normalized_first(model: nn.Module, first: str) -> None:
    """Refuse α on both ends when a normalization layer follows the first layer (§6.1).

    The layer after ``first`` is taken in registration order (``named_modules()``, the call
    order of a ``Sequential``) among the layers of ``LAYER_TYPES`` and ``NORM_TYPES``. The
    normalization undoes the first layer's ÷α, so the last layer's ×α would multiply the
    network's output by α; the rule for normalized networks is the first layer only.
    """
    chain = [
        (_names.canonical(name), m)
        for name, m in model.named_modules()
        if isinstance(m, NORM_TYPES)
        or (isinstance(m, LAYER_TYPES) and any(True for _ in m.parameters(recurse=False)))
    ]
    names = [name for name, _ in chain]
    if first not in names or names.index(first) + 1 >= len(chain):
        return
    name, after = chain[names.index(first) + 1]
    if isinstance(after, NORM_TYPES):
        raise ValueError(
            f"the first layer {first!r} is followed by {type(after).__name__} {name!r}, which "
            "undoes its ÷α: the last layer's ×α would multiply the output by α; pass "
            "rescale_last=False (normalized networks: the first layer only, docs/nn.md)"
        )


def _first_and_last(model: nn.Module, entries: list[_names.Entry]) -> tuple[str, str]:
    """Names of the first and last layers (registration order) of ``model``."""
    how = (
        "name them yourself with scales={'<first layer>': 1/alpha, '<last layer>': alpha} "
        "(module or parameter names, globs allowed) and leave alpha=None"
    )
    modules = dict(model.named_modules())
    layers = [
        _names.canonical(name)
        for name, m in modules.items()
        if isinstance(m, LAYER_TYPES) and any(True for _ in m.parameters(recurse=False))
    ]
    if not layers:
        raise ValueError(
            f"cannot identify the first and last layers of {type(model).__name__}: it has no "
            f"{', '.join(t.__name__ for t in LAYER_TYPES[:4])}, ... layer; {how}"
        )
    kinds = {_names.canonical(n): m for n, m in modules.items()}
    for end, layer, scan in (("first", layers[0], entries), ("last", layers[-1], entries[::-1])):
        for entry in scan:
            if layer in entry.owners:
                break
            owner = next((o for o in entry.owners if not isinstance(kinds.get(o), NORM_TYPES)),
                         None)  # fmt: skip
            if owner is not None:
                raise ValueError(
                    f"cannot tell which layer is {end}: parameters of {owner or 'the model'!r} "
                    f"({type(kinds.get(owner)).__name__}) are registered "
                    f"{'before' if end == 'first' else 'after'} those of layer {layer!r}; {how}"
                )
        if parametrize.is_parametrized(kinds[layer]):
            raise ValueError(
                f"the {end} layer {layer!r} is parametrized (e.g. weight_norm): scaling its "
                f"stored tensors may not scale its weight; {how}"
            )
    return layers[0], layers[-1]


def _held_by(entry: _names.Entry, modules) -> bool:
    """Whether one of ``modules`` (or a module inside one of them) holds the parameter."""
    return any(o == m or o.startswith(m + ".") for o in entry.owners for m in modules)


def _named_layers(model: nn.Module, end: str, names, alpha) -> tuple[str, ...]:
    """The module names given as ``first``/``last`` (canonical), checked to exist."""
    if names is None:
        return ()
    if alpha is None:
        raise ValueError(f"{end}= names the layers α acts on: give alpha too")
    names = (names,) if isinstance(names, str) else names
    if end == "last" and len(names) != 1:
        raise ValueError(f"last must name one module, got {names!r}")
    if (
        not isinstance(names, tuple | list)
        or not names
        or not all(isinstance(n, str) for n in names)
    ):
        raise TypeError(f"{end} must be a module name or a tuple of them, got {names!r}")
    modules = {_names.canonical(n): m for n, m in model.named_modules()}
    for name in names:
        if name not in modules or not any(True for _ in modules[name].parameters()):
            known = [
                n
                for n, m in modules.items()
                if n and any(True for _ in m.parameters(recurse=False))
            ]
            raise ValueError(
                f"{end}: {name!r} is no module with parameters of {type(model).__name__}; "
                f"its modules with parameters are {', '.join(known[:12])}"
            )
    return tuple(names)


def unbalance(
    model: nn.Module,
    alpha: float | None = None,
    *,
    scales: Mapping[str, float] | None = None,
    lr_scales: Mapping[str, float] | None = None,
    rescale_last: bool = True,
    first: str | tuple[str, ...] | None = None,
    last: str | None = None,
    force: bool = False,
) -> InitGeometry:
    """Rescale ``model``'s parameters in place to an unbalanced initialization (§6.1).

    With ``alpha``, every parameter of the first layer is divided by α and, with
    ``rescale_last``, the last layer's weight is multiplied by α (its bias is left). Layers
    are the modules of ``LAYER_TYPES`` in ``named_modules()`` order; check
    ``geometry.first`` / ``geometry.last``. For a bias-free positively homogeneous network
    this keeps the function at initialization; biases of the layers in between must be scaled
    by 1/α too (e.g. ``scales={"hidden.bias": 1/alpha}``) for a network with biases.

    Args:
        model: any module; its parameters are changed in place under ``torch.no_grad``.
        alpha: the paper's knob, finite and > 0 (α > 1 upstream, < 1 downstream), or None.
        scales: ``{parameter name, module name or glob: factor}``: further init factors; they
            multiply α's. Each parameter may be matched by one key only.
        lr_scales: the same for learning-rate factors (``param_groups``).
        rescale_last: multiply the last layer's weight by α.
        first: the module name(s) α divides, instead of the first layer found (e.g. a
            transformer's token and position embeddings, ``("embed", "pos")``).
        last: the module name whose weight α multiplies, instead of the last layer found.
        force: allow a second call on the same parameters; its factors then apply on top of
            the present values, and the returned geometry describes this call only.

    Returns:
        The ``InitGeometry`` of this call, bound to ``model`` for ``param_groups``.

    Raises:
        TypeError: ``model`` is not a module, or a factor is not a number.
        ValueError: α ≤ 0 or not finite; a key matching no parameter; first or last layer not
            identifiable (the message says how to name them); one layer only with
            ``rescale_last``; with ``rescale_last``, a normalization layer (``NORM_TYPES``)
            right after the first layer found (it would undo ÷α and leave the output ×α:
            pass ``rescale_last=False``); tied parameters given different factors; the model
            was already unbalanced and ``force`` is False. Nothing is changed when it raises.
    """
    model = _checks.module("model", model)
    if alpha is not None:
        alpha = _checks.real("alpha", alpha)
    init_keys = _checks.factors("scales", scales)
    lr_keys = _checks.factors("lr_scales", lr_scales)
    entries = _names.parameters(model)
    if not entries:
        raise ValueError(f"model {type(model).__name__} has no parameters to rescale")
    uninitialized = [e.name for e in entries if isinstance(e.param, nn.UninitializedParameter)]
    if uninitialized:
        raise ValueError(f"run a forward pass first: lazy parameters {uninitialized[:3]}")
    factor = {e.name: 1.0 for e in entries}
    firsts = _named_layers(model, "first", first, alpha)
    named_last = _named_layers(model, "last", last, alpha)
    first = last = None
    by_alpha: set[str] = set()  # the parameters α scales
    if alpha is not None:
        found_first, found_last = (
            _first_and_last(model, entries) if not (firsts and named_last) else (None, None)
        )
        if rescale_last and found_first is not None:
            _refuse_normalized_first(model, found_first)
        firsts = firsts or (found_first,)
        last = named_last[0] if named_last else found_last
        first = ", ".join(firsts)
        if rescale_last and last in firsts:
            raise ValueError(
                f"the first and the last layer are both {last!r} (one layer only?): α would "
                "cancel; pass rescale_last=False, name them with first=/last=, or use scales="
            )
        for entry in entries:
            if _held_by(entry, firsts):
                factor[entry.name] /= alpha
                by_alpha.add(entry.name)
            if rescale_last and f"{last}.weight" in entry.aliases:
                factor[entry.name] *= alpha
                by_alpha.add(entry.name)
        if not rescale_last:
            last = None
        elif not any(f"{last}.weight" in e.aliases for e in entries):
            raise ValueError(f"the last layer {last!r} has no 'weight'; use scales= instead")
    for name, value in _names.assign("scales", init_keys, entries).items():
        factor[name] *= value
    lr_factor = {e.name: 1.0 for e in entries}
    lr_factor.update(_names.assign("lr_scales", lr_keys, entries))
    for entry in entries:
        if not math.isfinite(factor[entry.name]) or factor[entry.name] <= 0:
            raise ValueError(f"the factor of {entry.name!r} is {factor[entry.name]}: not > 0")
        if alpha is not None:
            _check_ties(entry, firsts, last if rescale_last else None, first)
    by_scales = set(_names.assign("scales", init_keys, entries))
    new_values = {}
    for entry in entries:
        if factor[entry.name] != 1.0:
            cause = " and ".join(
                n for n, s in (("alpha", by_alpha), ("scales", by_scales)) if entry.name in s
            )
            new_values[entry.name] = _scaled(entry, factor[entry.name], cause or "alpha")
    earlier = [e.name for e in entries if e.param in _APPLIED]
    if earlier and not force:
        raise ValueError(
            f"model was already unbalanced (parameters {earlier[:3]} were rescaled by an "
            "earlier call); pass force=True to rescale them again on top"
        )
    geometry = InitGeometry(
        scales=factor,
        lr_scales=lr_factor,
        alpha=alpha,
        rescale_last=rescale_last,
        first=first,
        last=last,
        model=weakref.ref(model),
    )
    with torch.no_grad():  # every check passed: nothing below can fail half-way
        for entry in entries:
            if entry.name in new_values:
                entry.param.copy_(new_values[entry.name])
    for entry in entries:
        _APPLIED[entry.param] = geometry
    return geometry


def _check_ties(entry: _names.Entry, firsts: tuple[str, ...], last: str | None, first: str):
    """Refuse a parameter of a layer α scales that is tied to a layer α scales otherwise."""
    in_first = _held_by(entry, firsts)
    in_last = last is not None and f"{last}.weight" in entry.aliases
    if not (in_first or in_last):
        return
    if in_first and in_last:
        raise ValueError(
            f"parameter {entry.name!r} is tied between the first layer {first!r} and "
            f"the last {last!r}: α would cancel on it; use scales= or untie them"
        )
    inside = (
        (lambda o: any(o == m or o.startswith(m + ".") for m in firsts))
        if in_first
        else (lambda o: o == last)
    )
    others = [o for o in entry.owners if not inside(o)]
    if others:
        end, name = ("first", first) if in_first else ("last", last)
        raise ValueError(
            f"parameter {entry.name!r} of the {end} layer {name!r} is tied to the layer "
            f"{others[0]!r} in between: α would rescale that layer too; untie them, or name "
            "the factors yourself with scales= and leave alpha=None"
        )


def _scaled(entry: _names.Entry, factor: float, cause: str) -> torch.Tensor:
    """``entry``'s values times ``factor`` in its dtype, refused where they leave its range."""
    param = entry.param.detach()
    if not param.is_floating_point():
        raise TypeError(
            f"parameter {entry.name!r} is {param.dtype}: unbalance rescales floating parameters"
        )
    info = torch.finfo(param.dtype)
    new = param.clone().mul_(factor)  # the very product an in-place mul_ gives
    overflow = torch.isfinite(param) & ~torch.isfinite(new)
    underflow = (param != 0) & (new == 0)
    if not info.tiny <= factor <= info.max or bool(overflow.any()) or bool(underflow.any()):
        what = "overflow to inf" if bool(overflow.any()) or factor > 1 else "underflow to 0"
        raise ValueError(
            f"{cause} give parameter {entry.name!r} ({param.dtype}) the factor {factor:.3g}: "
            f"its values would {what}; factors must keep them within {param.dtype}'s range "
            f"[{info.tiny:.3g}, {info.max:.3g}] (a smaller |log alpha|, or a wider dtype)"
        )
    return new
