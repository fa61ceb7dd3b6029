"""The report as one self-contained HTML page: figures embedded, inline CSS, no script.

The page fetches nothing: its figures are PNG data URIs, its style is inline, it has no
JavaScript, and its Content-Security-Policy forbids loading anything but data: images, so a
browser opens it offline exactly as it was written. Every text from the results, the configs
and the experiments is HTML-escaped.

Layout: a summary line (claims holding / failing / not measured), the failing and unmeasured
claims at a glance, an overview of the experiments, then one section per experiment with its
claims table, figures, headline numbers and provenance (preset, resolved config, package and
library versions, git revision, device, wall time).
"""

from __future__ import annotations

import base64
import json
import time
from html import escape
from importlib import metadata
from pathlib import Path
from typing import Any

from richlazy.experiments.claims import Claim, Verdict
from richlazy.report.evaluate import BROKEN, NOT_RUN, REPORTED, Report, Section
from richlazy.store import write_text_atomic

__all__ = ["render", "write"]

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
LIBRARIES = ("numpy", "scipy", "xarray", "zarr", "torch")
WORDS = {Verdict.HOLDS: "hold", Verdict.FAILS: "fail", Verdict.NOT_MEASURED: "not measured"}

STYLE = """
:root { --holds: #1a7f37; --fails: #cf222e; --not-measured: #9a6700; --muted: #57606a;
  --line: #d0d7de; --soft: #f6f8fa; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
  color: #1f2328; margin: 0; background: #fff; }
header, main, footer { max-width: 1180px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 28px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 21px; margin: 0; }
h2 .paper { font-weight: normal; color: var(--muted); font-size: 16px; margin-left: 8px; }
h3 { font-size: 15px; margin: 22px 0 8px; text-transform: uppercase; letter-spacing: .04em;
  color: var(--muted); }
.source { color: var(--muted); margin: 0 0 18px; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  background: var(--soft); padding: 1px 4px; border-radius: 4px; }
.summary { font-size: 19px; margin: 14px 0; display: flex; flex-wrap: wrap; gap: 10px;
  align-items: center; }
.count { padding: 4px 12px; border-radius: 999px; color: #fff; font-weight: 600; }
.count.holds { background: var(--holds); } .count.fails { background: var(--fails); }
.count.not-measured { background: var(--not-measured); }
.count.zero { opacity: .45; }
.experiments-line { color: var(--muted); font-size: 15px; }
.glance { border: 1px solid var(--line); border-radius: 8px; padding: 10px 16px;
  margin: 12px 0; background: var(--soft); }
.glance h3 { margin: 4px 0 6px; }
.glance ul { margin: 0; padding-left: 20px; }
.glance li { margin: 3px 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 7px 10px;
  border-bottom: 1px solid var(--line); }
th { font-size: 13px; color: var(--muted); font-weight: 600; background: var(--soft); }
.overview td.dots { white-space: nowrap; }
.dot { display: inline-block; width: 12px; height: 12px; border-radius: 50%; margin-right: 3px;
  vertical-align: -1px; }
.dot.holds { background: var(--holds); } .dot.fails { background: var(--fails); }
.dot.not-measured { background: var(--not-measured); }
.verdict { display: inline-block; min-width: 96px; text-align: center; padding: 2px 8px;
  border-radius: 6px; font-weight: 600; font-size: 13px; color: #fff; }
.verdict.holds { background: var(--holds); } .verdict.fails { background: var(--fails); }
.verdict.not-measured { background: var(--not-measured); }
.status { font-size: 13px; font-weight: 600; }
.status.not-run { color: var(--muted); } .status.broken { color: var(--fails); }
.experiment { border-top: 3px solid var(--line); margin-top: 36px; padding-top: 18px; }
.experiment.broken { border-top-color: var(--fails); }
.what { color: var(--muted); margin: 4px 0 10px; }
.claims td:nth-child(1) { width: 112px; }
.claims td:nth-child(2) { width: 34%; }
.claims td:nth-child(4) { min-width: 8.5em; }
.claims .where { display: block; color: var(--muted); font-size: 13px; }
.claims .quantity { display: block; color: var(--muted); font-size: 13px; }
.claims .value { font-weight: 600; }
.claims .expected, .claims .note { display: block; font-size: 13px; }
.claims .note { color: var(--not-measured); }
tr.fails td { background: #fff5f5; }
.error { color: var(--fails); font-weight: 600; margin: 6px 0;
  border-left: 4px solid var(--fails); padding: 4px 10px; background: #fff5f5; }
.figures { display: flex; flex-direction: column; gap: 18px; }
figure { margin: 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
figcaption { color: var(--muted); font-size: 13px; }
.headline td:first-child { color: var(--muted); width: 45%; }
details { margin: 14px 0 0; border: 1px solid var(--line); border-radius: 8px;
  padding: 8px 14px; }
summary { cursor: pointer; color: var(--muted); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; margin: 10px 0; }
dt { color: var(--muted); } dd { margin: 0; word-break: break-all; }
pre { font-size: 12px; background: var(--soft); padding: 10px; border-radius: 6px;
  overflow-x: auto; max-height: 340px; }
footer { color: var(--muted); font-size: 13px; margin: 40px auto; border-top: 1px solid
  var(--line); padding-top: 12px; }
@media print { details { display: block; } .experiment { break-inside: avoid-page; } }
"""


def render(report: Report) -> str:
    """The whole page as a string."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        "<title>richlazy: the paper's claims, measured</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        _header(report),
        "<main>",
        *(_section(section, report) for section in report.sections),
        "</main>",
        _footer(report),
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def write(report: Report, path: Path | str) -> Path:
    """Write the page to ``path`` (atomically; parent directories are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, render(report))
    return path


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _css(verdict: Verdict | str) -> str:
    return str(verdict).replace(" ", "-")


def _header(report: Report) -> str:
    counts = report.counts()
    badges = "".join(
        f'<span class="count {_css(v)}{" zero" if not counts[v] else ""}" '
        f'data-verdict="{_e(v)}"><b id="count-{_css(v)}">{counts[v]}</b> {_e(WORDS[v])}</span>'
        for v in Verdict
    )
    experiments_line = _e(report.experiments_summary())
    source = f" from <code>{_e(report.source)}</code>" if report.source is not None else ""
    version = _version(report)
    return "\n".join(
        [
            "<header>",
            "<h1>Get rich quick, reproduced: the paper's claims, measured</h1>",
            '<p class="source">Kunin et al., <i>Get rich quick: exact solutions reveal how '
            "unbalanced initializations promote rapid feature learning</i> (NeurIPS 2024), "
            f"reproduced by richlazy{_e(' ' + version) if version else ''}{source}.</p>",
            f'<p class="summary" id="summary" data-total="{sum(counts.values())}">'
            f"<span>{sum(counts.values())} claims:</span>{badges}"
            f'<span class="experiments-line">{experiments_line}</span></p>',
            _glance(report),
            _overview(report),
            "</header>",
        ]
    )


def _glance(report: Report) -> str:
    """The claims a reader should see first: failing, then not measured, then broken runs."""
    blocks = []
    for verdict, title in (
        (Verdict.FAILS, "failing claims"),
        (Verdict.NOT_MEASURED, "not measured at this preset"),
    ):
        items = [
            f'<li><a href="#{_e(s.name)}">{_e(s.name)}</a>: {_e(c.statement)} — measured '
            f"{_e(c.measured or '—')}, test {_e(c.test)}"
            + (f" <i>({_e(c.note)})</i>" if c.note else "")
            + "</li>"
            for s in report.sections
            for c in s.claims
            if c.verdict == verdict
        ]
        if items:
            blocks.append(f"<h3>{title}</h3><ul>{''.join(items)}</ul>")
    broken = [
        f'<li><a href="#{_e(s.name)}">{_e(s.name)}</a>: {_e(problem)}</li>'
        for s in report.with_status(BROKEN)
        for problem in s.problems
    ]
    if broken:
        blocks.append(f"<h3>broken results</h3><ul>{''.join(broken)}</ul>")
    if not blocks:
        return ""
    return f'<div class="glance">{"".join(blocks)}</div>'


def _overview(report: Report) -> str:
    rows = []
    for section in report.sections:
        dots = "".join(
            f'<span class="dot {_css(c.verdict)}" title="{_e(c.verdict)}: {_e(c.statement)}">'
            "</span>"
            for c in section.claims
        )
        counts = section.counts()
        tally = ", ".join(f"{counts[v]} {WORDS[v]}" for v in Verdict if counts[v])
        status = (
            f'<span class="status {_css(section.status)}">{_e(section.status)}</span>'
            if section.status != REPORTED
            else ""
        )
        rows.append(
            f'<tr><td><a href="#{_e(section.name)}">{_e(section.name)}</a></td>'
            f"<td>{_e(section.paper)}</td><td>{_e(section.summary)}</td>"
            f'<td class="dots">{dots} {_e(tally)} {status}</td></tr>'
        )
    return (
        '<table class="overview"><thead><tr><th>experiment</th><th>reproduces</th>'
        "<th>what it shows</th><th>claims</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _section(section: Section, report: Report) -> str:
    classes = f"experiment {_css(section.status)}"
    parts = [
        f'<section class="{classes}" id="{_e(section.name)}" data-status="{_e(section.status)}">',
        f'<h2>{_e(section.name)}<span class="paper">{_e(section.paper)}</span></h2>',
        f'<p class="what">{_e(section.summary)}</p>',
    ]
    if section.status == NOT_RUN:
        where = report.source if report.source is not None else "DIR"
        started = section.record.get("status") == "running"
        parts.append(
            '<p class="status not-run">not run: '
            + ("started but not finished; " if started else "no finished results here; ")
            + f"<code>richlazy run {_e(section.name)} --out {_e(where)}</code> "
            + ("resumes it" if started else "runs it")
            + "</p></section>"
        )
        return "\n".join(parts)
    parts += [f'<p class="error">error: {_e(problem)}</p>' for problem in section.problems]
    if section.claims:
        parts.append(_claims_table(section.claims))
    if section.figures:
        parts.append("<h3>figures</h3>")
        parts.append(
            '<div class="figures">'
            + "".join(
                f'<figure><img alt="{_e(section.name)}: {_e(figure.name)}" '
                f'src="data:image/png;base64,{base64.b64encode(figure.png).decode("ascii")}">'
                f"<figcaption>{_e(figure.name)}.png</figcaption></figure>"
                for figure in section.figures
            )
            + "</div>"
        )
    if section.headline:
        parts.append("<h3>headline numbers</h3>")
        parts.append(
            '<table class="headline"><tbody>'
            + "".join(
                f"<tr><td>{_e(key)}</td><td>{_e(value)}</td></tr>"
                for key, value in section.headline.items()
            )
            + "</tbody></table>"
        )
    if section.record:
        parts.append(_provenance(section.record))
    parts.append("</section>")
    return "\n".join(parts)


def _claims_table(claims: tuple[Claim, ...]) -> str:
    rows = []
    for claim in claims:
        css = _css(claim.verdict)
        measured = [
            f'<span class="quantity">{_e(claim.quantity)}</span>',
            f'<span class="value">{_e(claim.measured or "—")}</span>',
        ]
        if claim.expected:
            measured.append(f'<span class="expected">expected: {_e(claim.expected)}</span>')
        if claim.note:
            measured.append(f'<span class="note">{_e(claim.note)}</span>')
        rows.append(
            f'<tr class="claim {css}" data-verdict="{_e(claim.verdict)}">'
            f'<td><span class="verdict {css}">{_e(claim.verdict)}</span></td>'
            f'<td>{_e(claim.statement)}<span class="where">{_e(claim.where)}</span></td>'
            f"<td>{''.join(measured)}</td>"
            f"<td>{_e(claim.test)}</td></tr>"
        )
    return (
        '<h3>claims</h3><table class="claims"><thead><tr><th>verdict</th>'
        "<th>the paper says</th><th>measured</th><th>test</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _provenance(record: dict) -> str:
    config = dict(record.get("config") or {})
    provenance = dict(record.get("provenance") or {})
    preset = config.pop("preset", "—")
    device = config.get("device")
    device = f"{device}, {config.get('dtype', 'float64')}" if device else "cpu (NumPy, float64)"
    seconds = record.get("seconds")
    wall = f"{seconds:.1f} s" if isinstance(seconds, int | float) else "—"
    revision = str(provenance.get("git_revision", "unknown"))
    versions = ", ".join(
        f"{library} {provenance[f'{library}_version']}"
        for library in LIBRARIES
        if f"{library}_version" in provenance
    )
    fields = [
        ("preset", preset),
        ("status", record.get("status", "—")),
        ("richlazy", provenance.get("richlazy_version", "—")),
        ("git revision", revision),
        ("libraries", versions or "—"),
        ("python", provenance.get("python", "—")),
        ("device", device),
        ("platform", provenance.get("platform", "—")),
        ("wall time (computing)", wall),
        ("started", provenance.get("started", "—")),
        ("command", provenance.get("command", "—")),
    ]
    listed = "".join(f"<dt>{_e(key)}</dt><dd>{_e(value)}</dd>" for key, value in fields)
    extra = {
        key: value
        for key, value in record.items()
        if key not in ("experiment", "config", "status", "provenance", "seconds")
    }
    resolved = json.dumps(config, indent=1, ensure_ascii=False)
    more = (
        f"<p>also recorded:</p><pre>{_e(json.dumps(extra, indent=1, ensure_ascii=False))}</pre>"
        if extra
        else ""
    )
    return (
        f"<details><summary>provenance: preset {_e(preset)}, richlazy "
        f"{_e(provenance.get('richlazy_version', '?'))} at {_e(revision[:12])}, {_e(device)}, "
        f"{_e(wall)}</summary><dl>{listed}</dl><p>resolved config:</p><pre>{_e(resolved)}</pre>"
        f"{more}</details>"
    )


def _version(report: Report) -> str:
    for section in report.sections:
        version = (section.record.get("provenance") or {}).get("richlazy_version")
        if version:
            return str(version)
    return ""


def _footer(report: Report) -> str:
    source = _e(report.source) if report.source is not None else "DIR"
    return (
        f"<footer>Written {_e(time.strftime('%Y-%m-%d %H:%M:%S %Z'))} by richlazy "
        f"{_e(metadata.version('richlazy'))}. Every verdict is decided from the stored results "
        "alone (results.zarr); re-evaluate them, without recomputing, with "
        f"<code>richlazy report --from {source}</code>. A claim that fails is shown failing; "
        "one the stored results cannot decide says why.</footer>"
    )
