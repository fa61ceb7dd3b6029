"""What an experiment is: a typed config with presets, run(config) -> Dataset, plot(ds, config).

Each module in ``richlazy.experiments`` defines a frozen config dataclass that validates itself,
its presets ("quick": minutes on a laptop; "paper": the reference settings; "smoke": seconds, for
the tests), ``run``, ``plot`` and ``headline`` (the few numbers printed in a run's summary), and
exposes them as ``EXPERIMENT``, with ``claims``: what the paper claims about it, decided from the
stored results (``richlazy.experiments.claims``). The runner stores the resolved config with the
results (their attribute ``config``, JSON) and hands it, typed again, to ``plot``, ``headline``
and ``claims``: results need not copy config values into their attributes.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import xarray as xr

from richlazy import _validate as check
from richlazy.experiments.claims import Claim, Rule
from richlazy.experiments.settings import annotations_of, check_value, parse_value, value_text
from richlazy.store import to_json
from richlazy.sweeps.context import RunContext

#: Options whose values label the results (dimension coordinates such as δ): each value must
#: appear once, since figures select results by these values (checked for every experiment).
COORDINATE_OPTIONS = ("taus", "deltas", "seeds", "depths", "mode_deltas")


#: The results' attribute holding the resolved config as JSON (as in config.json).
CONFIG_ATTR = "config"


def no_claims(results: xr.Dataset, config: Any) -> list[Claim]:
    """The claims of an experiment that declares none."""
    return []


@dataclass(frozen=True)
class Experiment:
    """One reproducible experiment (usually one figure of the paper).

    Attributes:
        name: registry name used on the command line, e.g. "fig3" (what it reproduces is in
            the registry, ``richlazy.experiments.describe``).
        presets: preset name -> config instance ("quick", "paper" and "smoke" at least), the
            module's ``PRESETS`` (a dict literal: ``richlazy list`` reads its names unimported).
        run: config, context -> results as a labeled xarray Dataset.
        plot: results, config -> {figure stem: matplotlib Figure}.
        headline: results, config -> {label: formatted number} for the run summary.
        styles: the figure styles ``plot`` can draw, the default first; a style other than the
            default reaches ``plot`` as the results' attribute ``style``.
        claims: results, config -> the paper's claims about this experiment, each with its
            verdict (``richlazy.experiments.claims.Claim``); from the stored results and config
            only, so that stored results are re-evaluated without recomputing.
        rules: the rules ``claims`` decides (``richlazy.experiments.claims.Rule``), each declared
            once: every claim prints the words of one of them.
    """

    name: str
    presets: Mapping[str, Any]
    run: Callable[[Any, RunContext], xr.Dataset]
    plot: Callable[[xr.Dataset, Any], dict[str, Any]]
    headline: Callable[[xr.Dataset, Any], dict[str, str]]
    styles: tuple[str, ...] = ("richlazy",)
    claims: Callable[[xr.Dataset, Any], list[Claim]] = no_claims
    rules: tuple[Rule, ...] = ()

    def configure(self, preset: str, overrides: Mapping[str, Any] | None = None) -> Any:
        """The config of ``preset`` with ``overrides`` applied (and validated).

        Options that label results (:data:`COORDINATE_OPTIONS`) must hold each value once.
        Every override must have the type its field declares (an int for ``int``, a real
        number for ``float``, None or an int for ``int | None``, a tuple of such for a tuple,
        ...; ``richlazy.experiments.settings``), checked here for every experiment before the
        config's own checks; ints must fit an int64.

        Raises:
            ValueError: unknown preset, an override the config does not have, an override of
                the wrong kind, or a value the config refuses (naming the option).
        """
        if not isinstance(preset, str) or preset not in self.presets:
            raise ValueError(
                f"unknown preset {preset!r} for {self.name}; choose from: {', '.join(self.presets)}"
            )
        config = self.presets[preset]
        overrides = dict(overrides or {})
        fields = {f.name for f in dataclasses.fields(config)}
        unknown = sorted(set(overrides) - fields, key=str)
        if unknown:
            raise ValueError(
                f"{self.name} has no option {', '.join(map(str, unknown))}; "
                f"its options are: {', '.join(sorted(fields))}"
            )
        kinds = annotations_of(type(config))
        typed = {key: check_value(key, value, kinds[key]) for key, value in overrides.items()}
        configured = dataclasses.replace(config, **typed) if typed else config
        for key in sorted(set(typed) & set(COORDINATE_OPTIONS)):  # after the config's checks
            check.distinct(key, typed[key])
        return configured

    def labeled(self, results: xr.Dataset, config: Any) -> xr.Dataset:
        """``results`` with ``config`` stored as their attribute ``config`` (JSON)."""
        return results.assign_attrs({CONFIG_ATTR: json.dumps(to_json(dataclasses.asdict(config)))})

    def config_from(self, record: Mapping[str, Any]) -> Any:
        """The typed config of a stored record (config.json, or the results' ``config``): its
        preset (the first one if the record names none known) with every stored field applied
        and validated as an override; lists become tuples again.

        Raises:
            ValueError: a stored field the config does not have (another experiment's record),
                or a stored value the config refuses (naming the option).
        """
        preset = record.get("preset")
        preset = preset if preset in self.presets else next(iter(self.presets))
        defaults = self.presets[preset]
        fields = {f.name for f in dataclasses.fields(defaults)}
        unknown = sorted(set(record) - fields - {"preset"})
        if unknown:
            raise ValueError(
                f"the stored config has options {self.name} does not have: {', '.join(unknown)}"
            )
        values = {
            name: _from_json(value, getattr(defaults, name))
            for name, value in record.items()
            if name in fields
        }
        return self.configure(preset, values)

    def config_of(self, results: xr.Dataset, record: Mapping[str, Any] | None = None) -> Any:
        """The typed config of stored ``results``: from their attribute ``config``, else (results
        stored before it was kept there) from ``record``, the ``config`` of the run's
        config.json.

        Raises:
            ValueError: the results are another experiment's, neither holds a config, or a
                stored value the config refuses.
        """
        made_by = results.attrs.get("experiment", self.name)
        if made_by != self.name:
            raise ValueError(f"these are results of {made_by}, not of {self.name}")
        if CONFIG_ATTR in results.attrs:
            stored = json.loads(results.attrs[CONFIG_ATTR])
            return self.config_from({"preset": results.attrs.get("preset"), **stored})
        if record is None:
            raise ValueError(
                f"the results of {self.name} hold no config attribute and no config.json was given"
            )
        return self.config_from(record)

    def parse_settings(self, preset: str, settings: list[str]) -> dict[str, Any]:
        """Overrides from ``NAME=VALUE`` texts, each VALUE read as the type its field declares
        (``richlazy.experiments.settings``): ``steps=10000``, ``rtol=1e-4``, ``method=gf``,
        ``vectorize=false``, ``teacher_seed=none``; tuples take comma-separated items
        (``seeds=0,1,2``), exactly as many as a fixed-length tuple declares
        (``tuple[float, float]``), and tuples of vectors semicolon-separated vectors
        (``directions=0,-1;1,1``).

        Raises:
            ValueError: a text without ``=``, an unknown or repeated name, or a value of the
                wrong type or length.
        """
        config = self.configure(preset)
        kinds = annotations_of(type(config))
        overrides = {}
        for text in settings:
            name, sep, value = text.partition("=")
            name = name.strip()
            if not sep or not name:
                raise ValueError(f"--set takes NAME=VALUE, got {text!r}")
            if name not in kinds:
                self.configure(preset, {name: None})  # raises, listing the options
            if name in overrides:
                raise ValueError(f"{name} is set twice")
            overrides[name] = parse_value(name, value, kinds[name])
        return overrides

    def settings_of(self, preset: str, config: Any) -> list[str]:
        """The ``NAME=VALUE`` texts that turn ``preset`` into ``config`` (its options that
        differ from the preset's), as :meth:`parse_settings` reads them."""
        defaults = self.configure(preset)
        return [
            f"{field.name}={value_text(getattr(config, field.name))}"
            for field in dataclasses.fields(config)
            if getattr(config, field.name) != getattr(defaults, field.name)
        ]

    def accepts(self, option: str) -> bool:
        """Whether the configs of this experiment have the field ``option``."""
        return any(option == f.name for f in dataclasses.fields(next(iter(self.presets.values()))))


def _from_json(value: Any, current: Any) -> Any:
    """A stored JSON value as the config holds it: lists as tuples, "inf" as a float where
    the preset's value ``current`` is one (``richlazy.store.to_json`` reversed)."""
    if isinstance(value, list):
        item = current[0] if isinstance(current, tuple) and current else None
        return tuple(_from_json(entry, item) for entry in value)
    if isinstance(value, str) and isinstance(current, float):
        return float(value)
    return value
