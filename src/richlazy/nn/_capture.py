"""One forward and R backward passes of a model that record what the eNTK's layer routes need.

For every call of a module holding parameters, a forward hook keeps the module's inputs and
replaces its output by a *tap*: an autograd function that returns a copy and, in the backward
pass, stores the gradient of the outputs with respect to that copy (∂f/∂y per probe point).
Taps make the recorded gradients correct even when later code modifies the output in place
(``ReLU(inplace=True)``, ``out += shortcut``): the tap's backward receives the gradient with
respect to the value the module produced. The parameters are detached copies, so the backward
pass computes gradients with respect to activations only: no parameter gradient, and no
``.grad`` is touched.

A ``TorchFunctionMode`` sees every torch operation of the forward pass that receives a parameter
tensor, and which hooked module was running at the time. A parameter whose uses are not all
inside calls of modules the plan understands (``_plan.kind_of``: not a tied weight read with
``x @ W.T``, a parameter of a custom module, a layer whose input is not batch-first) is handed to
the exact torch.func route of the model instead (``Capture.leftover``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from richlazy.nn import _names, _plan


@dataclass
class Call:
    """One call of a hooked module: its inputs and, per backward pass, its output gradients."""

    module: nn.Module
    name: str
    args: tuple
    kwargs: dict
    versions: list[int]
    outputs: list[tuple] = field(default_factory=list)  # (shape, dtype, device) of each tap
    grads: list[dict[int, torch.Tensor]] = field(default_factory=list)  # per output, per pass
    per_point: bool = False  # row n of its input and outputs belongs to probe point n

    def grad(self, output: int, passes: int, rows: slice = slice(None)) -> torch.Tensor:
        """∂f_r/∂y of output ``output`` for every pass r, on ``rows``: (b, R, *y.shape[1:])."""
        shape, dtype, device = self.outputs[output]
        stored = self.grads[output]
        zero = None
        parts = []
        for r in range(passes):
            if r not in stored and zero is None:
                zero = torch.zeros(shape, dtype=dtype, device=device)[rows]
            parts.append(stored[r][rows] if r in stored else zero)
        return torch.stack(parts, 1)

    def nbytes(self, *, grads: bool = True) -> int:
        """Bytes of the recorded inputs (and gradients)."""
        kept = [t for t in (*self.args, *self.kwargs.values()) if isinstance(t, torch.Tensor)]
        if grads:
            kept += [g for store in self.grads for g in store.values()]
        return sum(t.numel() * t.element_size() for t in kept)

    def inputs_unchanged(self) -> bool:
        tensors = [a for a in (*self.args, *self.kwargs.values()) if isinstance(a, torch.Tensor)]
        return [t._version for t in tensors] == self.versions


class _Tap(torch.autograd.Function):
    @staticmethod
    def forward(ctx, call, output, state, y, anchor):
        ctx.call, ctx.output, ctx.state = call, output, state
        return y.clone()

    @staticmethod
    def backward(ctx, grad):
        state, call = ctx.state, ctx.call
        if state.on_grad is None or not state.on_grad(call, ctx.output, state.pass_index, grad):
            # the stored tensor is also returned: autograd never accumulates into it in place
            call.grads[ctx.output][state.pass_index] = grad
        return None, None, None, grad, None


class _State:
    def __init__(self) -> None:
        self.pass_index = 0
        self.active: list[int] = []  # indices of the hooked modules being called
        self.recording = True
        self.on_grad = None  # called with (call, output index, pass, gradient) if set


class _Uses(TorchFunctionMode):
    """Records (parameter, innermost hooked module or None, function) of every operation."""

    def __init__(self, ids: dict[int, str], state: _State, uses: dict[str, list]) -> None:
        super().__init__()
        self.ids, self.state, self.uses = ids, state, uses

    def _see(self, value, func) -> None:
        if isinstance(value, torch.Tensor):
            name = self.ids.get(id(value))
            if name is not None:
                where = self.state.active[-1] if self.state.active else None
                self.uses[name].append((where, func))
        elif isinstance(value, list | tuple):
            for item in value:
                self._see(item, func)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.state.recording:
            for value in (*args, *kwargs.values()):
                self._see(value, func)
        return func(*args, **kwargs)


@dataclass
class Capture:
    """What one forward and R backward passes on a block of B probe points recorded."""

    x: torch.Tensor
    passes: int
    calls: dict[str, list[Call]]  # module name -> its calls, for modules the plan understands
    params: dict[str, torch.Tensor]  # canonical name -> detached parameter
    raw: dict[str, str]  # canonical name -> name in model.named_parameters()
    leftover: list[str]  # parameters for the torch.func route on the whole model
    outputs: int  # O, the number of outputs per probe point
    pending: list = field(default_factory=list)  # the output rows still to differentiate
    anchor: torch.Tensor | None = None
    state: _State | None = None

    def nbytes(self, *, grads: bool = True) -> int:
        """Bytes of the recorded inputs (and gradients)."""
        return sum(c.nbytes(grads=grads) for calls in self.calls.values() for c in calls)

    def backward(self, on_grad=None) -> None:
        """One backward pass per output row; ``on_grad(call, output, r, g)`` may consume g."""
        self.state.on_grad = on_grad
        rows, self.pending = self.pending, []
        try:
            for r, total in enumerate(rows):
                self.state.pass_index = r
                if total.requires_grad:
                    torch.autograd.grad(
                        total, [self.anchor], retain_graph=r + 1 < len(rows), allow_unused=True
                    )
        finally:
            self.state.on_grad = None


def _tap(output, call, state, anchor):
    """Replace the floating tensors of ``output`` by taps; return it and the tapped tensors."""
    tapped = []

    def one(t):
        if isinstance(t, torch.Tensor) and t.is_floating_point():
            call.grads.append({})
            out = _Tap.apply(call, len(call.grads) - 1, state, t, anchor)
            tapped.append((tuple(out.shape), out.dtype, out.device))
            return out
        return t

    if isinstance(output, torch.Tensor):
        return one(output), tapped
    if type(output) in (tuple, list):
        return type(output)(one(t) for t in output), tapped
    return output, tapped


def capture(
    model: nn.Module,
    x: torch.Tensor,
    entries: list[_names.Entry],
    *,
    kernel: str,
    clone_inputs: bool = False,
) -> Capture:
    """Run ``model`` on the block ``x`` with hooks and taps; ``Capture.backward`` differentiates.

    Args:
        entries: the trainable parameters (others are treated as constants).
        kernel: "sum" runs one backward pass of Σ_o f_o; "trace"/"full" one per output o.
        clone_inputs: keep copies of module inputs (used when the model modifies one in place).
    """
    B = x.shape[0]
    state = _State()
    detached = {e.name: e.param.detach() for e in entries}
    ids = {id(t): name for name, t in detached.items()}
    owner_of = {e.name: set(e.owners) for e in entries}
    modules = {_names.canonical(n): m for n, m in model.named_modules()}
    hooked = [n for n, m in modules.items() if any(True for _ in m.parameters(recurse=False))]
    index = {n: i for i, n in enumerate(hooked)}
    calls: dict[str, list[Call]] = {n: [] for n in hooked}
    uses: dict[str, list] = {name: [] for name in detached}
    anchor = torch.zeros((), dtype=x.dtype if x.is_floating_point() else torch.float32,
                         device=x.device, requires_grad=True)  # fmt: skip
    raw = {e.raw: detached[e.name] for e in entries}
    b, reference, alone = _reference(model, x, raw, {n: modules[n] for n in hooked})
    handles = []

    def pre_hook(name):
        def hook(module, args, kwargs):
            if not state.recording:
                return None
            state.active.append(index[name])
            if clone_inputs:
                args = tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)
                kwargs = {k: v.clone() if isinstance(v, torch.Tensor) else v
                          for k, v in kwargs.items()}  # fmt: skip
            kept = [a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)]
            versions = [t._version for t in kept]  # detach() shares the version counter

            def plain(a):
                return a.detach() if isinstance(a, torch.Tensor) else a

            record = Call(module, name, tuple(plain(a) for a in args),
                          {k: plain(v) for k, v in kwargs.items()}, versions)  # fmt: skip
            seen = reference.get(name, [])
            same = len(calls[name]) < len(seen)
            record.per_point = same and _same_rows(record.args, seen[len(calls[name])][0], B, b)
            calls[name].append(record)
            return (args, kwargs) if clone_inputs else None

        return hook

    def post_hook(name):
        def hook(module, args, kwargs, output):
            if not state.recording:
                return None
            state.active.pop()
            call = calls[name][-1]
            output, call.outputs = _tap(output, call, state, anchor)
            if call.per_point:
                leads = reference[name][len(calls[name]) - 1][1]
                call.per_point = len(leads) == len(call.outputs) and all(
                    len(s) > 0 and s[0] == B and lead == b
                    for (s, _, _), lead in zip(call.outputs, leads, strict=True)
                )
            return output

        return hook

    for name in hooked:
        module = modules[name]
        handles.append(module.register_forward_pre_hook(pre_hook(name), with_kwargs=True))
        handles.append(module.register_forward_hook(post_hook(name), with_kwargs=True))
    try:
        with _Uses(ids, state, uses):
            out = torch.func.functional_call(model, raw, (x,), strict=False)
    finally:
        state.recording = False
        for handle in handles:
            handle.remove()
    if not isinstance(out, torch.Tensor):
        raise TypeError(
            f"the model must return one tensor of outputs, got {type(out).__name__}; wrap it "
            "in a module that returns the output the kernel is of"
        )
    if out.ndim == 0 or out.shape[0] != B:
        raise ValueError(
            f"the model's output must have the probe dimension first: inputs of {B} points gave "
            f"an output of shape {tuple(out.shape)}"
        )
    if isinstance(alone, torch.Tensor) and not _same_rows((out.detach(),), alone, B, b):
        raise ValueError(
            f"the model gives other outputs for the same probe points in a batch of {B} and "
            f"in a batch of {b}: its output on one point depends on the others (a mean over "
            "the batch, a recurrence over dim 0) or on chance, so its layers cannot be "
            "contracted point by point; method='jacobian' gives the kernel of the model on "
            "each point alone"
        )
    out = out.reshape(B, -1)  # (B, O)
    rows = [out.sum()] if kernel == "sum" else [out[:, o].sum() for o in range(out.shape[1])]
    # which parameters the fast and per-module routes cover exactly
    leftover, keep = [], {}
    for name, found in uses.items():
        where = {hooked[i] if i is not None else None for i, _ in found}
        ok = bool(found) and all(
            w is not None
            and w in owner_of[name]
            and _plan.kind_of(modules[w]) is not _plan.Kind.MODEL
            for w in where
        )
        if ok:
            for w in where:
                ok = ok and all(c.per_point for c in calls[w])
        if ok:
            for w in where:
                keep[w] = calls[w]
        elif found:
            leftover.append(name)
    kept_calls = {w: cs for w, cs in keep.items() if cs}
    for cs in kept_calls.values():
        for call in cs:
            if not call.inputs_unchanged():
                if clone_inputs:  # pragma: no cover - a clone is never modified by the model
                    raise RuntimeError(f"the input of {call.name!r} changed during the pass")
                return capture(model, x, entries, kernel=kernel, clone_inputs=True)
    raw_names = {e.name: e.raw for e in entries}
    return Capture(x, len(rows), kept_calls, detached, raw_names, leftover, out.shape[1], rows,
                   anchor, state)  # fmt: skip


def _reference(model, x, raw, modules) -> tuple[int, dict[str, list], object]:
    """The first input and the outputs' leading sizes of every call of ``modules`` on a run
    of b probe points alone (b = 2, or 1 when the block has 2 points; a block of one point is
    run twice over): ``(b, {module name: [(input, [leading size of each output])]}, output)``.

    A layer's dim 0 is the probe dim only if it follows the number of points, and its rows are
    the probe points only if they are the same in that run; a size alone can coincide (learned
    prototypes through a Linear, a sequence-first layer with as many positions as points).
    """
    B = x.shape[0]
    b = 1 if B == 2 else 2
    xb = x[:b] if b <= B else x.expand(b, *x.shape[1:])  # (b, ...)
    seen: dict[str, list] = {n: [] for n in modules}

    def pre_hook(name):
        def hook(module, args):
            first = args[0] if args and isinstance(args[0], torch.Tensor) else None
            seen[name].append((None if first is None else first.detach().clone(), []))

        return hook

    def post_hook(name):
        def hook(module, args, output):
            outputs = output if type(output) in (tuple, list) else (output,)
            seen[name][-1][1].extend(
                t.shape[0] if t.ndim else None
                for t in outputs
                if isinstance(t, torch.Tensor) and t.is_floating_point()
            )

        return hook

    handles = []
    for name, module in modules.items():
        handles.append(module.register_forward_pre_hook(pre_hook(name)))
        handles.append(module.register_forward_hook(post_hook(name)))
    try:
        with torch.no_grad():
            out = torch.func.functional_call(model, raw, (xb,), strict=False)
    except Exception:  # a model that needs more points: no layer is seen as per point
        return b, {}, None
    finally:
        for handle in handles:
            handle.remove()
    return b, seen, out


def _same_rows(args: tuple, alone: torch.Tensor | None, B: int, b: int) -> bool:
    """Whether a call's first input holds, row by row, what a run of b points alone gave it.

    Floating rows may differ by rounding (other batch sizes take other kernels): they agree
    when within √ε of the dtype times the largest entry (1.5e-8 in float64, 3.5e-4 in
    float32); a layer seen as not per point only takes the slower exact route.
    """
    first = args[0] if args else None
    if not isinstance(first, torch.Tensor) or first.ndim == 0 or first.shape[0] != B:
        return False
    if alone is None or alone.shape != (b, *first.shape[1:]):
        return False
    mine = first[:b] if b <= B else first.expand(b, *first.shape[1:])  # (b, ...)
    if not first.is_floating_point():
        return torch.equal(mine, alone)
    scale = float(alone.abs().max()) if alone.numel() else 0.0
    tolerance = torch.finfo(first.dtype).eps ** 0.5 * max(scale, torch.finfo(first.dtype).tiny)
    return bool(((mine - alone).abs() <= tolerance).all())
