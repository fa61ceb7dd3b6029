"""The report: claims from a directory, the terminal table, and the HTML page in a real browser.

The browser test renders the page in headless Chromium (Debian's ``chromium`` package, which
``.ci/run`` installs when missing) and reads back what the browser saw: console messages,
whether every figure was decoded and displayed, and the counts the page shows.
"""

import glob
import html
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter

import pytest
import xarray as xr
from rich.console import Console

from richlazy import experiments, report
from richlazy.experiments import runner
from richlazy.experiments.claims import Claim, Verdict
from richlazy.store import RunDirectory

STORED = ("fig3", "fig4b", "fig7", "fig1b")  # smoke runs into the shared directory


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    """Smoke runs of four experiments; fig8 holds fig4b's results (config.json says whose they
    are), fig2 a copy of fig3's store, its config.json relabeled fig2, with a damaged chunk; the
    rest were not run."""
    root = tmp_path_factory.mktemp("report")
    for name in STORED:
        runner.run(name, preset="smoke", out=root)
    shutil.copytree(root / "fig4b", root / "fig8")
    shutil.copytree(root / "fig3", root / "fig2")
    record = json.loads((root / "fig2" / "config.json").read_text())
    (root / "fig2" / "config.json").write_text(json.dumps({**record, "experiment": "fig2"}))
    chunk = sorted(glob.glob(str(root / "fig2" / "results.zarr" / "a" / "*")))[0]
    with open(chunk, "wb") as damaged:
        damaged.write(b"not a compressed chunk")
    return root


def stored_claims(root) -> dict[str, list[Claim]]:
    """The claims decided directly from each readable store, without the report package."""
    found = {}
    for name in STORED:
        results = xr.open_zarr(root / name / "results.zarr").load()
        experiment = experiments.get(name)
        found[name] = experiment.claims(results, experiment.config_of(results))
    return found


def test_a_directory_is_reported_experiment_by_experiment(results_dir):
    result = report.evaluate(results_dir)
    sections = {section.name: section for section in result.sections}
    assert list(sections) == experiments.names()
    for name in STORED:
        assert sections[name].status == report.REPORTED and sections[name].claims
        assert sections[name].figures and sections[name].headline
        assert sections[name].record["config"]["preset"] == "smoke"
    assert {s.name for s in result.with_status(report.NOT_RUN)} == set(experiments.names()) - {
        *STORED,
        "fig2",
        "fig8",
    }
    broken = {s.name: s.problems for s in result.with_status(report.BROKEN)}
    assert set(broken) == {"fig2", "fig8"}
    assert "fig2/results.zarr" in broken["fig2"][0]  # the message names the damaged store
    assert f"{results_dir / 'fig8'} holds results of fig4b, not of fig8" in broken["fig8"][0]
    expected = Counter(c.verdict for claims in stored_claims(results_dir).values() for c in claims)
    assert result.counts() == {verdict: expected[verdict] for verdict in Verdict}
    assert result.counts()[Verdict.NOT_MEASURED] >= 1  # fig1b's one seed cannot decide
    assert result.summary().startswith(f"{sum(expected.values())} claims: ")


def test_a_verdict_changes_when_a_stored_variable_changes(results_dir, tmp_path):
    shutil.copytree(results_dir / "fig3", tmp_path / "fig3")
    before = report.evaluate(tmp_path, ["fig3"]).sections[0]
    assert {c.verdict for c in before.claims} == {Verdict.HOLDS}
    store = RunDirectory(tmp_path, "fig3")
    results = store.load_results()
    results["relative_error"] = results.relative_error * 0 + 1e-3  # the closed form is off
    store.save_results(results, seconds=0.0)  # through the store, so it stays consistent
    after = report.evaluate(tmp_path, ["fig3"]).sections[0]
    changed = [
        (b.statement, b.verdict, a.verdict)
        for b, a in zip(before.claims, after.claims, strict=True)
        if b.verdict != a.verdict
    ]
    assert changed == [(before.claims[0].statement, Verdict.HOLDS, Verdict.FAILS)]
    assert after.claims[0].measured == "0.001"


def test_text_is_escaped_in_the_terminal_and_in_the_page():
    hostile = Claim(
        "[bold red]not markup[/] <script>alert(1)</script> & co",
        "Figure <1>",
        "q [x]",
        "≤ 1",
        Verdict.FAILS,
        measured="<b>2</b>",
        note="[link=x]y[/link]",
    )
    section = report.Section(
        "fig3", "Figure 3", "s <i>", report.REPORTED, ("error [red]<x>",), (hostile,), {"<k>": "v"}
    )
    result = report.Report(None, (section,))
    console = Console(record=True, width=200)
    report.print_report(result, console)
    text = console.export_text()
    assert "[bold red]not markup[/]" in text and "[link=x]y[/link]" in text
    assert "error [red]<x>" in text
    page = report.render_html(result)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page
    assert "&lt;b&gt;2&lt;/b&gt;" in page and "Figure &lt;1&gt;" in page and "&lt;k&gt;" in page


def test_the_page_is_self_contained(results_dir, tmp_path):
    page = report.render_html(report.evaluate(results_dir))
    assert page.count('http-equiv="Content-Security-Policy"') == 1
    references = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert references and all(ref.startswith(("data:image/png;base64,", "#")) for ref in references)
    assert "<script" not in page and "<link" not in page and "@import" not in page


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# Added to a copy of the page (with inline scripts allowed for it alone): what the browser saw.
PROBE = """<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const count = (selector) => document.querySelectorAll(selector).length;
  const probe = {
    images: images.length,
    displayed: images.filter((i) => i.complete && i.naturalWidth > 0 && i.width > 0).length,
    summary: Object.fromEntries([...document.querySelectorAll("#summary [data-verdict]")]
      .map((e) => [e.dataset.verdict, Number(e.querySelector("b").textContent)])),
    rows: Object.fromEntries(["holds", "fails", "not measured"]
      .map((v) => [v, count(`tr.claim[data-verdict="${v}"]`)])),
    sections: [...document.querySelectorAll("section.experiment")]
      .map((s) => [s.id, s.dataset.status]),
    errors: [...document.querySelectorAll("section .error")].map((e) => e.textContent),
  };
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(probe);
  document.body.appendChild(out);
});
</script>"""


def rendered(page, scratch) -> tuple[dict, list[str]]:
    """Open ``page`` in headless Chromium: what the probe read, and the console's messages."""
    text = page.read_text()
    policy = "default-src 'none';"
    assert text.count(policy) == 1
    probed = scratch / "probed.html"
    probed.write_text(
        text.replace(policy, policy + " script-src 'unsafe-inline';").replace(
            "</body>", PROBE + "</body>"
        )
    )
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={scratch / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=15000",
            "--dump-dom",
            probed.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    match = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert match, "the probe did not run: " + done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return json.loads(html.unescape(match.group(1))), console


# Chromium is optional for users; under CI (which installs it, .ci/run) its absence fails.
@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="needs Debian's chromium (optional for users; .ci/run installs it)",
)
def test_the_page_loads_in_chromium_with_every_figure_and_the_stored_counts(results_dir, tmp_path):
    page = tmp_path / "report.html"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "richlazy",
            "report",
            "--from",
            str(results_dir),
            "--html",
            str(page),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    # the page is written, and the damaged store (fig2) makes the command end with status 2
    assert done.returncode == 2 and "fig2" in done.stderr, done.stderr
    assert f"wrote {page}" in done.stdout.replace("\n", "")
    assert "not run" in done.stdout and "error" in done.stdout
    probe, console = rendered(page, tmp_path)
    assert console == []  # no error, no warning, no blocked load: nothing at all
    figures = sum(len(list((results_dir / name).glob("*.png"))) for name in STORED)
    assert probe["images"] == figures + len(list((results_dir / "fig8").glob("*.png")))
    assert probe["displayed"] == probe["images"]
    expected = Counter(c.verdict for claims in stored_claims(results_dir).values() for c in claims)
    assert probe["summary"] == {str(v): expected[v] for v in Verdict}
    assert probe["rows"] == probe["summary"]
    assert dict(probe["sections"])["fig2"] == "broken" and "fig2" in probe["errors"][0]
    assert dict(probe["sections"])["fig5"] == "not run"
