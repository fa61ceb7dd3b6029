"""The claims table in the terminal (rich), one row per claim, grouped by experiment.

Every text that comes from the results or the experiments is escaped, so that brackets in a
claim or an error message print as written instead of being read as rich markup.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from richlazy.experiments.claims import Verdict
from richlazy.report.evaluate import BROKEN, NOT_RUN, Report

__all__ = ["STYLES", "claims_table", "print_report", "summary_text"]

# Verdicts and statuses: how they look, the same words as in the HTML page.
STYLES = {
    Verdict.HOLDS: "bold green",
    Verdict.FAILS: "bold red",
    Verdict.NOT_MEASURED: "bold yellow",
    NOT_RUN: "dim",
    BROKEN: "bold red",
}


def claims_table(report: Report) -> Table:
    """A table of every claim: experiment, verdict, the paper's words, where, measured, test."""
    title = f"the paper's claims, measured ({report.presets_summary()})"
    table = Table(title=escape(title), show_lines=True, expand=False)
    for column, ratio in (
        ("experiment", None),
        ("verdict", None),
        ("claim (where in the paper)", 3),
        ("measured", 2),
        ("test", 2),
    ):
        table.add_column(column, ratio=ratio, overflow="fold")
    for section in report.sections:
        name = escape(section.name)
        if section.status == NOT_RUN:
            table.add_row(name, f"[{STYLES[NOT_RUN]}]not run[/]", "", "", "")
            continue
        for problem in section.problems:
            table.add_row(name, f"[{STYLES[BROKEN]}]error[/]", escape(problem), "", "")
        for claim in section.claims:
            measured = escape(claim.measured)
            if claim.note:
                measured += f"\n[dim]{escape(claim.note)}[/]"
            table.add_row(
                name,
                f"[{STYLES[claim.verdict]}]{escape(claim.verdict.value)}[/]",
                f"{escape(claim.statement)} [dim]({escape(claim.where)})[/]",
                measured,
                escape(claim.test),
            )
    return table


def summary_text(report: Report) -> Text:
    """The summary line, its counts coloured like the verdicts."""
    counts = report.counts()
    text = Text(f"{sum(counts.values())} claims: ")
    for index, verdict in enumerate(Verdict):
        if index:
            text.append(", ")
        word = {Verdict.HOLDS: "hold", Verdict.FAILS: "fail"}.get(verdict, verdict.value)
        text.append(f"{counts[verdict]} {word}", style=STYLES[verdict])
    text.append(f" at this preset — {report.experiments_summary()}")
    return text


def print_report(report: Report, console: Console) -> None:
    """Print the claims table and the summary line."""
    console.print(Group(claims_table(report), summary_text(report)))
