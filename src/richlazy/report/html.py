"""The report as one self-contained HTML page: figures embedded, inline CSS, no script.

The page is rendered from Jinja2 templates (``templates/page.html.j2`` and its ``style.css``)
with autoescaping on, so every text from the results, the configs and the experiments is
HTML-escaped and the only markup is the template's. It fetches nothing: its figures are data
URIs, its style is inline, it has no JavaScript, and its Content-Security-Policy forbids
loading anything but data: images, so a browser opens it offline exactly as it was written.

Size: the figures are the stored PNGs' pixels, re-encoded for the page alone as lossless WebP
(the same pixels in about 2.3× fewer bytes; docs/architecture.md, "Claims and the report"),
where Pillow (matplotlib's own dependency) writes WebP; otherwise the PNG bytes as stored.

Layout: which preset(s) the results come from, a summary line (claims holding / failing / not
measured), links to the failing and unmeasured claims, an overview of the experiments, then one
section per experiment with its claims table, figures, headline numbers and provenance (preset,
resolved config, package and library versions, git revision, device, wall time).
"""

from __future__ import annotations

import base64
import io
import json
import time
from functools import cache
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import jinja2
import markupsafe

from richlazy.experiments.claims import Verdict
from richlazy.report.evaluate import BROKEN, NOT_RUN, REPORTED, Figure, Report, Section
from richlazy.store import write_text_atomic

__all__ = ["embedded_image", "render", "write"]

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
LIBRARIES = ("numpy", "scipy", "xarray", "zarr", "torch")
WORDS = {Verdict.HOLDS: "hold", Verdict.FAILS: "fail", Verdict.NOT_MEASURED: "not measured"}


@cache
def _templates() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("richlazy.report", "templates"),
        autoescape=True,  # every {{ value }} is HTML-escaped, the CSS included
        undefined=jinja2.StrictUndefined,  # a misspelt name fails instead of printing nothing
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["css"] = _css
    return environment


def render(report: Report) -> str:
    """The whole page as a string."""
    counts = report.counts()
    return (
        _templates()
        .get_template("page.html.j2")
        .render(
            report=report,
            csp=markupsafe.Markup(CSP),  # our constant, written as it is
            version=_version(report),
            presets=report.presets_summary(),
            counts=counts,
            total=sum(counts.values()),
            verdicts=list(Verdict),
            words=WORDS,
            glance=_glance(report),
            reported=REPORTED,
            not_run=NOT_RUN,
            tally=_tally,
            alt=_alt,
            image=lambda figure: embedded_image(figure.png),
            provenance=_provenance,
            written=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            richlazy_version=metadata.version("richlazy"),
        )
    )


def write(report: Report, path: Path | str) -> Path:
    """Write the page to ``path`` (atomically; parent directories are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, render(report))
    return path


def embedded_image(png: bytes) -> str:
    """A data URI of the PNG ``png``'s pixels: lossless WebP where Pillow writes it (the same
    pixels, smaller), else the PNG as it is."""
    try:
        from PIL import Image, features

        if not features.check("webp"):
            raise ImportError("Pillow without WebP")
        with Image.open(io.BytesIO(png)) as image:
            buffer = io.BytesIO()
            image.save(buffer, format="WEBP", lossless=True, quality=0, method=1)
        mime, data = "image/webp", buffer.getvalue()
    except ImportError:
        mime, data = "image/png", png
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _css(verdict: Verdict | str) -> str:
    return str(verdict).replace(" ", "-")


def _alt(section: Section, figure: Figure) -> str:
    """What a figure shows, for readers who cannot see it."""
    return f"{section.name}, reproducing {section.paper}: figure {figure.name} ({section.summary})"


def _tally(section: Section) -> str:
    counts = section.counts()
    return ", ".join(f"{counts[v]} {WORDS[v]}" for v in Verdict if counts[v])


def _glance(report: Report) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """What a reader should see first, each a link to its row (where its measured value, test
    and note are): failing claims, then those not measured, then broken runs."""
    blocks = []
    for verdict, title in (
        (Verdict.FAILS, "failing claims"),
        (Verdict.NOT_MEASURED, "not measured at this preset"),
    ):
        items = [
            (section.name, f"{section.name}-claim-{index}", claim.statement)
            for section in report.sections
            for index, claim in enumerate(section.claims, start=1)
            if claim.verdict == verdict
        ]
        if items:
            blocks.append((title, items))
    broken = [
        (section.name, section.name, problem)
        for section in report.with_status(BROKEN)
        for problem in section.problems
    ]
    if broken:
        blocks.append(("broken results", broken))
    return blocks


def _provenance(record: dict) -> SimpleNamespace:
    """What the provenance box of a section shows, from its config.json."""
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
    extra = {
        key: value
        for key, value in record.items()
        if key not in ("experiment", "config", "status", "provenance", "seconds")
    }
    return SimpleNamespace(
        preset=preset,
        version=provenance.get("richlazy_version", "?"),
        revision=revision,
        device=device,
        wall=wall,
        fields=[
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
        ],
        resolved=json.dumps(config, indent=1, ensure_ascii=False),
        extra=json.dumps(extra, indent=1, ensure_ascii=False) if extra else "",
    )


def _version(report: Report) -> str:
    for section in report.sections:
        version = (section.record.get("provenance") or {}).get("richlazy_version")
        if version:
            return str(version)
    return ""
