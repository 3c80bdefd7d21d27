"""One mutation run: choose the mutants of a topology, judge each in turn, write the results."""

from __future__ import annotations

import contextlib
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from siteproof.errors import SiteproofError
from siteproof.mutate import page
from siteproof.mutate.labstate import Baseline
from siteproof.mutate.mutants import choose, unknown_operators
from siteproof.mutate.registry import OPERATORS
from siteproof.mutate.runner import REPO, Outcome, RunSettings, copy_topology, judge, suite_tests
from siteproof.topology import clab, load_topology
from siteproof.topology.loader import TOPOLOGY_FILE


@dataclass(frozen=True)
class Request:
    folder: Path
    operators: list[str]
    sample: int | None
    seed: int
    nodes: list[str]
    settings: RunSettings
    out: Path


def _fixed_secrets(req: Request) -> RunSettings:
    """A topology whose secrets are random per lab (tsig_seed empty) gets one seed for the whole
    run: the mutants' patches are made on one rendering and must apply to every lab's."""
    declared = load_topology(req.folder, req.settings.overrides, None, req.settings.profile).parameters
    if "tsig_seed" in declared and not declared["tsig_seed"]:
        return replace(req.settings, overrides={**req.settings.overrides, "tsig_seed": secrets.token_hex(8)})
    return req.settings


def run(req: Request, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Judge the chosen mutants one after another and write mutate.json and mutate.html."""
    unknown = unknown_operators(req.operators)
    if unknown:
        raise SiteproofError(f"unknown mutation operator(s) {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(OPERATORS))}; `siteproof mutate --list-operators`)")
    settings = _fixed_secrets(req)
    req = Request(req.folder, req.operators, req.sample, req.seed, req.nodes, settings, req.out)
    original = load_topology(req.folder, settings.overrides, None, settings.profile)
    missing = [n for n in req.nodes if n not in original.nodes]
    if missing:
        raise SiteproofError(f"--nodes: {', '.join(missing)} not in topology {original.name}")
    mutants = choose(original, req.operators or None, req.sample, req.seed, req.nodes or None)
    if not mutants:
        raise SiteproofError(f"no operator finds anything to change in {original.name}"
                             + (f" on {', '.join(req.nodes)}" if req.nodes else ""))
    started = time.monotonic()
    outcomes: list[Outcome] = []
    # The mutants' variant files hold rendered configs (secrets among them): a private folder
    # (mkdtemp makes it 0700) that goes when the run does.
    baseline = Baseline(original)
    with tempfile.TemporaryDirectory(prefix="siteproof-mutate-") as tmp, contextlib.closing(baseline):
        work = Path(tmp)
        copy = copy_topology(req.folder, work / "topologies", original.name)
        threatened = sorted({b for m in mutants for b in m.threatens})
        if not suite_tests(copy, req.settings, threatened):
            raise SiteproofError(
                f"no suite test judges topology {original.name!r} (the `name:` of {topology_file(req.folder)}) for "
                f"{', '.join(threatened)}: the suites choose their topology by that name (built-in: "
                f"{', '.join(sorted(p.name for p in (REPO / 'topologies').iterdir() if p.is_dir()))}); "
                "a replica of a built-in topology keeps its name, and a lab of your own needs --suites with tests "
                "marked pytest.mark.topology(its name)")
        for i, mutant in enumerate(mutants, 1):
            say(f"[{i}/{len(mutants)}] {mutant.id} {mutant.operator}: {mutant.candidate.summary.split(': ', 1)[0]} ...")
            outcome = judge(mutant, baseline, copy, work, req.settings)
            outcomes.append(outcome)
            say(f"    {outcome.outcome} in {outcome.seconds:.0f} s"
                + (f": {outcome.message[:160]}" if outcome.message else ""))
    meta = {"topology": original.name, "folder": str(req.folder), "seed": req.seed, "sample": req.sample,
            "operators": req.operators or sorted(OPERATORS), "nodes": req.nodes, "profile": req.settings.profile,
            "seconds": round(time.monotonic() - started, 1)}
    doc = page.results(meta, outcomes)
    data, html = page.write(req.out, doc)
    s = doc["score"]
    said = "n/a" if s["score"] is None else f"{s['caught']} of {s['judged']} caught ({s['score'] * 100:.0f}%)"
    say(f"siteproof mutate: {original.name}: {said}; {s['counts']}; {html} and {data.name}")
    return doc


def topology_file(folder: Path) -> Path:
    """The file a topology folder is read from: its containerlab file, or topology.yml."""
    return clab.clab_file(folder) or folder / TOPOLOGY_FILE
