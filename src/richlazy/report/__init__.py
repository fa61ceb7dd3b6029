"""The paper's claims next to what was measured: a terminal table and one HTML page.

``evaluate(DIR)`` decides the claims of every experiment stored in DIR from its results alone
(``richlazy.experiments.claims``) and gathers its figures, headline numbers and provenance;
``print_report`` prints the claims table; ``write_html`` writes one self-contained page.
``richlazy report --from DIR [--html FILE]`` does all three, and ``richlazy run ... --out DIR``
ends by writing DIR/report.html.
"""

from __future__ import annotations

from richlazy.experiments.claims import Verdict
from richlazy.report.evaluate import (
    BROKEN,
    NOT_RUN,
    REPORTED,
    Figure,
    Report,
    Section,
    evaluate,
    evaluate_results,
    stored_results,
)
from richlazy.report.html import embedded_image
from richlazy.report.html import render as render_html
from richlazy.report.html import write as write_html
from richlazy.report.terminal import claims_table, print_report, summary_text

__all__ = [
    "BROKEN",
    "NOT_RUN",
    "REPORTED",
    "Figure",
    "Report",
    "Section",
    "Verdict",
    "claims_table",
    "embedded_image",
    "evaluate",
    "evaluate_results",
    "print_report",
    "render_html",
    "stored_results",
    "summary_text",
    "write_html",
]
