"""The mutation run's results: scores per SPEC ID and per operator, as JSON and one HTML page."""

from __future__ import annotations

import html
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from siteproof.mutate.runner import Outcome

JUDGED = ("caught", "survived", "crashed")  # the score's denominator: invalid and equivalent are not
COLOURS = {"caught": "#1a7f37", "survived": "#cf222e", "crashed": "#9a6700", "invalid": "#6e7781", "equivalent": "#6e7781"}


def score(outcomes: list[Outcome]) -> dict[str, Any]:
    counts = Counter(o.outcome for o in outcomes)
    judged = sum(counts[k] for k in JUDGED)
    return {"caught": counts["caught"], "judged": judged, "score": round(counts["caught"] / judged, 3) if judged else None,
            "counts": dict(counts)}


def by_operator(outcomes: list[Outcome]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        groups[o.operator].append(o)
    return {name: score(group) for name, group in sorted(groups.items())}


def by_behaviour(outcomes: list[Outcome]) -> dict[str, dict[str, int]]:
    """Per SPEC ID: mutants its tests caught, and mutants that survived while its tests ran."""
    table: dict[str, dict[str, int]] = defaultdict(lambda: {"caught": 0, "survived": 0})
    for o in outcomes:
        if o.outcome == "caught":
            for spec in o.behaviours.get(o.test) or ["(unmarked)"]:
                table[spec]["caught"] += 1
        elif o.outcome == "survived":
            for spec in sorted({s for t in o.tests_run for s in o.behaviours.get(t, [])}) or ["(no test ran)"]:
                table[spec]["survived"] += 1
    return dict(sorted(table.items()))


def results(meta: dict[str, Any], outcomes: list[Outcome]) -> dict[str, Any]:
    return {**meta, "score": score(outcomes), "by_operator": by_operator(outcomes),
            "by_behaviour": by_behaviour(outcomes), "mutants": [o.as_dict() for o in outcomes]}


def write(folder: Path, doc: dict[str, Any]) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    data, page = folder / "mutate.json", folder / "mutate.html"
    data.write_text(json.dumps(doc, indent=2))
    page.write_text(render(doc))
    return data, page


def _e(value: object) -> str:
    return html.escape(str(value))


def _score_text(s: dict[str, Any]) -> str:
    return "n/a" if s["score"] is None else f"{s['score'] * 100:.0f}% ({s['caught']} of {s['judged']})"


def render(doc: dict[str, Any]) -> str:
    s = doc["score"]
    counts = " · ".join(f'<span style="color:{COLOURS[k]}">{v} {k}</span>' for k, v in sorted(s["counts"].items()))
    rows_op = "".join(
        f"<tr><td>{_e(name)}</td><td>{_score_text(v)}</td><td>{_e(', '.join(f'{n} {k}' for k, n in sorted(v['counts'].items())))}</td></tr>"
        for name, v in doc["by_operator"].items())
    rows_spec = "".join(f"<tr><td>{_e(spec)}</td><td>{v['caught']}</td><td>{v['survived']}</td></tr>"
                        for spec, v in doc["by_behaviour"].items())
    rows_mut = []
    for m in doc["mutants"]:
        colour = COLOURS.get(m["outcome"], "#000")
        detail = _e(m["message"]) + (f"<br><code>{_e(m['test'])}</code>" if m["test"] else "")
        name = (f'<a href="#{_e(m["mutant"])}">{_e(m["mutant"])}</a>' if m["outcome"] == "survived"
                else _e(m["mutant"]))
        rows_mut.append(f'<tr><td>{name}</td><td>{_e(m["operator"])}</td><td>{_e(m["summary"])}</td>'
                        f'<td style="color:{colour};font-weight:bold">{_e(m["outcome"])}</td><td>{detail}</td>'
                        f'<td>{m["seconds"]:.0f} s</td></tr>')
    survivors = "".join(
        f'<h3 id="{_e(m["mutant"])}">{_e(m["mutant"])} · {_e(m["operator"])} · {_e(m["summary"])}</h3>'
        f'<p>Threatens {_e(", ".join(m["threatens"]))}. {len(m["tests_run"])} tests ran and passed'
        f'{": " + _e(", ".join(m["tests_run"])) if m["tests_run"] else " (" + _e(m["message"]) + ")"}.</p>'
        + "".join(f"<pre>{_e(chr(10).join(lines))}</pre>" for lines in m["diff"].values())
        for m in doc["mutants"] if m["outcome"] == "survived")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>siteproof mutate: {_e(doc['topology'])}</title>
<style>body{{font-family:sans-serif;margin:1.5em;max-width:80em}} table{{border-collapse:collapse;margin-bottom:1.5em}}
td,th{{border:1px solid #d0d7de;padding:.25em .6em;text-align:left;vertical-align:top}} th{{background:#f6f8fa}}
pre{{background:#f6f8fa;padding:.5em;overflow-x:auto}} .score{{font-size:2em;font-weight:bold}}</style></head>
<body>
<h1>Mutation score of {_e(doc['topology'])}</h1>
<p class="score" id="score">{_score_text(s)}</p>
<p>{counts}. Seed {_e(doc['seed'])}; {_e(f"a sample of {doc['sample']}" if doc['sample'] else 'every candidate')} asked for,
{len(doc['mutants'])} mutants judged in {doc['seconds']:.0f} s.
Score: caught / (caught + survived + crashed); invalid and equivalent mutants do not count.</p>
<h2>Per operator</h2>
<table id="by-operator"><tr><th>operator</th><th>score</th><th>mutants</th></tr>{rows_op}</table>
<h2>Per SPEC ID</h2>
<table id="by-behaviour"><tr><th>SPEC ID</th><th>caught by its tests</th><th>survived while its tests ran</th></tr>{rows_spec}</table>
<h2>Mutants</h2>
<table id="mutants"><tr><th>mutant</th><th>operator</th><th>change</th><th>outcome</th><th>evidence</th><th>time</th></tr>
{''.join(rows_mut)}</table>
<h2>Survivors</h2>
{survivors or '<p>None.</p>'}
</body></html>
"""
