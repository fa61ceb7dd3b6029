"""The ``richlazy`` command: list, run, figure, report, bench (docs/architecture.md).

The command line is one of the edges where strings become objects: experiment names resolve
through the experiment registry to typed configs, and method names to solver objects
(``richlazy.train.solver_named``); configs do the same for their own string fields. Listing and
``--help`` import no torch.

Exit statuses and errors (docs/guarantees.md): every error is printed as one line on stderr,
never as a traceback, and user text in it is printed verbatim (never read as rich markup).
Status 2: a usage error, a bad option or config, unusable or damaged results, a full disk
(:func:`_user_errors`); 130: interrupted (Ctrl-C; finished shards are kept and a rerun
resumes); 1: an internal error (a bug: set RICHLAZY_TRACEBACK=1 to see its traceback).
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from richlazy import experiments, store
from richlazy import report as reporting
from richlazy.experiments import runner
from richlazy.runtime import DEVICES, DTYPES
from richlazy.sweeps.cluster import cluster_client
from richlazy.train.solvers import METHODS  # the solver registry's names (no torch)

_DEVICE_HELP = " or ".join(DEVICES)
_DTYPE_HELP = " or ".join(DTYPES)

INTERRUPTED = 130  # the shell's status for a process ended by Ctrl-C (128 + SIGINT)
LONG_RUN_SECONDS = 60  # runs estimated longer than this say so before they start

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Exact solutions and experiments on lazy versus rich learning.",
)
console = Console()
errors = Console(stderr=True, soft_wrap=True)


class RichProgress:
    """Progress bars for long runs (the experiments' Progress protocol)."""

    def __init__(self, progress: Progress):
        self._progress = progress

    @contextmanager
    def task(self, description: str, total: int) -> Iterator:
        task = self._progress.add_task(description, total=total)
        try:
            yield lambda steps=1: self._progress.advance(task, steps)
        finally:
            self._progress.remove_task(task)


@contextmanager
def _progress_bars() -> Iterator[RichProgress]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        yield RichProgress(progress)


def _line(label: str, style: str, message: object) -> None:
    """One line on stderr, ``label:`` styled and ``message`` verbatim (never read as markup)."""
    text = str(message).replace("\r", " ").replace("\n", " ")  # one line, whatever it holds
    errors.print(Text.assemble((f"{label}:", style), " ", text), highlight=False)


def _fail(message: object, code: int = 2) -> None:
    _line("error", "bold red", message)
    raise typer.Exit(code)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Errors a user can act on, as one line each: bad options and configs (ValueError,
    TypeError, e.g. StoreError, WorkLimitError), integrations that fail on a config
    (RuntimeError), the disk (OSError: full, read-only), memory (MemoryError) with status 2;
    Ctrl-C with 130."""
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except KeyboardInterrupt:
        _fail(
            "interrupted; finished work is saved, rerun the same command to resume",
            INTERRUPTED,
        )
    except OSError as error:
        if os.environ.get("RICHLAZY_TRACEBACK"):  # for debugging: the whole story
            raise
        _fail(store.disk_error_message(error))
    except MemoryError as error:  # what the configs' own bounds (fits_memory) did not foresee
        if os.environ.get("RICHLAZY_TRACEBACK"):
            raise
        _fail(
            f"out of memory ({str(error) or 'no size given'}); use smaller sizes with --set, or a "
            "machine with more memory (finished work is saved: the same command resumes)"
        )
    except (ValueError, TypeError, RuntimeError) as error:
        if os.environ.get("RICHLAZY_TRACEBACK"):
            raise
        _fail(error)


def _duration(seconds: float) -> str:
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def _check_choice(option: str, value: str | None, choices: tuple[str, ...]) -> None:
    """Fail with one line unless ``value`` (None: not given) is one of ``choices``."""
    if value is not None and value not in choices:
        _fail(f"{option} must be one of {', '.join(choices)}, got {value!r}")


def _resolve(names: list[str]) -> list[str]:
    if names == ["all"]:
        return experiments.names()
    if "all" in names:
        _fail("'all' cannot be combined with experiment names: give 'all' alone, or list names")
    for name in names:
        if name not in experiments.names():
            _fail(
                f"unknown experiment {name!r}; choose from: all, "
                f"{', '.join(experiments.names())} (see `richlazy list`)"
            )
    return names


def _overrides(name: str, device: str | None, dtype: str | None, explicit: bool) -> dict:
    """--device/--dtype for the experiments that take them (an explicit single run must)."""
    chosen = {key: value for key, value in (("device", device), ("dtype", dtype)) if value}
    experiment = experiments.get(name)
    unsupported = [key for key in chosen if not experiment.accepts(key)]
    if unsupported and explicit:
        _fail(f"{name} runs in NumPy float64 and takes no --{unsupported[0]}")
    return {key: value for key, value in chosen.items() if key not in unsupported}


def _style(name: str, style: str | None, explicit: bool) -> str | None:
    """--style for the experiments that offer it (an explicit single run must)."""
    if style is None:
        return None
    offered = experiments.get(name).styles
    if style in offered:
        return style
    if explicit:
        _fail(f"--style must be one of {', '.join(offered)} for {name}, got {style!r}")
    return None


def _summary(outcomes: list[runner.Outcome], out: Path) -> None:
    table = Table(title=escape(f"richlazy results in {out}"), show_lines=True)
    for column in ("experiment", "time", "result"):
        table.add_column(column)
    for outcome in outcomes:
        seconds = "reused" if outcome.reused else f"{outcome.seconds:.1f} s"
        result = "\n".join(f"{key}: {value}" for key, value in outcome.headline.items())
        table.add_row(escape(outcome.name), seconds, escape(result))
    console.print(table)


def _write_report(source: Path, html: Path | None = None) -> tuple[reporting.Report, Path]:
    """Evaluate the claims of everything stored in ``source`` and write the HTML page."""
    target = html if html is not None else source / "report.html"
    result = reporting.evaluate(source)
    try:
        return result, reporting.write_html(result, target)
    except OSError as error:
        _fail(f"cannot write the report to {target}: {error.strerror or error}")
        raise  # unreachable: _fail exits


def _print_version(value: bool) -> None:
    if value:
        from richlazy import __version__, _source

        print(f"richlazy {__version__} (commit {_source.commit()})")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print richlazy's version and the commit it was built from, and exit.",
        ),
    ] = False,
) -> None:
    # Options of the command itself, before any subcommand.
    pass


@app.command("list")
def list_experiments() -> None:
    """List what can be reproduced."""
    table = Table(title="richlazy experiments")
    for column in ("name", "reproduces", "presets", "what it shows"):
        table.add_column(column)
    for name in experiments.names():
        listing = experiments.describe(name)
        presets = experiments.preset_names(name)
        shown = [p for p in presets if p != experiments.SMOKE]
        shown += [f"{experiments.SMOKE} (tests)"] if experiments.SMOKE in presets else []
        table.add_row(name, listing.paper, ", ".join(shown), listing.summary)
    console.print(table)


@app.command()
def run(
    names: Annotated[list[str], typer.Argument(help="experiment names, or 'all'")],
    preset: Annotated[str, typer.Option(help="quick (minutes on a laptop) or paper")] = "quick",
    out: Annotated[Path, typer.Option(help="output directory")] = Path("out"),
    device: Annotated[str | None, typer.Option(help=f"{_DEVICE_HELP} (simulations only)")] = None,
    dtype: Annotated[str | None, typer.Option(help=_DTYPE_HELP)] = None,
    overwrite: Annotated[bool, typer.Option(help="replace results of another config")] = False,
    style: Annotated[
        str | None, typer.Option(help="figure style: richlazy (default) or paper, where offered")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="dask.distributed scheduler address to run the shards on"),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="start a local dask cluster of this many worker processes")
    ] = None,
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="override one option of the preset, NAME=VALUE (repeatable; one experiment)",
        ),
    ] = None,
) -> None:
    """Run experiments into OUT/NAME/ (results.zarr, config.json, PNGs); reruns resume."""
    _check_choice("--device", device, DEVICES)
    _check_choice("--dtype", dtype, DTYPES)
    selected = _resolve(names)
    if settings and len(selected) != 1:
        _fail("--set applies to one experiment; name exactly one")
    outcomes = []
    with _user_errors():
        overrides = {
            name: _overrides(name, device, dtype, explicit=len(selected) == 1) for name in selected
        }
        if settings:  # one experiment, checked above
            name = selected[0]
            parsed = experiments.get(name).parse_settings(preset, settings)
            twice = sorted(set(parsed) & set(overrides[name]))
            if twice:
                key = twice[0]
                raise ValueError(f"{key} is given twice: use --{key} or --set {key}=..., not both")
            overrides[name].update(parsed)
        styled = {name: _style(name, style, explicit=len(selected) == 1) for name in selected}
        for name in selected:  # every config is validated before anything runs
            experiments.get(name).configure(preset, overrides[name])
        for name in selected:
            estimate = runner.estimated_seconds(name, preset=preset, overrides=overrides[name])
            if estimate is not None and estimate > LONG_RUN_SECONDS:
                _line(
                    "note",
                    "bold yellow",
                    f"{name} is estimated to take up to {_duration(estimate)} of compute "
                    "(a rough bound from its size); Ctrl-C stops it, and the same command "
                    "resumes from the finished seeds",
                )
        with cluster_client(scheduler, workers) as client, _progress_bars() as progress:
            for name in selected:
                paper = experiments.describe(name).paper
                console.print(Text.assemble((name, "bold"), f" ({paper}, {preset})"))
                outcomes.append(
                    runner.run(
                        name,
                        preset=preset,
                        out=out,
                        overrides=overrides[name],
                        overwrite=overwrite,
                        progress=progress,
                        style=styled[name],
                        client=client,
                    )
                )
    _summary(outcomes, out)
    result, path = _write_report(out)
    console.print(reporting.summary_text(result))
    console.print(f"report: [bold]{escape(str(path))}[/] (open it in a browser)", soft_wrap=True)


@app.command()
def figure(
    name: Annotated[str, typer.Argument(help="experiment name")],
    out: Annotated[Path | None, typer.Option(help="output directory")] = None,
    source: Annotated[
        Path | None, typer.Option("--from", help="redraw from results stored in this directory")
    ] = None,
    preset: Annotated[str, typer.Option(help="preset, when computing")] = "quick",
    style: Annotated[
        str | None, typer.Option(help="figure style: richlazy (default) or paper, where offered")
    ] = None,
) -> None:
    """Draw NAME's figures: from stored results (--from DIR) or by running it (--out DIR)."""
    _resolve([name])
    if source is None and out is None:
        _fail("give --out DIR to compute the figure, or --from DIR to redraw stored results")
    with _user_errors():
        if source is not None:
            outcome = runner.redraw(name, source, out, style=style)
        else:
            outcome = runner.run(name, preset=preset, out=out, style=style)
    for path in outcome.figures:
        console.print(Text(f"wrote {path}"))


@app.command()
def report(
    source: Annotated[Path, typer.Option("--from", help="directory of stored results")],
    html: Annotated[
        Path | None,
        typer.Option("--html", help="the HTML page to write (default: DIR/report.html)"),
    ] = None,
) -> None:
    """Print the paper's claims, decided from the results in DIR (no recomputing); write HTML."""
    with _user_errors():
        result = reporting.evaluate(source) if source.is_dir() else None
        if result is None or all(s.status == reporting.NOT_RUN for s in result.sections):
            _fail(f"no finished results in {source}; run `richlazy run all --out {source}` first")
        reporting.print_report(result, console)
        _, path = _write_report(source, html)
    console.print(Text(f"wrote {path}"))
    # the first problem of each broken experiment: the one that names the damaged file
    broken = [section.problems[0] for section in result.with_status(reporting.BROKEN)]
    for problem in broken[:-1]:  # each damaged store in one line; the status says it too
        _line("error", "bold red", problem)
    if broken:
        _fail(broken[-1])


bench_app = typer.Typer(
    no_args_is_help=True,
    help="Benchmarks of the training engine; each prints one JSON line of measured numbers.",
)
app.add_typer(bench_app, name="bench")


def _print_json(measure, **arguments) -> None:
    with _user_errors():
        record = measure(**arguments)
    print(json.dumps(record), flush=True)  # one plain line, for scripts and logs


@bench_app.command("two-layer")
def bench_two_layer(
    width: Annotated[int, typer.Option(help="hidden neurons m")] = 50,
    samples: Annotated[int, typer.Option(help="training samples n")] = 20,
    dim: Annotated[int, typer.Option(help="input dimension d")] = 2,
    nets: Annotated[int, typer.Option(help="networks G trained together")] = 256,
    steps: Annotated[int, typer.Option(help="GD steps (or their time, for gf)")] = 2000,
    method: Annotated[str, typer.Option(help=" or ".join(METHODS))] = "gd",
    device: Annotated[str, typer.Option(help=_DEVICE_HELP)] = "cpu",
    dtype: Annotated[str, typer.Option(help=_DTYPE_HELP)] = "float64",
    fuse: Annotated[
        bool | None,
        typer.Option(help="GD: torch.compile-fused steps (default: large batches on a GPU)"),
    ] = None,
    baseline: Annotated[
        bool, typer.Option(help="also time the per-network NumPy reference, one process per core")
    ] = True,
) -> None:
    """Network steps per second of the batched engine (and the reference's, and the ratio)."""
    from richlazy import benchmarks

    _check_choice("--method", method, METHODS)
    _check_choice("--device", device, DEVICES)
    _print_json(
        benchmarks.two_layer,
        width=width,
        samples=samples,
        dim=dim,
        nets=nets,
        steps=steps,
        method=method,
        device=device,
        dtype=dtype,
        fuse=fuse,
        baseline=baseline,
    )


@bench_app.command("gf-vs-gd")
def bench_gf_vs_gd(
    samples: Annotated[int, typer.Option(help="training samples n (Figure 1b: 1000)")] = 200,
    dim: Annotated[int, typer.Option(help="input dimension d (Figure 1b: 100)")] = 20,
    steps: Annotated[
        int, typer.Option(help="GD steps whose time both methods cover (full size: 1000000)")
    ] = 100_000,
    rtol: Annotated[float, typer.Option(help="gradient-flow tolerance")] = 1e-3,
    device: Annotated[str, typer.Option(help=_DEVICE_HELP)] = "cpu",
) -> None:
    """Gradient flow vs GD on Figure-1b cells: evaluations and differences at every checkpoint."""
    from richlazy import benchmarks

    _check_choice("--device", device, DEVICES)
    with _progress_bars() as progress:  # transient bars; the JSON line goes to stdout after
        _print_json(
            benchmarks.gf_vs_gd,
            samples=samples,
            dim=dim,
            steps=steps,
            rtol=rtol,
            device=device,
            progress=progress,
        )


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line each on stderr (``warnings.showwarning`` while the CLI runs)."""
    _line("warning", "bold yellow", message)


@bench_app.command("ntk")
def bench_ntk(
    n: Annotated[
        list[int] | None, typer.Option("--n", help="probe points N (repeatable; 64 and 128)")
    ] = None,
    width: Annotated[int, typer.Option(help="the ResNet-18's first-stage width (64: full)")] = 64,
    dtype: Annotated[str, typer.Option(help=f"the model's dtype: {_DTYPE_HELP}")] = "float64",
    threads: Annotated[int | None, typer.Option(help="torch threads per subprocess")] = None,
    repeats: Annotated[int, typer.Option(help="alternating runs per method; fastest kept")] = 1,
) -> None:
    """The empirical NTK of a CIFAR ResNet-18 against the torch.func Jacobian contraction: time,
    peak memory and agreement, each method in its own subprocess (one JSON line per N)."""
    from richlazy.nn.benchmark import ntk_benchmark

    _check_choice("--dtype", dtype, DTYPES)
    with _user_errors():
        records = ntk_benchmark(
            tuple(n or (64, 128)), width=width, dtype=dtype, threads=threads, repeats=repeats
        )
    for record in records:
        print(json.dumps(record), flush=True)


def main() -> None:
    """Entry point of the ``richlazy`` command: every error one line (see the module doc)."""
    with warnings.catch_warnings():  # restores showwarning when the command ends
        warnings.showwarning = _warning_line
        _main()


def _main() -> None:
    try:
        code = app(standalone_mode=False)
    except (typer.Abort, KeyboardInterrupt):
        _line("error", "bold red", "interrupted")
        sys.exit(INTERRUPTED)
    except BrokenPipeError:  # e.g. `richlazy list | head`
        code = 0
    except Exception as error:
        # Usage errors of the command-line parser (click's UsageError, which typer may vendor).
        if not (hasattr(error, "format_message") and hasattr(error, "exit_code")):
            if os.environ.get("RICHLAZY_TRACEBACK"):
                raise
            _line(
                "error",
                "bold red",
                f"internal error: {type(error).__name__}: {error} (this is a bug in richlazy: "
                "please report it; set RICHLAZY_TRACEBACK=1 to see the traceback)",
            )
            sys.exit(1)
        if not error.format_message():  # `richlazy` alone: the help was printed
            sys.exit(0)
        context = getattr(error, "ctx", None)
        command = context.command_path if context is not None else "richlazy"
        _line("error", "bold red", f"{error.format_message()} (see `{command} --help`)")
        sys.exit(error.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
