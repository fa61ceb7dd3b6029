"""Run an experiment into DIR/NAME/ (results.zarr, config.json, PNGs), or redraw its figures.

The resolved config is stored twice: in config.json, and as the results' attribute ``config``
(so that results.zarr alone says how it was made); redrawing and reporting rebuild the typed
config from it (``Experiment.config_of``) and hand it to ``plot``, ``headline`` and ``claims``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import xarray as xr

from richlazy.experiments import Experiment, describe, get
from richlazy.runtime import device_of
from richlazy.store import RunDirectory, StoreError
from richlazy.sweeps import Progress, RunContext, SilentProgress


@dataclass(frozen=True)
class Outcome:
    """What a run produced.

    Attributes:
        name: the experiment.
        results: the labeled results.
        directory: DIR/NAME/, or None for an in-memory run.
        figures: paths of the PNGs written.
        seconds: time spent computing (0 when stored results were reused).
        reused: whether finished results were found and reused.
        headline: the experiment's key numbers, formatted.
    """

    name: str
    results: xr.Dataset
    directory: Path | None
    figures: tuple[Path, ...]
    seconds: float
    reused: bool
    headline: dict[str, str]


def run(
    name: str,
    *,
    preset: str = "quick",
    out: Path | str | None = None,
    overrides: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    style: str | None = None,
    client: Any = None,
) -> Outcome:
    """Run experiment ``name`` with a preset, store its results and draw its figures.

    With ``out`` the results go to ``out/name/`` and a rerun with the same configuration resumes
    (or reuses finished results); without it everything stays in memory and no figure is saved.

    Args:
        name: experiment name (see ``richlazy.experiments.names()``).
        preset: "quick" or "paper" (or another preset the experiment defines).
        out: output directory.
        overrides: config fields to change, e.g. {"device": "cuda"}.
        overwrite: replace results of a different configuration found in ``out/name``.
        progress: progress reporting (silent by default).
        style: the figures' style (one of the experiment's ``styles``; None: its default).
        client: a ``dask.distributed.Client`` to compute the sweep's shards on (None: here).

    Raises:
        ValueError: unknown name, preset or option, invalid config, or an unusable ``out``
            (``richlazy.store.StoreError``: e.g. StoreLockedError while another run writes
            ``out/name``, DamagedResultsError for a damaged directory without ``overwrite``).
    """
    experiment = get(name)
    config = experiment.configure(preset, overrides)
    check_style(experiment, style)
    context = RunContext(progress=progress or SilentProgress(), client=client)
    if out is None:
        check_device_usable(config)
        start = time.perf_counter()
        results = _labeled(experiment.run(config, context), name, preset, config)
        return Outcome(
            name,
            results,
            None,
            (),
            time.perf_counter() - start,
            False,
            experiment.headline(results, config),
        )
    directory = run_directory(out, name)
    record = {"preset": preset, **dataclasses.asdict(config)}
    with directory.lock():  # one writer per directory: config and results describe each other
        reused = directory.prepare(record, overwrite=overwrite)
        seconds = 0.0
        if reused:
            results = directory.load_results()
        else:
            check_device_usable(config)
            context.directory = directory
            start = time.perf_counter()
            results = _labeled(experiment.run(config, context), name, preset, config)
            seconds = time.perf_counter() - start
            directory.save_results(results, seconds=seconds)
        figures = draw(name, results, directory, style, config)
    return Outcome(
        name,
        results,
        directory.path,
        figures,
        seconds,
        reused,
        experiment.headline(results, config),
    )


def run_directory(out: Path | str, name: str) -> RunDirectory:
    """``out/name`` as a RunDirectory whose messages name the command that recomputes the
    configuration stored or asked for there (its ``--preset`` and ``--set`` options)."""
    return RunDirectory(out, name, options=partial(command_options, name))


def command_options(name: str, record: Mapping[str, Any]) -> list[str]:
    """The ``run`` options that select the config of ``record`` (a preset's name under
    "preset" and the config's fields, as in config.json): ``--preset`` unless it is quick, and
    a ``--set`` for each option that differs from the preset.

    Raises:
        ValueError: ``record`` is not a config of ``name`` (unknown preset or options).
    """
    experiment = get(name)
    preset = record.get("preset")
    if preset not in experiment.presets:
        raise ValueError(f"{name} has no preset {preset!r}")
    config = experiment.config_from(record)
    options = [] if preset == "quick" else ["--preset", preset]
    for setting in experiment.settings_of(preset, config):
        options += ["--set", setting]
    return options


def estimated_seconds(
    name: str, *, preset: str = "quick", overrides: Mapping[str, Any] | None = None
) -> float | None:
    """A rough estimate of the compute time of a run, or None where the experiment gives none
    (configs with an ``estimated_seconds()`` method: the two-layer grids, from their size).

    Raises:
        ValueError: as :func:`run`, for an unknown name, preset or option.
    """
    config = get(name).configure(preset, overrides)
    estimate = getattr(config, "estimated_seconds", None)
    return None if estimate is None else float(estimate())


def redraw(
    name: str, source: Path | str, out: Path | str | None = None, *, style: str | None = None
) -> Outcome:
    """Redraw the figures of ``name`` from results stored under ``source`` (no recomputation).

    The PNGs go to ``out/name/`` if given, else beside the stored results.

    Raises:
        ValueError: unknown name.
        NoResultsError: no finished results under ``source``.
        DamagedResultsError: they are damaged (the message names the file and the fix).
        StoreError: the figures cannot be written (a read-only ``source``: pass ``out``), or
            another run is writing there.
    """
    experiment = get(name)
    check_style(experiment, style)
    stored = run_directory(source, name)
    results = stored.load_results()
    config = experiment.config_of(results, (stored.stored_config() or {}).get("config"))
    target = run_directory(out if out is not None else source, name)
    if not target.writable():
        hint = "pass --out DIR to write them elsewhere" if out is None else "choose another --out"
        raise StoreError(f"cannot write the figures into {target.path} (not writable); {hint}")
    with target.lock():
        figures = draw(name, results, target, style, config)
    return Outcome(
        name, results, target.path, figures, 0.0, True, experiment.headline(results, config)
    )


def check_device_usable(config: Any) -> None:
    """A ValueError when the config computes on a device this machine lacks ("cuda" without a
    GPU). Checked when computing, not when a config is built, so that results computed on a GPU
    reopen, redraw and report anywhere."""
    device = getattr(config, "device", None)
    if isinstance(device, str):
        device_of(device)


def check_style(experiment: Experiment, style: str | None) -> None:
    """A ValueError unless ``style`` is None or one of the experiment's figure styles."""
    if style is not None and style not in experiment.styles:
        raise ValueError(
            f"style must be one of {', '.join(experiment.styles)} for {experiment.name}, "
            f"got {style!r}"
        )


def draw(
    name: str,
    results: xr.Dataset,
    directory: RunDirectory,
    style: str | None = None,
    config: Any = None,
) -> tuple[Path, ...]:
    """Draw the experiment's figures from ``results`` and their ``config`` (None: the config
    stored with them) in ``style``, if given, and save them as PNGs in ``directory``."""
    paths = []
    experiment = get(name)
    config = experiment.config_of(results) if config is None else config
    drawn = results if style is None else results.assign_attrs(style=style)
    for stem, figure in experiment.plot(drawn, config).items():
        paths.append(directory.save_figure(stem, figure))
    return tuple(paths)


def _labeled(results: xr.Dataset, name: str, preset: str, config: Any) -> xr.Dataset:
    listing = describe(name)
    return (
        get(name)
        .labeled(results, config)
        .assign_attrs(
            experiment=name, preset=preset, reproduces=listing.paper, summary=listing.summary
        )
    )


def summarize(name: str, source: Path | str) -> Outcome:
    """The headline of results stored under ``source`` (no recomputation, no drawing).

    Raises:
        ValueError: unknown name.
        NoResultsError: no finished results of ``name`` under ``source`` (the only error that
            means "nothing here": a report skips such experiments).
        DamagedResultsError: results exist but are damaged (naming the file and the command
            that recomputes them); StoreLockedError: a run is writing them now.
    """
    experiment = get(name)
    directory = run_directory(source, name)
    results = directory.load_results()
    record = directory.stored_config() or {}
    config = experiment.config_of(results, record.get("config"))
    seconds = float(record.get("seconds", 0.0))
    return Outcome(
        name, results, directory.path, (), seconds, False, experiment.headline(results, config)
    )
