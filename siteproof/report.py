"""The report's evidence tables: SPEC coverage (ID, tests, verdicts, proving variant) and budgets.

Pure functions over plain data, so the plugin stays thin and the project's tests can check
the same index the report shows.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from siteproof import plots
from siteproof.errors import SiteproofError
from siteproof.topology.yamlfile import load_yaml_text

DEFAULT_SPEC = Path(__file__).resolve().parent.parent.parent / "shared" / "SPEC.md"
# "- **GW-1 ownership**: ..." -> ("GW-1", "ownership")
_SPEC_LINE = re.compile(r"^- \*\*(?P<id>[A-Z]+-\d+)(?P<title>[^*]*)\*\*", re.M)


def spec_ids(path: Path) -> dict[str, str]:
    """The behaviour IDs of SPEC.md with their short titles ({} when the file is absent)."""
    try:
        text = path.read_text()
    except OSError:
        return {}
    return {m["id"]: m["title"].strip() for m in _SPEC_LINE.finditer(text)}


@dataclass(frozen=True)
class Proof:
    variant: str  # "<topology>/<variant>"
    breaks: tuple[str, ...]
    expect: str


def variant_proofs(topologies: Path) -> dict[str, list[Proof]]:
    """suite test id -> the variants whose self-check makes it fail (read from variants/*.yml)."""
    proofs: dict[str, list[Proof]] = {}
    for path in sorted(topologies.glob("*/variants/*.yml")):
        try:
            doc = load_yaml_text(path.read_text(), str(path)) or {}
        except (OSError, SiteproofError):
            continue  # a broken variant file is the loader's error to report
        for check in doc.get("checks") or []:
            proofs.setdefault(str(check.get("test")), []).append(
                Proof(f"{path.parent.parent.name}/{path.stem}", tuple(doc.get("breaks") or ()), str(check.get("expect"))))
    return proofs


@dataclass(frozen=True)
class CoverageRow:
    behaviour: str
    title: str
    tests: tuple[tuple[str, str, tuple[str, ...]], ...]  # (test id, verdict, proving variants)


def coverage(spec: dict[str, str], tests: dict[str, list[str]], outcomes: dict[str, str],
             proofs: dict[str, list[Proof]]) -> list[CoverageRow]:
    """One row per SPEC ID (and per ID a test names that SPEC lacks), in SPEC order."""
    by_id: dict[str, list[str]] = {}
    for test, ids in tests.items():
        for behaviour in ids:
            by_id.setdefault(behaviour, []).append(test)
    order = list(spec) + sorted(set(by_id) - set(spec))
    rows = []
    for behaviour in order:
        entries = tuple(
            (test, outcomes.get(test, "not run"), tuple(p.variant for p in proofs.get(test, [])))
            for test in sorted(by_id.get(behaviour, []))
        )
        rows.append(CoverageRow(behaviour, spec.get(behaviour, "not in SPEC.md"), entries))
    return rows


# A test's outcome and the colour the report gives it.
OUTCOME_CLASS = {"passed": "sp-pass", "failed": "sp-fail", "error": "sp-error", "skipped": "sp-skip", "not run": "sp-none"}


def coverage_html(rows: list[CoverageRow], spec_found: bool = True) -> str:
    parts = ["<h2>Behaviour coverage</h2>"]
    if not spec_found:
        parts.append("<p>SPEC.md was not found (--spec): the table lists only the IDs the tests name.</p>")
    parts.append('<table class="sp-table"><tr><th>behaviour</th><th>test</th><th>verdict</th><th>proven able to fail by</th></tr>')
    for row in rows:
        label = f"<b>{html.escape(row.behaviour)}</b> {html.escape(row.title)}"
        if not row.tests:
            parts.append(f"<tr><td>{label}</td><td colspan=3>no test</td></tr>")
            continue
        for i, (test, verdict, variants) in enumerate(row.tests):
            first = f'<td rowspan="{len(row.tests)}">{label}</td>' if i == 0 else ""
            proof = ", ".join(variants) if variants else "not proven"
            parts.append(f"<tr>{first}<td>{html.escape(test)}</td><td class=\"{OUTCOME_CLASS.get(verdict, 'sp-none')}\">"
                         f"{html.escape(verdict)}</td><td>{html.escape(proof)}</td></tr>")
    parts.append("</table>")
    return "".join(parts)


def budgets_html(site: str, rows: list[tuple[str, str, float, str]]) -> str:
    body = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{kind}</td><td>{value:g}</td><td>{html.escape(source)}</td></tr>"
        for name, kind, value, source in rows
    )
    return (f"<details><summary>Budgets and thresholds of {html.escape(site)}</summary>"
            f"<table class=\"sp-table\"><tr><th>name</th><th>kind</th><th>value</th><th>from</th></tr>{body}</table></details>")


# The report's look, in every page that shows evidence: tables with borders, verdicts in colour.
STYLE = ("<style>.siteproof-evidence table,table.sp-table{border-collapse:collapse;margin:4px 0 10px}"
         ".siteproof-evidence td,.siteproof-evidence th,table.sp-table td,table.sp-table th{border:1px solid #9aa;"
         "padding:2px 6px;text-align:left;vertical-align:top}.siteproof-evidence th,table.sp-table th{background:#eef1f4;color:#222}"
         ".siteproof-evidence td:not([class]),table.sp-table td:not([class]){color:#111}"
         ".sp-pass{background:#d6f5d6;color:#0b4d0b}.sp-fail{background:#f9d2d2;color:#7a0000;font-weight:bold}"
         ".sp-error{background:#ffe2b8;color:#6b3c00;font-weight:bold}.sp-skip{background:#ececec;color:#444}"
         ".sp-none{color:#666}.sp-mark{background:#f9d2d2;font-weight:bold}</style>")

# A behaviour's verdict from its tests' outcomes, and the colour class the report gives it.
VERDICT_CLASS = {"FAIL": "sp-fail", "error": "sp-error", "pass": "sp-pass", "skipped": "sp-skip", "not run": "sp-none"}


def behaviour_verdict(outcomes: list[str]) -> str:
    """FAIL if any test failed, error if one could not run, pass if all that ran passed,
    skipped if all were skipped, not run if none ran in this session."""
    ran = [o for o in outcomes if o != "not run"]
    if not ran:
        return "not run"
    if "failed" in ran:
        return "FAIL"
    if "error" in ran:
        return "error"
    if any(o == "passed" for o in ran):
        return "pass"
    return "skipped"


def anchor(behaviour: str) -> str:
    return f"sp-ev-{re.sub(r'[^A-Za-z0-9-]', '-', behaviour)}"


def suite_behaviours(suites: Path) -> set[str]:
    """Every behaviour ID a suite test is marked with (read from the files, nothing collected):
    what tells "not run in this session" from "no test"."""
    found: set[str] = set()
    for path in suites.rglob("test_*.py"):
        for marker in re.finditer(r"behaviour\(([^)]*)\)", path.read_text()):
            found.update(re.findall(r"[\"']([A-Z]+-\d+)[\"']", marker[1]))
    return found


def answer_html(rows: list[CoverageRow], limits: dict[str, list[list[object]]], messages: dict[str, str],
                known: set[str] = frozenset()) -> str:
    """The report's first screen: one line per behaviour run in this session, its verdict in
    colour, what it measured against its limit (or why it failed) and a link to its evidence;
    then the IDs not run in this session and those without a test, apart."""
    ran = [(row, behaviour_verdict([v for _, v, _ in row.tests])) for row in rows if row.tests]
    judged = [(row, v) for row, v in ran if v != "not run"]
    css = "sp-fail" if any(v in ("FAIL", "error") for _, v in judged) else "sp-pass" if judged else "sp-none"
    parts = [STYLE, '<section id="sp-answer">', f'<h2 class="{css}" id="sp-headline">{html.escape(headline(rows))}</h2>',
             '<table class="sp-table" id="sp-answer-table"><tr><th>behaviour</th><th>verdict</th>'
             "<th>measured against its limit, or why it failed</th><th>tests</th><th>evidence</th></tr>"]
    for row, verdict in judged:
        said = []
        for test, outcome, _ in row.tests:
            if outcome in ("failed", "error") and messages.get(test):
                said.append(f'<span class="sp-fail">{html.escape(messages[test][:300])}</span>')
            measured = sorted(limits.get(test, []), key=lambda m: m[3] == "within")  # the ones outside first
            said += [f'<span class="{"sp-pass" if m[3] == "within" else "sp-fail"}">{html.escape(str(m[0]))}: '
                     f"{html.escape(str(m[1]))}{f' ({html.escape(str(m[2]))})' if m[2] else ''}</span>" for m in measured[:3]]
        counts = {o: sum(1 for _, v, _ in row.tests if v == o) for o in ("passed", "failed", "error", "skipped")}
        tests = ", ".join(f"{n} {o}" for o, n in counts.items() if n)
        parts.append(f"<tr><td><b>{html.escape(row.behaviour)}</b> {html.escape(row.title)}</td>"
                     f'<td class="{VERDICT_CLASS[verdict]}">{verdict}</td><td>{"<br>".join(said) or "-"}</td>'
                     f'<td>{tests}</td><td><a href="#{anchor(row.behaviour)}">evidence</a></td></tr>')
    parts.append("</table>")
    not_run = [row.behaviour for row in rows if (row.tests and not any(v != "not run" for _, v, _ in row.tests))
               or (not row.tests and row.behaviour in known)]
    no_test = [row.behaviour for row in rows if not row.tests and row.behaviour not in known]
    if not_run:
        parts.append(f'<p id="sp-not-run"><b>Not run in this session</b> ({len(not_run)}): {html.escape(", ".join(not_run))}</p>')
    if no_test:
        parts.append(f'<p id="sp-no-test"><b>No test</b> ({len(no_test)}): {html.escape(", ".join(no_test))}</p>')
    # pytest-html puts its environment table first: the answer goes above it (no script: below it).
    # The page's title is fixed when the run starts: the verdict is added to it here.
    parts.append("</section><script>(function(){var a=document.getElementById('sp-answer'),"
                 "e=document.getElementById('environment-header'),t=document.getElementById('title'),"
                 "h=document.getElementById('sp-headline');if(a&&e){e.parentNode.insertBefore(a,e);}"
                 "if(t&&h){t.textContent=t.textContent+': '+h.textContent;document.title=t.textContent;}})();</script>")
    return "".join(parts)


def headline(rows: list[CoverageRow]) -> str:
    """The run in one line: which behaviours fail, or that all that ran pass."""
    judged = [(row, v) for row in rows if row.tests and (v := behaviour_verdict([o for _, o, _ in row.tests])) != "not run"]
    failing = [row.behaviour for row, v in judged if v in ("FAIL", "error")]
    noun = "behaviour" if len(judged) == 1 else "behaviours"
    if failing:
        return f"{len(failing)} of {len(judged)} {noun} run fail: {', '.join(failing)}"
    if judged:
        return f"All {len(judged)} {noun} run pass" if len(judged) > 1 else f"The one behaviour run passes ({judged[0][0].behaviour})"
    return "No behaviour was run in this session"


def shared_plots_html(tests: list[str], measured: dict[str, dict[str, float]], bounds: dict[str, dict[str, float]]) -> str:
    """One plot per measurement that two or more of a behaviour's tests took against a limit
    (GW-2's traffic gap under each fault): side by side, each bar against its own limit."""
    names: dict[str, list[str]] = {}
    for test in tests:
        for name in bounds.get(test, {}):
            if name in measured.get(test, {}):
                names.setdefault(name, []).append(test)
    parts = []
    for name, taken in names.items():
        if len(taken) < 2:
            continue
        labels = {t: _short(t) for t in taken}
        svg = plots.bars_svg({labels[t]: measured[t][name] for t in taken}, limits={labels[t]: bounds[t][name] for t in taken})
        parts.append(f'<p class="sp-shared"><b>{html.escape(name)}</b>, each test against its limit</p>{svg}')
    return "".join(parts)


def _short(test: str) -> str:
    """A test's label in a shared plot: its parameters if it has them, else its name."""
    name = test.rsplit("::", 1)[-1]
    return name[name.index("[") + 1:-1] if name.endswith("]") and "[" in name else name


def evidence_section_html(rows: list[CoverageRow], evidence: dict[str, str], measured: dict[str, dict[str, float]] | None = None,
                          bounds: dict[str, dict[str, float]] | None = None) -> str:
    """Each behaviour run, with every test's verdict and evidence: what the first screen links to
    (a failing behaviour's open, the others folded). A measurement its tests share is plotted once
    for all of them first."""
    parts = ['<section id="sp-evidence"><h2>Evidence by behaviour</h2>']
    for row in rows:
        verdict = behaviour_verdict([v for _, v, _ in row.tests]) if row.tests else "not run"
        if verdict == "not run":
            continue
        opened = " open" if verdict in ("FAIL", "error") else ""
        parts.append(f'<details id="{anchor(row.behaviour)}"{opened}><summary><b>{html.escape(row.behaviour)}</b> '
                     f'{html.escape(row.title)}: <span class="{VERDICT_CLASS[verdict]}">{verdict}</span></summary>')
        parts.append(shared_plots_html([t for t, outcome, _ in row.tests if outcome != "not run"], measured or {}, bounds or {}))
        for test, outcome, _ in row.tests:
            if outcome == "not run":
                continue
            css = OUTCOME_CLASS.get(outcome, "sp-skip")
            parts.append(f'<p>{html.escape(test)}: <span class="{css}">{html.escape(outcome)}</span></p>')
            parts.append(evidence.get(test, "<p>(no evidence recorded)</p>"))
        parts.append("</details>")
    parts.append("</section>")
    return "".join(parts)
