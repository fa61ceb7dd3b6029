"""Parameter names of any module: wrapper prefixes removed, tied parameters, patterns, rates.

A model wrapped by ``DataParallel``, ``DistributedDataParallel`` or ``torch.compile`` names its
parameters ``module.…`` or ``_orig_mod.…``; every name in ``richlazy.nn`` is a name in the
unwrapped model (``_checks.unwrap``; ``_orig_mod`` segments of compiled submodules dropped), so
that a geometry saved from one form applies to the other. A user's key with a wrapper prefix is
read as given first, and without the prefix only if it names nothing as given: a submodule the
user named ``module`` stays a name, not a wrapper.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from richlazy.nn import _checks

WRAPPER_PREFIXES = ("module.", "_orig_mod.")
WRAPPER_SEGMENT = "_orig_mod"  # torch.compile also wraps submodules: drop it anywhere


def canonical(name: str) -> str:
    """A name in an unwrapped model without the ``_orig_mod`` segments of compiled submodules."""
    return ".".join(part for part in name.split(".") if part != WRAPPER_SEGMENT)


def _without_wrappers(key: str) -> str:
    """``key`` without leading ``module.`` / ``_orig_mod.`` prefixes."""
    stripped = True
    while stripped:
        stripped = False
        for prefix in WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key = key.removeprefix(prefix)
                stripped = True
    return key


@dataclass(frozen=True)
class Entry:
    """One parameter tensor: its canonical name, every name it has, and its owning modules."""

    name: str
    param: nn.Parameter
    aliases: tuple[str, ...]
    owners: tuple[str, ...]  # canonical names of the modules holding it directly
    raw: str  # its name in ``model.named_parameters()``, wrapper prefixes included


def parameters(model: nn.Module) -> list[Entry]:
    """Every distinct parameter of ``model`` in registration order, tied ones listed once."""
    model = _checks.unwrap(model)
    found: dict[int, tuple[str, nn.Parameter, list[str], list[str], str]] = {}
    for module_name, module in model.named_modules(remove_duplicate=False):
        for attr, param in module.named_parameters(recurse=False):
            raw = f"{module_name}.{attr}" if module_name else attr
            full = canonical(raw)
            owner = canonical(module_name)
            if id(param) not in found:
                found[id(param)] = (full, param, [], [], raw)
            _, _, aliases, owners, _ = found[id(param)]
            if full not in aliases:
                aliases.append(full)
            if owner not in owners:
                owners.append(owner)
    return [
        Entry(name, param, tuple(aliases), tuple(owners), raw)
        for name, param, aliases, owners, raw in found.values()
    ]


def match(key: str, entries: list[Entry]) -> list[Entry]:
    """Entries named by ``key``: a parameter name, a module name (its parameters) or a glob;
    a key naming nothing as given is tried without its wrapper prefixes."""
    chosen = _match(canonical(key), entries)
    bare = canonical(_without_wrappers(key))
    return chosen if chosen or bare == canonical(key) else _match(bare, entries)


def _match(key: str, entries: list[Entry]) -> list[Entry]:
    glob = any(c in key for c in "*?[")
    chosen = []
    for entry in entries:
        for alias in entry.aliases:
            if (
                alias == key
                or alias.startswith(key + ".")
                or (glob and fnmatch.fnmatchcase(alias, key))
            ):
                chosen.append(entry)
                break
    return chosen


def no_match_message(argument: str, key: str, entries: list[Entry]) -> str:
    listing = ", ".join(e.name for e in entries[:12]) + (", …" if len(entries) > 12 else "")
    return (
        f"{argument} key {key!r} matches no parameter of the model; keys are parameter names, "
        f"module names or globs (fnmatch) over parameter names such as: {listing}"
    )


def assign(argument: str, mapping: dict[str, float], entries: list[Entry]) -> dict[str, float]:
    """``{canonical parameter name: factor}`` from ``{key: factor}``; each parameter one key."""
    result: dict[str, float] = {}
    source: dict[str, str] = {}
    for key, factor in mapping.items():
        chosen = match(key, entries)
        if not chosen:
            raise ValueError(no_match_message(argument, key, entries))
        for entry in chosen:
            if entry.name in result:
                raise ValueError(
                    f"{argument}: parameter {entry.name!r} is matched by both "
                    f"{source[entry.name]!r} and {key!r}; give each parameter one factor"
                )
            result[entry.name], source[entry.name] = factor, key
    return result


def rates(model: nn.Module, lr_weights: object, *, argument: str = "lr_weights") -> list[tuple]:
    """``[(entry, rate)]`` for every trainable parameter with a rate > 0.

    ``lr_weights`` is None (every rate 1), a ``torch.optim.Optimizer`` (each parameter's group
    ``lr``; parameters it does not hold are not trained, rate 0), an ``InitGeometry`` (its
    ``lr_scales``) or a mapping ``{name or glob: rate}`` (unlisted parameters keep rate 1).
    Parameters with ``requires_grad=False`` are not trained either.
    """
    entries = [e for e in parameters(model) if e.param.requires_grad]
    if lr_weights is None:
        table = {e.name: 1.0 for e in entries}
    elif isinstance(lr_weights, torch.optim.Optimizer):
        by_id = {}
        for group in lr_weights.param_groups:
            lr = _checks.real(f"{argument} (an optimizer) group lr", group["lr"], allow_zero=True)
            for param in group["params"]:
                by_id[id(param)] = lr
        table = {e.name: by_id.get(id(e.param), 0.0) for e in entries}
    elif hasattr(lr_weights, "lr_scales") and hasattr(lr_weights, "param_groups"):
        scales = lr_weights.lr_scales
        unknown = [e.name for e in entries if e.name not in scales]
        if unknown:
            raise ValueError(
                f"{argument} is an InitGeometry of another model: it has no rate for {unknown[:5]}"
            )
        table = {e.name: float(scales[e.name]) for e in entries}
    elif isinstance(lr_weights, Mapping):
        table = {e.name: 1.0 for e in entries}
        table.update(assign(argument, _checks.factors(argument, lr_weights), entries))
    else:
        raise TypeError(
            f"{argument} must be None, a torch.optim.Optimizer, an InitGeometry or a mapping "
            f"{{name: rate}}; got {type(lr_weights).__name__}"
        )
    return [(e, table[e.name]) for e in entries if table[e.name] > 0]
