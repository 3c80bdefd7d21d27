"""Runs over time: what changed between two runs of the suites (nightly, before and after a
maintenance window).

A run's folder holds its JUnit XML (`junit.xml`: each test's verdict and its SPEC IDs as
`behaviour` properties) and its measurements (`measurements.json`: test -> name -> number).
`diff` gives the verdict changes per test and per SPEC ID and the measurements that moved by
more than a tolerance; `html` renders them, with a small trend line per measurement over the
runs given (pyATS/Genie's diff of two snapshots, for test results).
"""

from __future__ import annotations

import html as _html
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from siteproof import plots, report

JUNIT = "junit.xml"
MEASUREMENTS = "measurements.json"
LIMITS = "limits.json"  # beside the measurements: test -> name -> the limit it was held to
_RANK = {"passed": 0, "skipped": 1, "missing": 1, "failed": 2, "error": 3}  # 2 and up: a failure


@dataclass
class Run:
    name: str
    verdicts: dict[str, str] = field(default_factory=dict)  # test id -> passed/failed/error/skipped
    behaviours: dict[str, list[str]] = field(default_factory=dict)  # test id -> SPEC IDs
    measurements: dict[str, dict[str, float]] = field(default_factory=dict)  # test id -> name -> value
    messages: dict[str, str] = field(default_factory=dict)  # failed or errored test -> its message's first line
    bounds: dict[str, dict[str, float]] = field(default_factory=dict)  # test -> name -> its limit

    def by_behaviour(self) -> dict[str, str]:
        """Each SPEC ID's verdict: error or failed if any of its tests was; else passed if any
        passed; else skipped (a site run skips what it cannot test, which is no failure)."""
        found: dict[str, list[str]] = {}
        for test, ids in self.behaviours.items():
            for b in ids:
                found.setdefault(b, []).append(self.verdicts.get(test, "missing"))
        order = ("error", "failed", "passed", "skipped", "missing")
        return {b: next(v for v in order if v in verdicts) for b, verdicts in found.items()}


def test_id(case: ET.Element) -> str:
    return f"{case.get('classname', '').replace('.', '/')}.py::{case.get('name')}"


def load_run(folder: Path) -> Run:
    """A run from its folder; a missing part reads as empty (a run that died early)."""
    run = Run(folder.name)
    junit = folder / JUNIT
    if junit.is_file():
        for case in ET.parse(junit).getroot().iter("testcase"):  # noqa: S314 - our own report
            tid = test_id(case)
            outcome = "passed"
            for tag, name in (("error", "error"), ("failure", "failed"), ("skipped", "skipped")):
                found = case.find(tag)
                if found is not None:
                    outcome = name
                    if name != "skipped":
                        text = found.get("message") or found.text or ""
                        run.messages[tid] = next((line.strip() for line in text.splitlines() if line.strip()), "")[:500]
                    break
            run.verdicts[tid] = outcome
            props = case.find("properties")
            run.behaviours[tid] = [p.get("value", "") for p in (props if props is not None else [])
                                   if p.get("name") == "behaviour"]
    measured = folder / MEASUREMENTS
    if measured.is_file():
        run.measurements = json.loads(measured.read_text())
    limits = folder / LIMITS
    if limits.is_file():
        run.bounds = {t: numbers(v) for t, v in json.loads(limits.read_text()).items() if isinstance(v, dict)}
    return run


class DamagedRun(Exception):
    """A run's folder whose files cannot be read (cut short, edited, another tool's)."""


def load_run_checked(folder: Path) -> Run:
    """load_run, with any way a folder can be unreadable as one DamagedRun naming the reason."""
    try:
        run = load_run(folder)
    except ET.ParseError as exc:
        raise DamagedRun(f"{folder / JUNIT}: not JUnit XML ({exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DamagedRun(f"{folder / MEASUREMENTS}: not JSON ({exc})") from None
    except OSError as exc:
        raise DamagedRun(f"{folder}: unreadable ({exc.strerror})") from None
    if not isinstance(run.measurements, dict) or not all(isinstance(v, dict) for v in run.measurements.values()):
        raise DamagedRun(f"{folder / MEASUREMENTS}: not test -> name -> number")
    return run


def load_history(history: Path, skip: Path | None = None) -> tuple[list[Run], dict[str, str]]:
    """Every readable run of a history folder, oldest first, and the damaged ones (folder name ->
    why), which are listed and left out: one broken folder must not break every later run."""
    runs, damaged = [], {}
    for folder in runs_in(history):
        if skip is not None and folder.resolve() == skip:
            continue
        try:
            runs.append(load_run_checked(folder))
        except DamagedRun as exc:
            damaged[folder.name] = str(exc)
    return runs, damaged


def damaged_html(damaged: dict[str, str]) -> str:
    if not damaged:
        return ""
    rows = "".join(f"<tr><td>{_html.escape(n)}</td><td>{_html.escape(why)}</td></tr>" for n, why in sorted(damaged.items()))
    return (f"<h3>Damaged runs, left out</h3><table><tr><th>run</th><th>why it cannot be read</th></tr>{rows}</table>")


def numbers(values: dict[str, object]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool)}


@dataclass
class Diff:
    before: str
    after: str
    tests: list[tuple[str, str, str]]  # (test, before, after) where the verdict changed
    behaviours: list[tuple[str, str, str]]
    drifted: list[tuple[str, str, float, float]]  # (test, measurement, before, after) beyond the tolerance
    tolerance: float
    still_failing: list[str] = field(default_factory=list)  # failed (or errored) in both runs
    messages: dict[str, tuple[str, str]] = field(default_factory=dict)  # test -> (before's message, after's)

    @property
    def new_failures(self) -> list[str]:
        return [t for t, b, a in self.tests if _RANK.get(a, 0) >= 2 and _RANK.get(b, 0) < 2]

    @property
    def fixed(self) -> list[str]:
        return [t for t, b, a in self.tests if _RANK.get(b, 0) >= 2 and _RANK.get(a, 0) < 2]


def diff(before: Run, after: Run, tolerance: float = 0.5) -> Diff:
    """What changed from `before` to `after`; a measurement drifts when it moved by more than
    `tolerance` of its earlier value (0.5: half again, or half less)."""
    tests = [(t, before.verdicts.get(t, "missing"), after.verdicts.get(t, "missing"))
             for t in sorted(set(before.verdicts) | set(after.verdicts))
             if before.verdicts.get(t, "missing") != after.verdicts.get(t, "missing")]
    b_before, b_after = before.by_behaviour(), after.by_behaviour()
    behaviours = [(b, b_before.get(b, "missing"), b_after.get(b, "missing")) for b in sorted(set(b_before) | set(b_after))
                  if b_before.get(b, "missing") != b_after.get(b, "missing")]
    drifted = []
    for test in sorted(set(before.measurements) & set(after.measurements)):
        old, new = numbers(before.measurements[test]), numbers(after.measurements[test])
        for name in sorted(set(old) & set(new)):
            base = abs(old[name]) or 1e-9
            if abs(new[name] - old[name]) > tolerance * base:
                drifted.append((test, name, old[name], new[name]))
    still = sorted(t for t in set(before.verdicts) & set(after.verdicts)
                   if _RANK.get(before.verdicts[t], 0) >= 2 and _RANK.get(after.verdicts[t], 0) >= 2)
    failing = {t for t, _, a in tests if _RANK.get(a, 0) >= 2} | {t for t, b, _ in tests if _RANK.get(b, 0) >= 2} | set(still)
    messages = {t: (before.messages.get(t, ""), after.messages.get(t, "")) for t in failing}
    return Diff(before.name, after.name, tests, behaviours, drifted, tolerance, still, messages)


def as_json(d: Diff) -> dict[str, object]:
    """The comparison for tooling (`siteproof compare --format json`)."""
    return {"before": d.before, "after": d.after, "tolerance": d.tolerance,
            "new_failures": [{"test": t, "message": d.messages.get(t, ("", ""))[1]} for t in d.new_failures],
            "fixed": [{"test": t, "message_before": d.messages.get(t, ("", ""))[0]} for t in d.fixed],
            "still_failing": [{"test": t, "message_before": d.messages[t][0], "message_after": d.messages[t][1]}
                              for t in d.still_failing],
            "behaviours": [{"behaviour": b, "before": x, "after": y} for b, x, y in d.behaviours],
            "drifted": [{"test": t, "measured": n, "before": x, "after": y} for t, n, x, y in d.drifted]}


Bounds = dict[str, dict[str, float]]  # test -> measurement -> its limit in this run


def _trend(values: list[float], limit: float | None = None) -> str:
    """A measurement over runs, with its axis, points and (when the test set one) its limit dashed."""
    return plots.line_svg(values, limit)


def html_section(d: Diff, history: list[Run] | None = None, heading: str = "Since the last run",
                 bounds: Bounds | None = None) -> str:
    esc = _html.escape
    if bounds is None:  # the limits the latest run held its measurements to
        bounds = history[-1].bounds if history else {}
    parts = [f"<h2>{esc(heading)}</h2><p>{esc(d.before)} &rarr; {esc(d.after)}: {len(d.new_failures)} new failures, "
             f"{len(d.fixed)} fixed, {len(d.still_failing)} failing in both, "
             f"{len(d.drifted)} measurements moved by more than {d.tolerance:.0%}.</p>"]

    def table(title: str, header: list[str], rows: list[list[str]]) -> None:
        if not rows:
            parts.append(f"<p><b>{esc(title)}</b>: none</p>")
            return
        parts.append(f'<p><b>{esc(title)}</b></p><table class="sp-table"><tr>' + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>")
        parts.extend("<tr>" + "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
        parts.append("</table>")

    table("Verdicts per SPEC ID", ["behaviour", "before", "after"], [[esc(b), _verdict(x), _verdict(y)] for b, x, y in d.behaviours])
    table("Verdicts per test", ["test", "before", "after", "message"],
          [[esc(t), _verdict(x), _verdict(y), esc(d.messages.get(t, ("", ""))[1] or d.messages.get(t, ("", ""))[0])]
           for t, x, y in d.tests])
    table("Failing in both runs", ["test", "message before", "message after"],
          [[esc(t), esc(d.messages[t][0]), esc(d.messages[t][1])] for t in d.still_failing])
    rows = []
    for test, name, old, new in d.drifted:
        series = [numbers(r.measurements.get(test, {})).get(name) for r in (history or [])]
        rows.append([esc(test), esc(name), f"{old:g}", f"{new:g}", f"{(new - old) / (abs(old) or 1e-9):+.0%}",
                     _trend([v for v in series if v is not None], (bounds or {}).get(test, {}).get(name))])
    table("Measurements that drifted", ["test", "measured", "before", "after", "change", "trend"], rows)
    parts.append(trends_html(history or [], bounds))
    return "".join(parts)


def _verdict(outcome: str) -> str:
    """A verdict cell in its colour (the report's classes)."""
    return f'<td class="{report.OUTCOME_CLASS.get(outcome, "sp-none")}">{_html.escape(outcome)}</td>'


def trends_html(history: list[Run], bounds: Bounds | None = None) -> str:
    """Every measurement recorded in two or more of the runs: its last value, range, limit and
    trend line (the limit dashed across it)."""
    series: dict[tuple[str, str], list[float]] = {}
    for run in history:
        for test, values in run.measurements.items():
            for name, value in numbers(values).items():
                series.setdefault((test, name), []).append(value)
    bounds = bounds or {}

    def limit(t: str, n: str) -> str:
        found = bounds.get(t, {}).get(n)
        return "" if found is None else f"{found:g}"

    rows = [f"<tr><td>{_html.escape(t)}</td><td>{_html.escape(n)}</td><td>{v[-1]:g}</td><td>{min(v):g} - {max(v):g}</td>"
            f"<td>{limit(t, n)}</td><td>{_trend(v, bounds.get(t, {}).get(n))}</td></tr>"
            for (t, n), v in sorted(series.items()) if len(v) >= 2]
    if not rows:
        return ""
    return (f"<details open id='sp-trends'><summary><b>Trends</b>: {len(rows)} measurements over the last {len(history)} runs</summary>"
            '<table class="sp-table"><tr><th>test</th><th>measured</th><th>last</th><th>range</th><th>limit</th><th>trend</th></tr>'
            + "".join(rows) + "</table></details>")


def html_page(d: Diff, history: list[Run] | None = None, title: str = "siteproof: what changed",
              reports: list[Path] | None = None) -> str:
    """The comparison as a page; `reports`: each run's own report, linked (before, after)."""
    links = "".join(f'<p>{label} run: <a href="{_html.escape(r.resolve().as_uri())}">{_html.escape(str(r))}</a></p>'
                    for label, r in zip(("Before", "After"), reports or [], strict=False) if r.is_file())
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{_html.escape(title)}</title>"
            f"<style>body{{font-family:sans-serif}}</style>{report.STYLE}</head><body><h1>{_html.escape(title)}</h1>"
            f"{_headline(d)}{links}{html_section(d, history, 'Changes')}</body></html>")


def _headline(d: Diff) -> str:
    """The answer first: does the second run hold what the first did?"""
    if d.new_failures:
        return f'<h2 class="sp-fail">{len(d.new_failures)} new failure(s) since {_html.escape(d.before)}</h2>'
    if d.drifted:
        return f'<h2 class="sp-fail">No new failure; {len(d.drifted)} measurement(s) moved beyond {d.tolerance:.0%}</h2>'
    return '<h2 class="sp-pass">No new failure, no measurement moved beyond the tolerance</h2>'


def runs_in(history: Path) -> list[Path]:
    """The run folders of a history directory, oldest first (their names are UTC timestamps)."""
    return sorted(p for p in history.iterdir() if p.is_dir() and (p / JUNIT).is_file()) if history.is_dir() else []
