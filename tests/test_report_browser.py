"""What an operator sees: the report of a small run (a child pytest of made-up tests that record
evidence as the suites do, for CAN-1, GW-1 and DTN-3: no lab, so it is quick), opened in
headless Chromium (Debian's chromium) after its scripts ran. The answer comes first and names
the failing behaviour, every verdict is in colour, every evidence table has rows, and the page
logs no console error. (The report of real suites is rendered by the same code; CI's own
`reports/tests.html` is one.)"""

from __future__ import annotations

import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

from siteproof.childrun import PLUGIN
from tests.helpers import REPO

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


RUN = """
import pytest


@pytest.mark.behaviour("GW-1")
def test_one_holder_per_vip(evidence):
    evidence.measure("VIPs with one holder", 48, at_least=48, unit=" of 48")
    evidence.table("VIPs held, gateway x VRRP group", ["gateway", "HSN_01", "HSN_02"], [["gw01", "2/2", ""], ["gw02", "", "2/2"]])


@pytest.mark.behaviour("CAN-1")
def test_only_mfa_networks_reach_the_can(evidence):
    evidence.table("CAN-1 traffic matrix", ["from \\\\ to", "can1 tcp/22"], [["mfa1", "ok"], ["user1", "WRONG: answered"]],
                   marked={(1, 1)})
    evidence.measure("CAN-1 cells as expected", 1, at_least=2, unit=" of 2")
    assert False, "CAN-1: 1 of 2 cells wrong: user1 -> can1 tcp/22: answered"


@pytest.mark.behaviour("GW-2")
@pytest.mark.parametrize("fault", ["crash", "cable"])
def test_takeover(evidence, fault):
    evidence.measure("traffic gap (ms)", {"crash": 900.0, "cable": 400.0}[fault], at_most=3000, limit_name="vrrp_takeover")


@pytest.mark.behaviour("DTN-3")
def test_throughput_per_attachment(evidence):
    evidence.bars("best throughput", {"native": 10.0, "bridge": 8.0}, " Gbit/s", limits={"bridge": 5.0})
    evidence.measure("bridge: best / native", 0.8, at_least=0.5, limit_name="dtn_bridge_ratio")
"""


def _run(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", *PLUGIN, str(tmp_path / "test_run.py"), "-p", "no:randomly", "-q",
                           "-o", "addopts=", "--rootdir", str(tmp_path), *options],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=False)


def test_the_report_opens_with_the_answer_in_colour_and_no_table_is_empty(tmp_path):
    (tmp_path / "test_run.py").write_text(RUN)
    report, earlier = tmp_path / "report.html", tmp_path / "history" / "20261206T000000Z"
    earlier.mkdir(parents=True)  # the night before, so the report has a trend to draw
    first = _run(tmp_path, f"--junitxml={earlier / 'junit.xml'}", f"--measurements-json={earlier / 'measurements.json'}")
    assert first.returncode == 1 and (earlier / "limits.json").is_file(), first.stdout[-2000:] + first.stderr[-2000:]
    # Tonight DTN-3's bridge falls below its limit: a new failure since the night before.
    (tmp_path / "test_run.py").write_text(RUN.replace('("bridge: best / native", 0.8,', '("bridge: best / native", 0.4,')
                                          + '    assert False, "DTN-3: bridge attachment reaches 0.4 of native (limit 0.5)"\n')
    run = _run(tmp_path, f"--history={earlier.parent}", f"--html={report}", "--self-contained-html")
    assert run.returncode == 1 and report.is_file(), run.stdout[-2000:] + run.stderr[-2000:]
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'chromium'}", "--dump-dom", report.as_uri()],
                         capture_output=True, text=True, timeout=120, check=False)
    assert dom.returncode == 0 and "<html" in dom.stdout, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line and ("rror" in line or "Uncaught" in line)]
    assert not console, console
    page = Page()
    page.feed(dom.stdout)
    assert "siteproof (built-in labs): 2 of 4 behaviours run fail: CAN-1, DTN-3" in page.title, page.title
    # The answer is the first thing on the page: above pytest-html's environment table.
    assert page.order.index("sp-answer") < page.order.index("environment-header"), page.order[:10]
    [answer] = [t for t in page.tables if t["id"] == "sp-answer-table"]
    rows = {r[0][2].split()[0]: r for r in answer["rows"][1:]}
    assert set(rows) == {"GW-1", "GW-2", "DTN-3", "CAN-1"}, list(rows)
    assert 'class="sp-plot"' in dom.stdout and 'stroke-dasharray="4 3"' in dom.stdout  # DTN-3's bars, each against its limit
    assert rows["CAN-1"][1][1:] == ["sp-fail", "FAIL"], rows["CAN-1"]
    assert "1 of 2 cells wrong" in rows["CAN-1"][2][2], rows["CAN-1"]  # why it failed
    assert rows["GW-1"][1][1:] == ["sp-pass", "pass"] and "48 of 48" in rows["GW-1"][2][2], rows["GW-1"]
    matrices = [t for t in page.tables if t["rows"] and [c[2] for c in t["rows"][0]][1:] == ["can1 tcp/22"]]
    assert matrices, "the CAN-1 matrix is not in the page"
    for matrix in matrices:  # in the evidence section and beside the test in pytest-html's table
        assert matrix["rows"][2][1][1:] == ["sp-mark", "WRONG: answered"], matrix["rows"]  # the wrong cell, marked
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
    # GW-2's gaps under each fault in one plot, each bar against its limit.
    shared = dom.stdout.split('id="sp-ev-GW-2"', 1)[1].split("</details>", 1)[0]
    plot = shared.split('class="sp-shared"', 1)[1].split("</svg>", 1)[0]
    assert "traffic gap (ms)" in plot and ">crash<" in plot and ">cable<" in plot and plot.count("stroke-dasharray") >= 2, plot[:1500]
    # Since the last run: DTN-3's message shown beside its verdict, both in colour.
    [per_test] = [t for t in page.tables if t["rows"] and [c[2] for c in t["rows"][0]] == ["test", "before", "after", "message"]]
    dtn3 = [r for r in per_test["rows"][1:] if "throughput" in r[0][2]]
    assert dtn3 and dtn3[0][1][1] == "sp-pass" and dtn3[0][2][1] == "sp-fail" and "0.4 of native" in dtn3[0][3][2], per_test["rows"]
    # The trend of GW-1's count over the two runs, with its points and its limit dashed across it.
    [trends] = [t for t in page.tables if t["rows"] and [c[2] for c in t["rows"][0]] == ["test", "measured", "last", "range",
                                                                                        "limit", "trend"]]
    gw1 = [r for r in trends["rows"][1:] if r[1][2] == "VIPs with one holder"]
    assert gw1 and gw1[0][4][2] == "48", trends["rows"]
    trend_svg = dom.stdout.split("sp-trends", 1)[1].split("</svg>", 1)[0]
    assert trend_svg.count("<circle") == 2 and 'stroke-dasharray="4 3"' in trend_svg, trend_svg[:1500]
    assert Path(CHROMIUM).is_file()
