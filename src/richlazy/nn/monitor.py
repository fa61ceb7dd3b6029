"""A feature-learning monitor for the user's own training loop (docs/theory.md §6, §5).

    monitor = FeatureMonitor(model, probe_x, optimizer=optimizer)
    for step in range(steps):
        monitor.maybe_log(step)          # on a log-spaced schedule by default
        ...                              # the user's own step
    ds = monitor.to_xarray()             # dims step, layer, param_layer, pair

Each record costs one empirical NTK on the probe points and one forward pass; both run in eval
mode with the RNG state restored and touch neither ``.grad`` nor BatchNorm statistics, so the
training run is the same with and without the monitor.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Iterable
from functools import partial

import numpy as np
import torch
import xarray as xr
from torch import nn

from richlazy.nn import _checks, _names, conserved, ntk
from richlazy.runtime import log_schedule as _any_log_schedule

__all__ = ["RELU_FAMILY", "FeatureMonitor", "log_schedule"]

# Activations whose pattern 1[z > 0] the Hamming distance counts (docs/theory.md §5).
RELU_FAMILY: tuple[type[nn.Module], ...] = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ReLU6)


#: The monitor's default schedule, endless: 0 and the integers nearest 10^(k/10), each once
#: (``richlazy.runtime.log_schedule(None, per_decade=10, first=1)``; ``per_decade=`` changes the
#: density).
#: The largest step a record holds: ``to_xarray``'s ``step`` coordinate is int64.
MAX_STEP = 2**63 - 1

log_schedule = partial(_any_log_schedule, None, per_decade=10, first=1)


class FeatureMonitor:
    """Records how far a model has moved from its state when the monitor was built.

    Quantities (``to_xarray``): ``kernel_distance`` S(0, t) (§6.2), ``kernel_velocity``
    S(t_prev, t)/(t − t_prev), ``kernel_norm`` ‖K_t‖_F, ``parameter_distance`` ‖θ(t) − θ(0)‖
    and per layer (``layer_parameter_distance``, dim ``param_layer``), ``hamming_distance``
    Σ_units mean_i 1[pattern changed] per call of a ReLU-family module (§5's normalisation,
    dim ``layer``: the module name, with ``[i]`` for a module called several times;
    ``hamming_fraction`` divides by the number of units), and ``conserved_drift``
    max_k |δ_k(t) − δ_k(0)| per layer pair (§6.1, dim ``pair``).

    Args:
        model: the module being trained.
        probe_x: probe points (N, ...) the kernel and patterns are measured on.
        optimizer: its learning rates weight the kernel and the conserved quantities (read
            once, when the monitor is built); None for unit rates.
        every: None for the log-spaced schedule (about 10 records per decade of steps), an
            int k to record every k steps, or an iterable of int steps (steps are ints in
            [0, 2**63 − 1], the int64 ``step`` coordinate).
        kernel: "sum" or "trace" (``empirical_ntk``'s kernel).
        max_memory: ``empirical_ntk``'s budget.

    Raises:
        TypeError, ValueError: a non-module, probe points the model does not accept, a bad
            schedule, optimizer or kernel; at ``log``, a model whose parameters (names, shapes,
            dtypes, ``requires_grad``) or ReLU-family modules changed since. Tensors swapped
            in place of others of the same name and shape (``load_state_dict(...,
            assign=True)``, a replaced layer) are measured as they are now.
    """

    def __init__(
        self,
        model: nn.Module,
        probe_x: torch.Tensor,
        *,
        optimizer: torch.optim.Optimizer | None = None,
        every: int | Iterable[int] | None = None,
        kernel: ntk.Kernel = "sum",
        max_memory: int | None = None,
    ) -> None:
        self.model = model = _checks.module("model", model)  # wrappers removed
        self.probe = _checks.probe("probe_x", probe_x)
        if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer must be a torch.optim.Optimizer or None, got {type(optimizer).__name__}"
            )
        self.kernel = _checks.choice("kernel", kernel, ("sum", "trace"))
        self._budget = _checks.memory("max_memory", max_memory, ntk.DEFAULT_MEMORY)
        self._schedule = self._make_schedule(every)
        self._next = next(self._schedule)
        self._from_optimizer = optimizer is not None
        trained = _names.rates(model, optimizer, argument="optimizer")
        self._rate_of = {e.name: r for e, r in trained}  # by name: survives replaced tensors
        self._signature = self._structure()
        self._refresh()
        self._start = [e.param.detach().clone() for e in self._entries]
        self._layers = sorted({e.owners[0] for e in self._entries}, key=self._order())
        self._pairs, self.skipped = conserved.find_pairs(model)
        self._K0 = self._kernel()
        self._patterns0 = self._patterns()
        self._calls = [(name, i) for name, _ in self._relus
                       for i in range(len(self._patterns0[name]))]  # fmt: skip
        self._conserved0 = conserved.pair_values(self._pairs, model, self._rates)
        self._previous: tuple[int, torch.Tensor] | None = None
        self.records: list[dict] = []

    def _structure(self) -> tuple:
        """What the records compare across steps: each parameter's name, shape, dtype and
        whether it is trained, and each ReLU-family module's name and type."""
        params = tuple((e.name, tuple(e.param.shape), e.param.dtype, e.param.requires_grad)
                       for e in _names.parameters(self.model))  # fmt: skip
        relus = tuple((_names.canonical(n), type(m)) for n, m in self.model.named_modules()
                      if isinstance(m, RELU_FAMILY))  # fmt: skip
        return params, relus

    def _refresh(self) -> None:
        """Take the model's tensors and modules as they are now (``load_state_dict(...,
        assign=True)`` or a replaced layer swap them); a changed structure is refused."""
        now = self._structure()
        if now != self._signature:
            after = {n: tuple(rest) for n, *rest in now[0]}
            before = {n: tuple(rest) for n, *rest in self._signature[0]}
            changed = sorted(set(before) ^ set(after)) or [
                n for n in before if before[n] != after[n]
            ]
            what = (f"parameters {changed[:3]} (name, shape, dtype or requires_grad)"
                    if changed else "its ReLU-family modules")  # fmt: skip
            raise ValueError(
                f"model: {what} changed since this FeatureMonitor was built; its records "
                "compare the model with its state then: build a new FeatureMonitor"
            )
        self._entries = _names.parameters(self.model)
        self._trained = [(e, self._rate_of[e.name]) for e in self._entries
                         if e.name in self._rate_of]  # fmt: skip
        self._rates = {id(e.param): r for e, r in self._trained}
        self._relus = [(_names.canonical(n), m) for n, m in self.model.named_modules()
                       if isinstance(m, RELU_FAMILY)]  # fmt: skip

    def _order(self):
        names = [_names.canonical(n) for n, _ in self.model.named_modules()]
        return {n: i for i, n in enumerate(names)}.get

    @staticmethod
    def _make_schedule(every):
        if every is None:
            return log_schedule()
        if isinstance(every, numbers.Integral) and not isinstance(every, bool | np.bool_):
            every = int(every)
            if not 1 <= every <= MAX_STEP:
                raise ValueError(f"every must be an int in [1, 2**63 - 1], got {every}")
            return itertools.chain((k * every for k in range(MAX_STEP // every + 1)), [math.inf])
        if isinstance(every, str | bytes | float | torch.Tensor | np.ndarray) or not isinstance(
            every, Iterable
        ):
            raise TypeError(
                "every must be None, an int or an iterable of int steps, got "
                f"{type(every).__name__}"
            )
        steps = sorted({_step_value("every", s) for s in every})
        if not steps:
            raise ValueError("every must list at least one step")
        return iter([*steps, math.inf])

    def _kernel(self) -> torch.Tensor:
        return ntk.compute(self.model, self.probe, None, self._trained, kernel=self.kernel,
                           budget=self._budget, method="layerwise")  # fmt: skip

    def _patterns(self) -> dict[str, list[torch.Tensor]]:
        """1[z > 0] of the input of every ReLU-family call, on the probe points."""
        found: dict[str, list[torch.Tensor]] = {name: [] for name, _ in self._relus}
        handles = []
        for name, module in self._relus:

            def hook(module, args, name=name):
                found[name].append(args[0].detach() > 0)  # before an in-place activation acts

            handles.append(module.register_forward_pre_hook(hook))
        try:
            with ntk.neutral(self.model, self.probe.device), torch.no_grad():
                self.model(self.probe)
        finally:
            for handle in handles:
                handle.remove()
        return found

    def maybe_log(self, step: int) -> bool:
        """Record at ``step`` if the schedule says so (steps skipped by the loop are caught up
        at the next call); whether it recorded."""
        step = _step_value("step", step)
        if step < self._next:
            return False
        self.log(step)
        while self._next <= step:
            self._next = next(self._schedule)
        return True

    def log(self, step: int) -> dict:
        """Record every quantity now, at ``step``; returns the record."""
        step = _step_value("step", step)
        if self.records and step <= self.records[-1]["step"]:
            raise ValueError(f"steps must increase: {step} after {self.records[-1]['step']}")
        self._refresh()
        K = self._kernel()
        record: dict = {"step": step}
        record["kernel_distance"] = float(ntk.kernel_distance(self._K0, K))
        record["kernel_norm"] = float(torch.linalg.matrix_norm(K))
        if self._previous is None:
            record["kernel_velocity"] = math.nan
        else:
            before, K_before = self._previous
            record["kernel_velocity"] = float(ntk.kernel_distance(K_before, K)) / (step - before)
        self._previous = (step, K)
        squares: dict[str, float] = dict.fromkeys(self._layers, 0.0)
        with torch.no_grad():
            for entry, start in zip(self._entries, self._start, strict=True):
                diff = entry.param.detach().to(torch.float64) - start.to(torch.float64)
                squares[entry.owners[0]] += float((diff**2).sum())
        record["parameter_distance"] = math.sqrt(sum(squares.values()))
        record["layer_parameter_distance"] = [math.sqrt(squares[n]) for n in self._layers]
        patterns = self._patterns()
        hamming, units = [], []
        for name, i in self._calls:  # one "layer" per call of a ReLU-family module
            before, now = self._patterns0[name][i], patterns[name]
            if i < len(now) and now[i].shape == before.shape:
                hamming.append(float((before != now[i]).to(torch.float64).mean(0).sum()))
            else:
                hamming.append(math.nan)
            units.append(before[0].numel())
        record["hamming_distance"] = hamming
        record["hamming_fraction"] = [
            h / u if u else math.nan for h, u in zip(hamming, units, strict=True)
        ]
        now = conserved.pair_values(self._pairs, self.model, self._rates)
        record["conserved_drift"] = [_drift(a, b) for a, b in zip(self._conserved0, now,
                                                                  strict=True)]  # fmt: skip
        self.records.append(record)
        return record

    def to_xarray(self) -> xr.Dataset:
        """The records as a Dataset with dims ``step``, ``param_layer``, ``layer``, ``pair``."""
        steps = [r["step"] for r in self.records]

        def column(key, width):
            values = [r[key] for r in self.records]
            return np.asarray(values, dtype=np.float64).reshape(len(values), *width)

        L, H, P = len(self._layers), len(self._calls), len(self._pairs)
        data = {
            "kernel_distance": ("step", column("kernel_distance", ())),
            "kernel_velocity": ("step", column("kernel_velocity", ())),
            "kernel_norm": ("step", column("kernel_norm", ())),
            "parameter_distance": ("step", column("parameter_distance", ())),
            "layer_parameter_distance": (("step", "param_layer"),
                                         column("layer_parameter_distance", (L,))),
            "hamming_distance": (("step", "layer"), column("hamming_distance", (H,))),
            "hamming_fraction": (("step", "layer"), column("hamming_fraction", (H,))),
            "conserved_drift": (("step", "pair"), column("conserved_drift", (P,))),
        }  # fmt: skip
        coords = {
            "step": np.asarray(steps, dtype=np.int64),
            "param_layer": [n or "(model)" for n in self._layers],
            "layer": self._layer_names(),
            "pair": [p.name for p in self._pairs],
        }
        attrs = {
            "kernel": self.kernel,
            "probe_points": int(self.probe.shape[0]),
            "skipped_pairs": list(self.skipped),
            "rates": "optimizer group lr at construction" if self._from_optimizer else "unit",
        }
        return xr.Dataset(data, coords=coords, attrs=attrs)

    @property
    def units(self) -> dict[str, int]:
        """Units per probe point of each ReLU-family call, ``{layer: units}`` in the order of
        ``to_xarray``'s ``layer`` coordinate: what ``hamming_fraction`` divides by."""
        counts = [int(self._patterns0[name][i][0].numel()) for name, i in self._calls]
        return dict(zip(self._layer_names(), counts, strict=True))

    def _layer_names(self) -> list[str]:
        counts = {name: len(self._patterns0[name]) for name, _ in self._relus}
        return [name if counts[name] == 1 else f"{name}[{i}]" for name, i in self._calls]

    def plot(self):
        """A matplotlib Figure of every recorded quantity against the step."""
        from richlazy.nn._plot import monitor_figure

        return monitor_figure(self.to_xarray())

    def scalars(self, step: int) -> dict[str, float]:
        """The record at ``step`` as a flat ``{name: float}`` for any logger (recorded now if
        it is not yet): ``kernel_distance``, ``kernel_velocity``, ``kernel_norm``,
        ``parameter_distance``, then per layer ``parameter_distance/<param_layer>``,
        ``hamming_distance/<layer>``, ``hamming_fraction/<layer>`` (the activation change) and
        per pair ``conserved_drift/<pair>`` (the coordinates of ``to_xarray``).

        Raises:
            ValueError: ``step`` is not recorded and comes before the last record.
        """
        record = next((r for r in reversed(self.records) if r["step"] == step), None)
        if record is None:
            record = self.log(step)
        flat = {key: float(record[key]) for key in _SCALARS}
        groups = {
            "parameter_distance": [n or "(model)" for n in self._layers],
            "hamming_distance": self._layer_names(),
            "hamming_fraction": self._layer_names(),
            "conserved_drift": [p.name for p in self._pairs],
        }
        key_of = {"parameter_distance": "layer_parameter_distance"}
        for group, names in groups.items():
            values = record[key_of.get(group, group)]
            flat.update({f"{group}/{n}": float(v) for n, v in zip(names, values, strict=True)})
        return flat

    def state_dict(self) -> dict:
        """What a resumed run needs to go on measuring from the same start: the initial
        parameters, kernel K₀, activation patterns and conserved quantities, the last kernel,
        the records and the schedule's position. Tensors, lists and numbers only, so
        ``torch.save`` stores it and ``torch.load(weights_only=True)`` reads it back."""
        previous = None if self._previous is None else list(self._previous)
        return {
            "version": 1,
            "kernel": self.kernel,
            "start": [t.clone() for t in self._start],
            "K0": self._K0.clone(),
            "patterns0": {name: list(calls) for name, calls in self._patterns0.items()},
            "conserved0": [None if v is None else list(v) for v in self._conserved0],
            "previous": previous,
            "records": [dict(r) for r in self.records],
            "next": self._next,
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state_dict()`` of a monitor built on the same model and probe
        points (in a new process: build the model, load its weights, build the monitor, then
        this); later records measure from the saved start, not from the present weights.

        Raises:
            TypeError: ``state`` is not a dict.
            ValueError: ``state`` comes from a monitor with another kernel, other parameters,
                probe points or activation layers.
        """
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict from state_dict(), got {type(state).__name__}")
        missing = {"version", "kernel", "start", "K0", "patterns0", "conserved0", "previous",
                   "records", "next"} - set(state)  # fmt: skip
        if missing or state["version"] != 1:
            raise ValueError(
                f"state is not a FeatureMonitor state_dict (missing {sorted(missing)})"
            )
        if state["kernel"] != self.kernel:
            raise ValueError(f"state has kernel={state['kernel']!r}, this monitor {self.kernel!r}")
        shapes = [tuple(t.shape) for t in state["start"]]
        if shapes != [tuple(t.shape) for t in self._start]:
            raise ValueError("state's parameters do not match this model's (shapes differ)")
        if tuple(state["K0"].shape) != tuple(self._K0.shape):
            raise ValueError(
                f"state's kernel K0 is {tuple(state['K0'].shape)}, this monitor's probe points "
                f"give {tuple(self._K0.shape)}"
            )
        calls = {name: len(v) for name, v in state["patterns0"].items()}
        if calls != {name: len(v) for name, v in self._patterns0.items()}:
            raise ValueError("state's activation layers differ from this model's")
        if len(state["conserved0"]) != len(self._conserved0):
            raise ValueError("state's layer pairs differ from this model's")
        device = self._K0.device
        self._start = [t.to(s.device, s.dtype) for t, s in zip(state["start"], self._start,
                                                                strict=True)]  # fmt: skip
        self._K0 = state["K0"].to(device, self._K0.dtype)
        self._patterns0 = {
            name: [p.to(device) for p in v] for name, v in state["patterns0"].items()
        }
        self._conserved0 = [
            None if v is None else tuple(None if t is None else t.to(device) for t in v)
            for v in state["conserved0"]
        ]
        previous = state["previous"]
        self._previous = None if previous is None else (int(previous[0]), previous[1].to(device))
        self.records = [dict(r) for r in state["records"]]
        while self._next < state["next"]:
            self._next = next(self._schedule)


_SCALARS = ("kernel_distance", "kernel_velocity", "kernel_norm", "parameter_distance")


def _step_value(argument: str, step) -> int:
    """A step: an int (not a bool) in [0, 2**63 − 1], the range of the int64 ``step`` coordinate."""
    if isinstance(step, bool | np.bool_) or not isinstance(step, numbers.Integral):
        raise TypeError(f"{argument} must hold int steps, got {step!r}")
    if not 0 <= int(step) <= MAX_STEP:
        raise ValueError(f"{argument} must hold steps in [0, 2**63 - 1] (int64), got {step}")
    return int(step)


def _drift(before, after) -> float:
    if before is None or after is None:
        return math.nan
    if before[1] is not None:
        return float((after[1] - before[1]).abs().max())
    return float((after[0] - before[0]).abs().max())
