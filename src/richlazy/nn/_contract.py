"""Layer kernels of the empirical NTK: a plan's parameters contracted into blocks (§6.2).

Each parameter is contracted exactly once, by the route its ``_plan.Plan`` gives it:

- a *unit*'s weight by the Gram or per-sample route of ``_routes`` (Linear, Conv1d/2d,
  Embedding), its other parameters from per-sample gradients (closed form for BatchNorm in eval
  mode and PReLU, torch.func on the module for the other normalisation layers). Units can be
  contracted while the backward pass runs (``streaming``), so their activations are freed as it
  goes.
- *shared* parameters: per-sample gradients summed over every use, then contracted.
- the *rest*: torch.func ``vmap(jacrev)`` on the whole model, for what the hooks cannot see.

A ``Block`` holds one float64 kernel block per group of parameters (one group unless
``empirical_ntk`` was given ``groups``); every share is added to its own group's block, in the
same order as a kernel of that group alone. Temporaries stay under ``budget`` bytes by tiling
the probe points; when the two sides are the same points only the tiles on and above the
diagonal are computed.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from richlazy.nn import _capture, _functional, _names, _plan, _routes
from richlazy.nn._plan import Kind, Route
from richlazy.nn._routes import F64


class Block:
    """Float64 kernel blocks (Ba, Bb), or (Ba, R, Bb, R) for the "full" kernel, one per group."""

    def __init__(self, Ba: int, Bb: int, R: int, full: bool, same: bool, device,
                 groups: int = 1) -> None:  # fmt: skip
        shape = (Ba, R, Bb, R) if full else (Ba, Bb)
        self.Ks = [torch.zeros(shape, dtype=F64, device=device) for _ in range(groups)]
        self.full, self.same, self.R = full, same, R
        self.Ba, self.Bb = Ba, Bb

    @property
    def K(self) -> torch.Tensor:
        """The block of the only group."""
        (K,) = self.Ks
        return K

    def add(self, ra: slice, rb: slice, value: torch.Tensor, group: int = 0) -> None:
        K = self.Ks[group]
        if self.full:
            K[ra, :, rb] += value
            if self.same and ra != rb:
                K[rb, :, ra] += value.permute(2, 3, 0, 1)
        else:
            K[ra, rb] += value
            if self.same and ra != rb:
                K[rb, ra] += value.T

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
    plan: _plan.Plan,
) -> None:
    """K_g += Σ_{p in g} η_p G_p(a) G_p(b)ᵀ from ``build(rows) -> {p: (b, R, P)}``, per group g."""
    size = max(1, budget // (2 * max(row_bytes, 1)))

    def add(ra, rb, Ga, Gb):
        for group, names in plan.split(Ga):
            value = sum(rates[n] * _product(Ga[n], Gb[n], block.full) for n in names)
            block.add(ra, rb, value, group)

    if size >= max(Ba, Bb):  # build each side once: one product per parameter
        Ga = build_a(slice(0, Ba))
        Gb = Ga if block.same else build_b(slice(0, Bb))
        whole = slice(0, Ba)
        add(whole, whole if block.same else slice(0, Bb), Ga, Gb)
        return
    cache: tuple[slice, dict] | None = None
    for ra, rb in block.pairs(Ba, Bb, size, size):
        if cache is None or cache[0] != ra:
            cache = (ra, build_a(ra))
        Ga = cache[1]
        Gb = Ga if block.same and ra == rb else build_b(rb)
        add(ra, rb, Ga, Gb)


def module_grads(module: nn.Module, kind: Kind, attrs: dict[str, str], x, g) -> dict:
    """Per-sample gradients ``{name: (b, R, numel)}`` of one call from its input and ∂f/∂y."""
    if kind in (Kind.LINEAR, Kind.CONV, Kind.EMBEDDING):
        want = ("weight" in attrs, "bias" in attrs)
        if kind is Kind.LINEAR:
            weight, bias = _routes.linear_per_sample(x, g, *want)
        elif kind is Kind.EMBEDDING:
            weight, bias = _routes.embedding_per_sample(module, x, g), None
        else:
            geometry = _routes.conv_geometry(module, tuple(x.shape))
            weight, bias = _routes.conv_per_sample(module, x, g, geometry, *want)
        found = {"weight": weight, "bias": bias}
        return {n: found[a] for a, n in attrs.items()}
    if kind is Kind.BATCH_NORM:
        return {n: _routes.batch_norm_per_sample(module, x, g, a) for a, n in attrs.items()}
    if kind is Kind.PRELU:
        return {n: _routes.prelu_per_sample(module, x, g) for n in attrs.values()}
    params = {a: p.detach() for a, p in module.named_parameters(recurse=False) if a in attrs}
    grads = _functional.module_per_sample(module, x, g, params)
    return {attrs[a]: v for a, v in grads.items()}


def unit(block: Block, plan: _plan.Plan, name: str, xa, ga, xb, gb, rates, budget) -> None:
    """Contract every parameter of the unit ``name``, group by group, each group's weight by
    its route and then its other parameters from per-sample gradients."""
    u = plan.units[name]
    R = ga.shape[1]
    for group, names in plan.split(u.attrs.values()):
        rest = {a: n for a, n in u.attrs.items() if n in names}
        if u.weight is Route.GRAM and "weight" in rest:
            _gram_weight(block, u, xa, ga, xb, gb, rates[rest.pop("weight")], budget, group)
        if not rest:
            continue
        numel = sum(p.numel() for a, p in u.module.named_parameters(recurse=False) if a in rest)
        row_bytes = 3 * 8 * R * numel

        def build(x, g, rest=rest):
            return lambda rows: module_grads(u.module, u.kind, rest, x[rows], g[rows])

        per_sample(block, build(xa, ga), build(xb, gb), xa.shape[0], xb.shape[0], row_bytes,
                   rates, budget, plan)  # fmt: skip


def _gram_weight(block, u: _plan.Unit, xa, ga, xb, gb, rate, budget, group: int) -> None:
    """Contract a Linear/conv/Embedding weight by the Gram route, tile by tile."""
    Ba, Bb, full, R = xa.shape[0], xb.shape[0], block.full, ga.shape[1]
    S = max(1, int(torch.Size(ga.shape[2:-1]).numel()))
    if u.geometry is not None:
        S = u.geometry["out"][0] * u.geometry["out"][1]
    pair = _routes.gram_pair_bytes(u.kind.value, u.geometry, S, R, ga.shape[-1], full)
    size = max(1, math.isqrt(max(1, budget // (2 * pair))))
    for ra, rb in block.pairs(Ba, Bb, size, size):
        # on the diagonal of a symmetric kernel the b side is the a side (None)
        diagonal = block.same and ra == rb
        xb_, gb_ = (None, None) if diagonal else (xb[rb], gb[rb])
        if u.kind is Kind.LINEAR:
            value = _routes.linear_gram(xa[ra], ga[ra], xb_, gb_, full)
        elif u.kind is Kind.EMBEDDING:
            value = _routes.embedding_gram(u.module, xa[ra], ga[ra], xb_, gb_, full)
        else:
            value = _routes.conv_gram(xa[ra], ga[ra], xb_, gb_, u.geometry, full)
        block.add(ra, rb, rate * value, group)


def streaming(block: Block, ra, rb, plan: _plan.Plan, calls: dict, rates, budget, *,
              passes: int):  # fmt: skip
    """A ``Capture.backward`` handler contracting units as soon as their ∂f/∂y arrives.

    A unit's recorded input is released after its last pass, so activations are freed as the
    backward pass goes ("sum" and "trace" only: each pass adds its own term). The plan must
    have been made for one output row at a time (R = 1).
    """
    wanted = {id(calls[w][0]): w for w in plan.units}

    def on_grad(call, output, r, grad) -> bool:
        w = wanted.get(id(call))
        if w is None:
            return False
        x, g = call.args[0], grad.unsqueeze(1)  # (B, ...), (B, 1, *out): one output row
        unit(block, plan, w, x[ra], g[ra], x[rb], g[rb], rates, budget)
        if r == passes - 1:
            call.args, call.kwargs = (), {}
        return True

    return on_grad


def contract(
    model: nn.Module,
    A: _capture.Capture,
    B: _capture.Capture,
    plan: _plan.Plan,
    entries: list[_names.Entry],
    rates: dict[str, float],
    block: Block,
    *,
    ra: slice = slice(None),
    rb: slice = slice(None),
    streamed: bool = False,
    budget: int,
) -> None:
    """Add to ``block`` every share of the plan the backward pass has not contracted already.

    Args:
        ra, rb: the rows of A and B this block is between (for a capture of x1 and x2 joined).
        streamed: the units were contracted while the backward pass ran.
    """
    by_name = {e.name: e for e in entries}
    R = A.passes
    Ba, Bb = block.Ba, block.Bb
    if not streamed:
        for w in plan.units:
            ca, cb = A.calls[w][0], B.calls[w][0]
            unit(block, plan, w, ca.args[0][ra], ca.grad(0, R, ra), cb.args[0][rb],
                 cb.grad(0, R, rb), rates, budget)  # fmt: skip
    for users, shared in plan.shared.items():
        for _, names in plan.split(shared):

            def build(capture, rows_of, users=users, names=names):
                def rows_fn(rows):
                    total: dict[str, torch.Tensor] = {}
                    for user in users:
                        attrs = {_plan.attr_of(by_name[n], user): n for n in names}
                        for call in capture.calls[user]:
                            sel = _sub(rows_of, rows)
                            kind = _plan.kind_of(call.module)
                            grads = module_grads(call.module, kind, attrs, call.args[0][sel],
                                                 call.grad(0, R, sel))  # fmt: skip
                            for n, g in grads.items():
                                total[n] = g.to(F64) if n not in total else total[n] + g
                    return total

                return rows_fn

            row_bytes = 3 * 8 * R * sum(by_name[n].param.numel() for n in names)
            per_sample(block, build(A, ra), build(B, rb), Ba, Bb, row_bytes, rates, budget, plan)
    if plan.rest:

        def jac(capture, rows_of):
            params = {n: capture.params[n] for n in plan.rest}
            return lambda rows: _functional.model_jacobian(
                model, capture.x[_sub(rows_of, rows)], params, capture.raw, summed=R == 1
            )

        row_bytes = 4 * 8 * R * sum(by_name[n].param.numel() for n in plan.rest)
        per_sample(block, jac(A, ra), jac(B, rb), Ba, Bb, row_bytes, rates, budget, plan)


def _sub(outer: slice, inner: slice) -> slice:
    """``inner`` (relative to the rows ``outer`` selects) as absolute rows."""
    start = outer.start or 0
    return slice(start + inner.start, start + inner.stop)
