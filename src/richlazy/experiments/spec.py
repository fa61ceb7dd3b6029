"""What an experiment is: a typed config with presets, run(config) -> Dataset, plot(ds).

Each module in ``richlazy.experiments`` defines a frozen config dataclass that validates itself,
its presets ("quick": minutes on a laptop; "paper": the reference settings), ``run``, ``plot`` and
``headline`` (the few numbers printed in a run's summary), and exposes them as ``EXPERIMENT``,
with ``claims``: what the paper claims about it, decided from the stored results
(``richlazy.experiments.claims``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import xarray as xr

from richlazy.experiments.claims import Claim
from richlazy.sweeps.context import RunContext


def no_claims(results: xr.Dataset) -> list[Claim]:
    """The claims of an experiment that declares none."""
    return []


@dataclass(frozen=True)
class Experiment:
    """One reproducible experiment (usually one figure of the paper).

    Attributes:
        name: registry name used on the command line, e.g. "fig3" (what it reproduces is in
            the registry, ``richlazy.experiments.describe``).
        presets: preset name -> config instance ("quick" and "paper" at least).
        run: config, context -> results as a labeled xarray Dataset.
        plot: results -> {figure stem: matplotlib Figure}.
        headline: results -> {label: formatted number} for the run summary.
        styles: the figure styles ``plot`` can draw, the default first; a style other than the
            default reaches ``plot`` as the results' attribute ``style``.
        claims: results -> the paper's claims about this experiment, each with its verdict
            (``richlazy.experiments.claims.Claim``); from the results only, so that stored
            results are re-evaluated without recomputing.
    """

    name: str
    presets: Mapping[str, Any]
    run: Callable[[Any, RunContext], xr.Dataset]
    plot: Callable[[xr.Dataset], dict[str, Any]]
    headline: Callable[[xr.Dataset], dict[str, str]]
    styles: tuple[str, ...] = ("richlazy",)
    claims: Callable[[xr.Dataset], list[Claim]] = no_claims

    def configure(self, preset: str, overrides: Mapping[str, Any] | None = None) -> Any:
        """The config of ``preset`` with ``overrides`` applied (and validated).

        Raises:
            ValueError: unknown preset or an override the config does not have.
        """
        if preset not in self.presets:
            raise ValueError(
                f"unknown preset {preset!r} for {self.name}; choose from: {', '.join(self.presets)}"
            )
        config = self.presets[preset]
        overrides = dict(overrides or {})
        fields = {f.name for f in dataclasses.fields(config)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise ValueError(
                f"{self.name} has no option {', '.join(unknown)}; "
                f"its options are: {', '.join(sorted(fields))}"
            )
        return dataclasses.replace(config, **overrides) if overrides else config

    def parse_settings(self, preset: str, settings: list[str]) -> dict[str, Any]:
        """Overrides from ``NAME=VALUE`` texts, each VALUE read as the preset's field reads.

        Numbers and words take the type of the preset's value (``steps=10000``, ``rtol=1e-4``,
        ``method=gf``); tuples take comma-separated items (``seeds=0,1,2``), as many as the
        preset has where the field's length is fixed (``tuple[float, float]``). Tuples of
        tuples (vectors lists) are not settable here.

        Raises:
            ValueError: a text without ``=``, an unknown or repeated name, a value of the wrong
                type or length, or a field that cannot be set from text.
        """
        config = self.configure(preset)
        fields = {f.name: f for f in dataclasses.fields(config)}
        overrides = {}
        for text in settings:
            name, sep, value = text.partition("=")
            name = name.strip()
            if not sep or not name:
                raise ValueError(f"--set takes NAME=VALUE, got {text!r}")
            if name not in fields:
                self.configure(preset, {name: None})  # raises, listing the options
            if name in overrides:
                raise ValueError(f"{name} is set twice")
            current = getattr(config, name)
            overrides[name] = _parsed(name, value.strip(), current)
            fixed = isinstance(current, tuple) and "..." not in str(fields[name].type)
            if fixed and len(overrides[name]) != len(current):
                raise ValueError(
                    f"{name} takes exactly {len(current)} comma-separated values, got {value!r}"
                )
        return overrides

    def accepts(self, option: str) -> bool:
        """Whether the configs of this experiment have the field ``option``."""
        return any(option == f.name for f in dataclasses.fields(next(iter(self.presets.values()))))


def _parsed(name: str, text: str, current: Any) -> Any:
    """``text`` as a value of the type of ``current`` (the preset's value of option ``name``)."""
    if isinstance(current, tuple):
        if any(isinstance(item, tuple | list) for item in current):
            raise ValueError(f"{name} holds vectors and cannot be set from the command line")
        kind = type(current[0]) if current else float
        items = [item.strip() for item in text.split(",")]
        if not all(items):
            raise ValueError(f"{name} takes comma-separated values, got {text!r}")
        return tuple(_parsed(name, item, kind()) for item in items)
    kind = type(current)
    try:
        if isinstance(current, bool):
            if text.lower() not in ("true", "false"):
                raise ValueError
            return text.lower() == "true"
        if isinstance(current, int):
            return int(text)
        if isinstance(current, float):
            return float(text)
    except ValueError:
        raise ValueError(f"{name} takes {kind.__name__} values, got {text!r}") from None
    return text
