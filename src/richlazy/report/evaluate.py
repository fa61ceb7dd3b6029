"""The claims of every experiment stored in a directory, with what a reader needs to check them.

For each registered experiment, :func:`evaluate` reopens DIR/NAME/results.zarr, decides the
experiment's claims from it (``Experiment.claims``), and collects its headline numbers, its
figures (the stored PNGs, or drawn in memory when none are stored) and its provenance
(DIR/NAME/config.json). Nothing is recomputed and nothing under DIR is written.

An experiment without stored results is listed as not run. Results that cannot be read, or
from which the claims, the headline or the figures cannot be evaluated, are listed as broken,
with the error's message: a damaged store is shown, never hidden.
"""

from __future__ import annotations

import io
import json
import shlex
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xarray as xr

from richlazy import experiments
from richlazy.experiments.claims import Claim, Verdict
from richlazy.experiments.runner import run_directory
from richlazy.store import NoResultsError, RunDirectory, StoreError

__all__ = [
    "BROKEN",
    "NOT_RUN",
    "REPORTED",
    "Figure",
    "Report",
    "Section",
    "evaluate",
    "evaluate_results",
    "stored_results",
]

REPORTED, NOT_RUN, BROKEN = "reported", "not run", "broken"


@dataclass(frozen=True)
class Figure:
    """One figure of an experiment: its file stem and its PNG bytes."""

    name: str
    png: bytes


@dataclass(frozen=True)
class Section:
    """What the report shows of one experiment.

    Attributes:
        name: the experiment's registry name.
        paper: what it reproduces ("Figure 3").
        summary: one line on what it shows.
        status: ``REPORTED`` (results found), ``NOT_RUN`` (none stored) or ``BROKEN`` (stored
            results that could not be read or evaluated; see ``problems``).
        problems: error messages, one per thing that could not be read or evaluated.
        claims: the experiment's claims, decided from its results.
        headline: its headline numbers.
        figures: its figures.
        record: its config.json (resolved config, provenance, wall time), or {}.
    """

    name: str
    paper: str
    summary: str
    status: str
    problems: tuple[str, ...] = ()
    claims: tuple[Claim, ...] = ()
    headline: Mapping[str, str] = field(default_factory=dict)
    figures: tuple[Figure, ...] = ()
    record: Mapping[str, Any] = field(default_factory=dict)

    def counts(self) -> Counter:
        """How many of its claims have each verdict."""
        return Counter(claim.verdict for claim in self.claims)


@dataclass(frozen=True)
class Report:
    """The sections of every registered experiment, in the registry's order."""

    source: Path | None
    sections: tuple[Section, ...]

    def counts(self) -> Counter:
        """How many claims of all experiments have each verdict (every verdict present)."""
        total = Counter({verdict: 0 for verdict in Verdict})
        for section in self.sections:
            total.update(section.counts())
        return total

    def with_status(self, status: str) -> list[Section]:
        return [section for section in self.sections if section.status == status]

    def summary(self) -> str:
        """One line: the claims holding, failing and not measured, and the experiments."""
        return f"{self.claims_summary()}; {self.experiments_summary()}"

    def claims_summary(self) -> str:
        """ "N claims: a hold, b fail, c not measured at this preset"."""
        counts = self.counts()
        return (
            f"{sum(counts.values())} claims: {counts[Verdict.HOLDS]} hold, "
            f"{counts[Verdict.FAILS]} fail, {counts[Verdict.NOT_MEASURED]} not measured at "
            "this preset"
        )

    def experiments_summary(self) -> str:
        """ "k of n experiments reported, i not run, j broken"."""
        not_run, broken = len(self.with_status(NOT_RUN)), len(self.with_status(BROKEN))
        parts = [f"{len(self.sections) - not_run} of {len(self.sections)} experiments reported"]
        parts += [f"{not_run} not run"] if not_run else []
        parts += [f"{broken} broken"] if broken else []
        return ", ".join(parts)


def stored_results(name: str, source: Path | str) -> tuple[xr.Dataset | None, str | None]:
    """The results of ``name`` stored under ``source``, told apart from none and from broken.

    The one place that tells missing results from damaged ones.

    Returns:
        (results, None) when finished results were read; (None, None) when there are none
        (the experiment was not run there, or not to the end); (None, message) when stored
        results could not be read, the message naming the problem.
    """
    directory = run_directory(source, name)
    try:
        return directory.load_results(), None
    except NoResultsError:
        return None, None
    except StoreError as error:  # damaged (naming the file and the fix), or being written
        return None, str(error)
    except Exception as error:  # anything else surfacing from zarr or its codecs
        return None, f"cannot read {directory.results_path}: {_described(error)}"


def evaluate(source: Path | str, names: list[str] | None = None, *, draw: bool = True) -> Report:
    """The report of every experiment (or of ``names``) stored under ``source``.

    Args:
        source: the directory given to ``richlazy run --out``.
        names: experiments to include (default: all registered, in the registry's order).
        draw: draw the figures in memory for experiments that have results but no stored PNG.

    Raises:
        ValueError: an unknown experiment name.
    """
    source = Path(source)
    sections = []
    for name in names or experiments.names():
        listing = experiments.describe(name)
        results, problem = stored_results(name, source)
        directory = run_directory(source, name)
        record, record_problem = _record(directory)
        if results is None and problem is None:
            sections.append(Section(name, listing.paper, listing.summary, NOT_RUN, record=record))
            continue
        if results is None:
            problems = tuple(filter(None, [problem, record_problem]))
            sections.append(
                Section(name, listing.paper, listing.summary, BROKEN, problems, record=record)
            )
            continue
        stored, figure_problems = _stored_figures(name, directory)
        section = evaluate_results(
            name, results, figures=stored or None, draw=draw, record=record.get("config")
        )
        problems = (
            section.problems + figure_problems + ((record_problem,) if record_problem else ())
        )
        status = BROKEN if problems else REPORTED
        sections.append(
            Section(
                name,
                listing.paper,
                listing.summary,
                status,
                problems,
                section.claims,
                section.headline,
                section.figures,
                record,
            )
        )
    return Report(source, tuple(sections))


def evaluate_results(
    name: str,
    results: xr.Dataset,
    *,
    figures: tuple[Figure, ...] | None = None,
    draw: bool = True,
    record: dict[str, Any] | None = None,
) -> Section:
    """The section of experiment ``name`` from results in memory (claims, headline, figures).

    Args:
        figures: figures to show; None draws them from ``results`` (if ``draw``).
        record: the ``config`` of the run's config.json, for results stored without their
            config attribute.

    Raises:
        ValueError: an unknown experiment name.
    """
    experiment = experiments.get(name)
    listing = experiments.describe(name)
    problems = []
    claims: tuple[Claim, ...] = ()
    headline: dict[str, str] = {}
    try:
        config = experiment.config_of(results, record)
    except Exception as error:  # shown in the report, with its message
        problems.append(f"its config cannot be read from the results: {_described(error)}")
        return Section(
            name, listing.paper, listing.summary, BROKEN, tuple(problems), figures=figures or ()
        )
    try:
        claims = tuple(experiment.claims(results, config))
    except Exception as error:  # shown in the report, with its message
        problems.append(f"its claims cannot be evaluated from the results: {_described(error)}")
    try:
        headline = dict(experiment.headline(results, config))
    except Exception as error:
        problems.append(f"its headline cannot be computed from the results: {_described(error)}")
    if figures is None:
        figures = ()
        if draw:
            try:
                figures = _drawn(experiment, results, config)
            except Exception as error:
                problems.append(
                    f"its figures cannot be drawn from the results: {_described(error)}"
                )
    status = BROKEN if problems else REPORTED
    return Section(
        name, listing.paper, listing.summary, status, tuple(problems), claims, headline, figures
    )


def _drawn(
    experiment: experiments.Experiment, results: xr.Dataset, config: Any
) -> tuple[Figure, ...]:
    drawn = []
    for stem, figure in experiment.plot(results, config).items():
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=130, bbox_inches="tight")
        drawn.append(Figure(stem, buffer.getvalue()))
    return tuple(drawn)


def _stored_figures(
    name: str, directory: RunDirectory
) -> tuple[tuple[Figure, ...], tuple[str, ...]]:
    """The PNGs stored in ``directory``, and a message for each that cannot be read (a
    directory, a file without read permission): a problem of this experiment, never an error
    of the command that writes the report."""
    figures, problems = [], []
    for path in sorted(directory.path.glob("*.png")):
        try:
            figures.append(Figure(path.stem, path.read_bytes()))
        except OSError as error:
            problems.append(
                f"cannot read the figure {path} ({error.strerror or error}); redraw it with "
                f"`{shlex.join(['richlazy', 'figure', name, '--from', str(directory.root)])}`"
            )
    return tuple(figures), tuple(problems)


def _record(directory: RunDirectory) -> tuple[dict[str, Any], str | None]:
    """The experiment's config.json, and a message if it exists but cannot be read."""
    try:
        return directory.stored_config() or {}, None
    except (OSError, ValueError) as error:  # json.JSONDecodeError is a ValueError
        return {}, f"cannot read {directory.config_path}: {_described(error)}"


def _described(error: BaseException) -> str:
    """``error`` as one line, with its type unless it is a plain ValueError or StoreError."""
    message = str(error).strip() or repr(error)
    if isinstance(error, json.JSONDecodeError):
        return f"not valid JSON ({message})"
    if type(error) is ValueError or isinstance(error, StoreError):
        return message
    return f"{type(error).__name__}: {message}"
