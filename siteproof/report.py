"""The report's evidence tables: SPEC coverage (ID, tests, verdicts, proving variant) and budgets.

Pure functions over plain data, so the plugin stays thin and the project's tests can check
the same index the report shows.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

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


def coverage_html(rows: list[CoverageRow], spec_found: bool = True) -> str:
    parts = ["<h2>Behaviour coverage</h2>"]
    if not spec_found:
        parts.append("<p>SPEC.md was not found (--spec): the table lists only the IDs the tests name.</p>")
    parts.append("<table><tr><th>behaviour</th><th>test</th><th>verdict</th><th>proven able to fail by</th></tr>")
    for row in rows:
        label = f"<b>{html.escape(row.behaviour)}</b> {html.escape(row.title)}"
        if not row.tests:
            parts.append(f"<tr><td>{label}</td><td colspan=3>no test</td></tr>")
            continue
        for i, (test, verdict, variants) in enumerate(row.tests):
            first = f'<td rowspan="{len(row.tests)}">{label}</td>' if i == 0 else ""
            proof = ", ".join(variants) if variants else "not proven"
            parts.append(f"<tr>{first}<td>{html.escape(test)}</td><td>{html.escape(verdict)}</td><td>{html.escape(proof)}</td></tr>")
    parts.append("</table>")
    return "".join(parts)


def budgets_html(site: str, rows: list[tuple[str, str, float, str]]) -> str:
    body = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{kind}</td><td>{value:g}</td><td>{html.escape(source)}</td></tr>"
        for name, kind, value, source in rows
    )
    return (f"<details><summary>Budgets and thresholds of {html.escape(site)}</summary>"
            f"<table><tr><th>name</th><th>kind</th><th>value</th><th>from</th></tr>{body}</table></details>")
