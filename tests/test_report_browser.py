"""What an operator sees: the report of a small real run (the CE suite on a known-bad variant,
in a child pytest), opened in headless Chromium (Debian's chromium) after its scripts ran. The
answer comes first and names the failing behaviour, every verdict is in colour, every evidence
table has rows, and the page logs no console error."""

from __future__ import annotations

import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.helpers import REPO, needs_root
from tests.selfcheck import run_child_pytest

CHROMIUM = "/usr/bin/chromium"
# As this machine's probe runs it: no sandbox as root, and no background connections (the
# machine's network is closed; Chromium would try Google's hosts at every start).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--enable-logging=stderr", "--log-level=0"]
VERDICTS = {"sp-pass", "sp-fail", "sp-error", "sp-skip", "sp-none"}


class Page(HTMLParser):
    """The tables of the rendered page (id, class, rows of (tag, class, text) cells) and the
    order in which the ids of interest appear."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self.stack: list[dict] = []
        self.cell: list | None = None
        self.order: list[str] = []
        self.title = ""
        self.in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.order.append(a["id"] or "")
        if tag == "h1":
            self.in_title = True
        if tag == "table":
            self.stack.append({"id": a.get("id") or "", "class": a.get("class") or "", "rows": [],
                               "inside_evidence": bool(self.stack) or False})
            self.tables.append(self.stack[-1])
        elif tag == "tr" and self.stack:
            self.stack[-1]["rows"].append([])
        elif tag in ("td", "th") and self.stack and self.stack[-1]["rows"]:
            self.cell = [tag, a.get("class") or "", ""]
            self.stack[-1]["rows"][-1].append(self.cell)

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.stack:
            self.stack.pop()
        elif tag in ("td", "th"):
            self.cell = None
        elif tag == "h1":
            self.in_title = False

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell[2] += data
        if self.in_title:
            self.title += data


@needs_root
@pytest.mark.slow
def test_the_report_opens_with_the_answer_in_colour_and_no_table_is_empty(tmp_path):
    report = tmp_path / "report.html"
    run = run_child_pytest(["suites/ce", "--variant", "ingress-all-ports", "-p", "no:randomly", "-q", "-o", "addopts=",
                            f"--html={report}", "--self-contained-html"], cwd=REPO, timeout=300)
    assert not run.timed_out and not run.left_labs and report.is_file(), run.stdout[-2000:] + run.stderr[-2000:]
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'chromium'}", "--dump-dom", report.as_uri()],
                         capture_output=True, text=True, timeout=120, check=False)
    assert dom.returncode == 0 and "<html" in dom.stdout, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line and ("rror" in line or "Uncaught" in line)]
    assert not console, console
    page = Page()
    page.feed(dom.stdout)
    assert "siteproof (built-in labs): 1 of 1 behaviour run fail: CE-1" in page.title, page.title
    # The answer is the first thing on the page: above pytest-html's environment table.
    assert page.order.index("sp-answer") < page.order.index("environment-header"), page.order[:10]
    [answer] = [t for t in page.tables if t["id"] == "sp-answer-table"]
    [row] = answer["rows"][1:]
    verdict = row[1]
    assert verdict[1] == "sp-fail" and verdict[2] == "FAIL", verdict
    assert "CE-1" in row[2][2] and "sp-fail" in str(row), row  # why it failed, in red
    # Every table siteproof put in the page (pytest-html's own environment and results aside).
    evidence = [t for t in page.tables if t["id"] not in ("environment", "results-table") and t["rows"] and t["rows"][0]
                and t["rows"][0][0][0] == "th"]
    assert len(evidence) >= 3, [t["id"] for t in page.tables]
    for table in evidence:
        header, *body = table["rows"]
        assert body, f"an evidence table without rows: {[c[2] for c in header]}"
        for cells in body:
            for _tag, css, text in cells:
                if text.strip() in ("within", "OUTSIDE", "pass", "FAIL", "passed", "failed"):
                    assert css in VERDICTS, f"verdict {text!r} without its colour in {[c[2] for c in header]}"
    assert Path(CHROMIUM).is_file()
