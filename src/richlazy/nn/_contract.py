"""Assemble blocks Θ(x_a, x_b) of the empirical NTK from captures (docs/theory.md §6.2).

Every parameter is contracted exactly once, by one of:

- a *unit*: a module called once whose parameters nothing else uses. Its weight takes the Gram
  or per-sample route of ``_routes`` (Linear, Conv1d/2d, Embedding), its other parameters
  per-sample gradients (closed form for BatchNorm in eval mode, torch.func on the module for the
  other normalisation layers). Units can be contracted while the backward pass runs
  (``streaming``), so their activations are freed as it goes.
- a *group*: parameters used by several modules or calls (tied weights, a layer applied twice):
  per-sample gradients summed over every use, then contracted.
- the *rest*: torch.func ``vmap(jacrev)`` on the whole model, for what the hooks cannot see.

Temporaries stay under ``budget`` bytes by tiling the probe points; when the two sides are the
same points only the tiles on and above the diagonal are computed.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from richlazy.nn import _capture, _functional, _names, _routes
from richlazy.nn._routes import F64

_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def attr_of(entry: _names.Entry, owner: str) -> str:
    """The parameter's attribute name inside module ``owner``."""
    for alias in entry.aliases:
        if not owner:
            if "." not in alias:
                return alias
        elif alias.startswith(owner + ".") and "." not in alias[len(owner) + 1 :]:
            return alias[len(owner) + 1 :]
    raise AssertionError(f"{entry.name} is not held by {owner!r}")  # pragma: no cover


class Block:
    """A float64 kernel block (Ba, Bb), or (Ba, R, Bb, R) for the "full" kernel."""

    def __init__(self, Ba: int, Bb: int, R: int, full: bool, same: bool, device) -> None:
        self.K = torch.zeros((Ba, R, Bb, R) if full else (Ba, Bb), dtype=F64, device=device)
        self.full, self.same, self.R = full, same, R

    def add(self, ra: slice, rb: slice, value: torch.Tensor) -> None:
        if self.full:
            self.K[ra, :, rb] += value
            if self.same and ra != rb:
                self.K[rb, :, ra] += value.permute(2, 3, 0, 1)
        else:
            self.K[ra, rb] += value
            if self.same and ra != rb:
                self.K[rb, ra] += value.T

    def pairs(self, Ba: int, Bb: int, size_a: int, size_b: int):
        """Tile pairs to compute: all of them, or those on and above the diagonal."""
        for ra in _routes.tiles(Ba, size_a):
            for rb in _routes.tiles(Bb, size_a if self.same else size_b):
                if not self.same or rb.start >= ra.start:
                    yield ra, rb


def _product(Ga: torch.Tensor, Gb: torch.Tensor, full: bool) -> torch.Tensor:
    """Σ_features of per-sample gradients (b, R, P) in float64: (ta, tb) or (ta, R, tb, R).

    Gradients in a lower precision are copied to float64 a slab of columns at a time into one
    reused 32 MiB buffer, so no float64 copy of the whole matrix is ever made (slabs this wide
    keep the number of operations, each a parallel region, low).
    """
    ta, tb, R = Ga.shape[0], Gb.shape[0], Ga.shape[1]
    left = Ga.reshape(ta * R, -1) if full else Ga.reshape(ta, -1)  # (rows, features)
    right = Gb.reshape(tb * R, -1) if full else Gb.reshape(tb, -1)
    if left.dtype == F64 and right.dtype == F64:
        out = left @ right.T
    else:
        rows, features = left.shape[0] + right.shape[0], left.shape[1]
        width = min(features, max(256, (1 << 22) // rows))  # ≤ 32 MiB of float64 per slab
        buffer = torch.empty(rows, width, dtype=F64, device=left.device)
        out = torch.zeros(left.shape[0], right.shape[0], dtype=F64, device=left.device)
        same = left.data_ptr() == right.data_ptr() and left.shape == right.shape
        half = left.shape[0] // 2 if same and left.shape[0] >= 64 else 0
        for start in range(0, features, width):
            stop = min(start + width, features)
            a = buffer[: left.shape[0], : stop - start]
            a.copy_(left[:, start:stop])
            if half:  # symmetric: three of the four blocks (measured 10% faster)
                top, bottom = a[:half], a[half:]
                out[:half, :half].addmm_(top, top.T)
                out[:half, half:].addmm_(top, bottom.T)
                out[half:, half:].addmm_(bottom, bottom.T)
                continue
            b = a if same else buffer[left.shape[0] :, : stop - start]
            if not same:
                b.copy_(right[:, start:stop])
            out.addmm_(a, b.T)
        if half:
            out[half:, :half] = out[:half, half:].T
    return out.view(ta, R, tb, R) if full else out


def per_sample(
    block: Block,
    build_a: Callable[[slice], dict],
    build_b: Callable[[slice], dict],
    Ba: int,
    Bb: int,
    row_bytes: int,
    rates: dict[str, float],
    budget: int,
) -> None:
    """K += Σ_p η_p G_p(a) G_p(b)ᵀ from per-sample gradients ``build(rows) -> {p: (b, R, P)}``."""
    size = max(1, budget // (2 * max(row_bytes, 1)))
    if size >= max(Ba, Bb):  # build each side once: one product per parameter
        Ga = build_a(slice(0, Ba))
        Gb = Ga if block.same else build_b(slice(0, Bb))
        whole = slice(0, Ba)
        block.add(whole, whole if block.same else slice(0, Bb),
                  sum(rates[n] * _product(Ga[n], Gb[n], block.full) for n in Ga))  # fmt: skip
        return
    cache: tuple[slice, dict] | None = None
    for ra, rb in block.pairs(Ba, Bb, size, size):
        if cache is None or cache[0] != ra:
            cache = (ra, build_a(ra))
        Ga = cache[1]
        Gb = Ga if block.same and ra == rb else build_b(rb)
        block.add(ra, rb, sum(rates[n] * _product(Ga[n], Gb[n], block.full) for n in Ga))


def module_grads(module: nn.Module, attrs: dict[str, str], x, g) -> dict[str, torch.Tensor]:
    """Per-sample gradients ``{name: (b, R, numel)}`` of one call from its input and ∂f/∂y."""
    if _capture.route_of(module) == "fast":
        want = ("weight" in attrs, "bias" in attrs)
        if isinstance(module, nn.Linear):
            weight, bias = _routes.linear_per_sample(x, g, *want)
        elif isinstance(module, nn.Embedding):
            weight, bias = _routes.embedding_per_sample(module, x, g), None
        else:
            geometry = _routes.conv_geometry(module, tuple(x.shape))
            weight, bias = _routes.conv_per_sample(module, x, g, geometry, *want)
        found = {"weight": weight, "bias": bias}
        return {n: found[a] for a, n in attrs.items()}
    if isinstance(module, _BATCH_NORMS) and module.running_mean is not None:
        return {n: v for a, n in attrs.items() for v in [_routes.batch_norm_per_sample(
            module, x, g, a)]}  # fmt: skip
    params = {a: p.detach() for a, p in module.named_parameters(recurse=False) if a in attrs}
    grads = _functional.module_per_sample(module, x, g, params)
    return {attrs[a]: v for a, v in grads.items()}


def unit(block: Block, module, attrs, xa, ga, xb, gb, rates, budget) -> None:
    """Contract every parameter of a module called once (weight by its cheaper route)."""
    rest = dict(attrs)
    if (
        _capture.route_of(module) == "fast"
        and "weight" in attrs
        and _gram_weight(block, module, xa, ga, xb, gb, rates[attrs["weight"]], budget)
    ):
        del rest["weight"]
    if not rest:
        return
    R = ga.shape[1]
    numel = sum(p.numel() for a, p in module.named_parameters(recurse=False) if a in rest)
    row_bytes = 3 * 8 * R * numel

    def build(x, g):
        return lambda rows: module_grads(module, rest, x[rows], g[rows])

    per_sample(block, build(xa, ga), build(xb, gb), xa.shape[0], xb.shape[0], row_bytes,
               rates, budget)  # fmt: skip


def weight_route(module, x_shape, g_shape, dtype, Bb, *, full, same):
    """("gram" or "per-sample", kind, conv geometry) for a fast layer's weight."""
    Ba, R = x_shape[0], g_shape[1]
    if isinstance(module, nn.Embedding):
        return "gram", "embedding", None
    if isinstance(module, nn.Linear):
        gram, per = _routes.linear_costs(x_shape, g_shape, Ba, Bb, full, same)
        return ("gram" if gram < per else "per-sample"), "linear", None
    geometry = _routes.conv_geometry(module, x_shape)
    gram, per = _routes.conv_costs(geometry, x_shape[1], g_shape[2], R, Ba, Bb, full, same,
                                   low_precision=dtype != F64)  # fmt: skip
    return ("gram" if gram < per else "per-sample"), "conv", geometry


def _gram_weight(block, module, xa, ga, xb, gb, rate, budget) -> bool:
    """Contract a fast layer's weight by the Gram route if cheaper; whether it did."""
    Ba, Bb, full, R = xa.shape[0], xb.shape[0], block.full, ga.shape[1]
    route, kind, geometry = weight_route(module, tuple(xa.shape), tuple(ga.shape), xa.dtype, Bb,
                                         full=full, same=block.same)  # fmt: skip
    if route != "gram":
        return False
    S = max(1, int(torch.Size(ga.shape[2:-1]).numel()))
    if geometry is not None:
        S = geometry["out"][0] * geometry["out"][1]
    pair = _routes.gram_pair_bytes(kind, geometry, S, R, ga.shape[-1], full)
    size = max(1, math.isqrt(max(1, budget // (2 * pair))))
    for ra, rb in block.pairs(Ba, Bb, size, size):
        # on the diagonal of a symmetric kernel the b side is the a side (None)
        diagonal = block.same and ra == rb
        xb_, gb_ = (None, None) if diagonal else (xb[rb], gb[rb])
        if kind == "linear":
            value = _routes.linear_gram(xa[ra], ga[ra], xb_, gb_, full)
        elif kind == "embedding":
            value = _routes.embedding_gram(module, xa[ra], ga[ra], xb_, gb_, full)
        else:
            value = _routes.conv_gram(xa[ra], ga[ra], xb_, gb_, geometry, full)
        block.add(ra, rb, rate * value)
    return True


def plan(A: _capture.Capture, B: _capture.Capture, entries, rates):
    """Split the parameters into units, groups and the rest, consistently for both captures.

    Returns:
        ``units`` {module name: {attr: param name}}, ``groups`` {(module names): [names]} and
        ``rest`` [names].
    """
    by_name = {e.name: e for e in entries}
    rest = set(A.leftover) | set(B.leftover)
    for name in rates:
        owners = [w for w in by_name[name].owners if w in A.calls or w in B.calls]
        if any(w not in A.calls or w not in B.calls for w in owners):
            rest.add(name)  # the two blocks saw different uses: take the exact route
    groups: dict[tuple[str, ...], list[str]] = {}
    for name in rates:
        users = tuple(w for w in by_name[name].owners if w in A.calls)
        if name not in rest and users:
            groups.setdefault(users, []).append(name)
    units = {}
    for users, names in list(groups.items()):
        w = users[0]
        module = A.calls[w][0].module
        once = all(len(c.calls[w]) == 1 and len(c.calls[w][0].outputs) == 1 for c in (A, B))
        if len(users) == 1 and once and _capture.route_of(module) != "model":
            units[w] = {attr_of(by_name[n], w): n for n in names}
            del groups[users]
    return units, groups, sorted(rest, key=list(rates).index)


def streaming(block: Block, ra, rb, units: dict, calls: dict, rates, budget, *, passes: int):
    """A ``Capture.backward`` handler contracting units as soon as their ∂f/∂y arrives.

    A unit's recorded input is released after its last pass, so activations are freed as the
    backward pass goes ("sum" and "trace" only: each pass adds its own term).
    """
    wanted = {id(calls[w][0]): (calls[w][0].module, attrs) for w, attrs in units.items()}

    def on_grad(call, output, r, grad) -> bool:
        found = wanted.get(id(call))
        if found is None:
            return False
        module, attrs = found
        x, g = call.args[0], grad.unsqueeze(1)  # (B, ...), (B, 1, *out): one output row
        unit(block, module, attrs, x[ra], g[ra], x[rb], g[rb], rates, budget)
        if r == passes - 1:
            call.args, call.kwargs = (), {}
        return True

    return on_grad


def contract(
    model: nn.Module,
    A: _capture.Capture,
    B: _capture.Capture,
    entries: list[_names.Entry],
    rates: dict[str, float],
    block: Block,
    *,
    ra: slice = slice(None),
    rb: slice = slice(None),
    units: dict | None = None,
    budget: int,
) -> None:
    """Add to ``block`` what the backward pass has not contracted already.

    Args:
        ra, rb: the rows of A and B this block is between (for a capture of x1 and x2 joined).
        units: the units to contract here (None: all of ``plan``'s; {} when they streamed).
    """
    planned_units, groups, rest = plan(A, B, entries, rates)
    units = planned_units if units is None else units
    by_name = {e.name: e for e in entries}
    R = A.passes
    for w, attrs in units.items():
        ca, cb = A.calls[w][0], B.calls[w][0]
        unit(block, ca.module, attrs, ca.args[0][ra], ca.grad(0, R, ra), cb.args[0][rb],
             cb.grad(0, R, rb), rates, budget)  # fmt: skip
    for users, names in groups.items():

        def build(capture, rows_of, users=users, names=names):
            def rows_fn(rows):
                total: dict[str, torch.Tensor] = {}
                for user in users:
                    attrs = {attr_of(by_name[n], user): n for n in names}
                    for call in capture.calls[user]:
                        sel = _sub(rows_of, rows)
                        grads = module_grads(call.module, attrs, call.args[0][sel],
                                             call.grad(0, R, sel))  # fmt: skip
                        for n, g in grads.items():
                            total[n] = g.to(F64) if n not in total else total[n] + g
                return total

            return rows_fn

        row_bytes = 3 * 8 * R * sum(by_name[n].param.numel() for n in names)
        Ba, Bb = block.K.shape[0], block.K.shape[2 if block.full else 1]
        per_sample(block, build(A, ra), build(B, rb), Ba, Bb, row_bytes, rates, budget)
    if rest:

        def jac(capture, rows_of):
            params = {n: capture.params[n] for n in rest}
            return lambda rows: _functional.model_jacobian(
                model, capture.x[_sub(rows_of, rows)], params, capture.raw, summed=R == 1
            )

        row_bytes = 4 * 8 * R * sum(by_name[n].param.numel() for n in rest)
        Ba, Bb = block.K.shape[0], block.K.shape[2 if block.full else 1]
        per_sample(block, jac(A, ra), jac(B, rb), Ba, Bb, row_bytes, rates, budget)


def _sub(outer: slice, inner: slice) -> slice:
    """``inner`` (relative to the rows ``outer`` selects) as absolute rows."""
    start = outer.start or 0
    return slice(start + inner.start, start + inner.stop)
