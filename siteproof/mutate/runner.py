"""Run the suites against one mutant and say what became of it.

caught: a test failed by an assertion (the test and the first line of its message);
survived: every test that ran passed (or none of the threatened behaviours has a test here);
crashed: a test failed by another exception (a defect of the suite: it neither caught nor passed);
invalid: the topology loader or a daemon refused the mutant's config (the reason);
equivalent: the mutant's configs are the original's, and so is the kernel state of every node
of its built lab, read back (the suites are not run).
"""

from __future__ import annotations

import re
import shutil
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from siteproof.childrun import run_child_pytest
from siteproof.errors import SiteproofError, TopologyError
from siteproof.mutate.labstate import Baseline, read_built, state_differences, sysctl_keys
from siteproof.mutate.mutants import Mutant, configs_differ, differences, write_variant
from siteproof.runrecord import redacted_text
from siteproof.topology import load_topology

REPO = Path(__file__).resolve().parents[2]
SUITES = REPO / "suites"
CHILD_TIMEOUT_S = 600.0
# A bring-up refused: the exception types of a lab or daemon that would not start.
_REFUSED = ("LabError", "DaemonError", "TopologyError")


@dataclass
class Outcome:
    mutant: str
    operator: str
    threatens: list[str]
    node: str
    summary: str
    outcome: str  # caught, survived, crashed, invalid, equivalent
    test: str = ""  # the catching (or crashing) test
    message: str = ""  # its first line, or why the mutant is invalid
    tests_run: list[str] = field(default_factory=list)
    behaviours: dict[str, list[str]] = field(default_factory=dict)  # test -> its SPEC IDs
    diff: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunSettings:
    overrides: dict[str, Any]
    profile: str = "lab"
    workers: int = 0
    suites: tuple[str, ...] = (str(SUITES),)
    timeout: float = CHILD_TIMEOUT_S
    victim_seed: int = 1


def copy_topology(folder: Path, into: Path, name: str | None = None) -> Path:
    """The topology folder copied (its own variants left out), for the mutants' variant files,
    under the name its topology.yml declares: the suites choose their topology by that name, so a
    user's folder may be called anything."""
    target = into / (name or folder.name)
    shutil.copytree(folder, target, ignore=shutil.ignore_patterns("variants", "__pycache__"))
    return target


def judge(mutant: Mutant, baseline: Baseline, copy: Path, work: Path, settings: RunSettings) -> Outcome:
    """Build the mutant's variant, decide whether it is invalid or equivalent, else run its suites."""
    started = time.monotonic()
    result = redact(_judge(mutant, baseline, copy, work, settings))
    result.seconds = time.monotonic() - started
    return result


def _judge(mutant: Mutant, baseline: Baseline, copy: Path, work: Path, settings: RunSettings) -> Outcome:
    cand = mutant.candidate
    result = Outcome(mutant.id, mutant.operator, list(mutant.threatens), cand.node, cand.summary, "survived")
    write_variant(copy, mutant)
    try:
        built = load_topology(copy, settings.overrides, mutant.id, settings.profile)
    except TopologyError as exc:
        result.outcome, result.message = "invalid", f"the topology loader refused it: {exc}"
        return result
    result.diff = differences(baseline.topology, built)
    if not configs_differ(baseline.topology, built):
        # Only kernel state may differ: built and read back, not predicted. The original's lab
        # must come up (an error there ends the run); the mutant's may be refused.
        keys = sysctl_keys(baseline.topology, built)
        before = baseline.state(keys)
        try:
            result.diff = state_differences(before, read_built(built, keys))
        except SiteproofError as exc:
            result.outcome, result.message = "invalid", f"the lab would not come up: {_first_line(str(exc))}"
            return result
        if not result.diff:
            result.outcome = "equivalent"
            result.message = ("its configs are the original's, and its built lab's links, addresses, routes, rules "
                              "and sysctls on every node are the same as the original's")
            return result
    _run_suites(mutant, copy, work, settings, result)
    return result


def redact(result: Outcome) -> Outcome:
    """Nothing secret reaches the page: a TSIG secret or VRRP password in a diff or a message."""
    result.summary, result.message = redacted_text(result.summary), redacted_text(result.message)
    result.diff = {node: [redacted_text(line) for line in lines] for node, lines in result.diff.items()}
    return result


def _run_suites(mutant: Mutant, copy: Path, work: Path, settings: RunSettings, result: Outcome) -> None:
    junit = work / f"{mutant.id}.xml"
    args = [*settings.suites, "--topologies", str(copy.parent), "--variant", mutant.id, "--only-topology", copy.name,
            "--behaviour", ",".join(mutant.threatens), "--maxfail=1", "-p", "no:randomly", "-p", "no:cacheprovider",
            "-o", "addopts=", f"--junitxml={junit}", "-q", "--profile", settings.profile,
            f"--victim-seed={settings.victim_seed}", *[f"--set={k}={v}" for k, v in settings.overrides.items()]]
    if settings.workers > 1:
        args += ["-n", str(settings.workers)]
    run = run_child_pytest(args, cwd=REPO, timeout=settings.timeout)
    if run.timed_out or not junit.is_file():
        result.outcome = "crashed"
        result.message = (f"the suites ran past {settings.timeout:.0f} s" if run.timed_out else
                          f"pytest wrote no results (exit {run.returncode}): {(run.stderr or run.stdout)[-400:]}")
        return
    classify(ET.parse(junit).getroot(), result)  # noqa: S314 - our own child's report


def suite_tests(copy: Path, settings: RunSettings, behaviours: list[str]) -> list[str]:
    """The suite tests that would judge this topology's mutants (collected, nothing run)."""
    args = [*settings.suites, "--topologies", str(copy.parent), "--only-topology", copy.name, "--collect-only", "-q",
            "--behaviour", ",".join(behaviours), "-p", "no:randomly", "-p", "no:cacheprovider", "-o", "addopts="]
    run = run_child_pytest(args, cwd=REPO, timeout=120)
    return [line.strip() for line in run.stdout.splitlines() if "::" in line and not line.startswith(" ")]


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def classify(root: ET.Element, result: Outcome) -> None:
    """The outcome from a child run's JUnit XML: the first failure decides."""
    for case in root.iter("testcase"):
        test = f"{case.get('classname', '').replace('.', '/')}.py::{case.get('name')}"
        result.tests_run.append(test)
        result.behaviours[test] = [p.get("value", "") for p in case.iter("property") if p.get("name") == "behaviour"]
        for tag in ("failure", "error"):
            found = case.find(tag)
            if found is None or result.outcome != "survived":
                continue
            message = found.get("message") or ""
            # An error in a fixture: 'failed on setup with "module.Error: text"'.
            wrapped = re.match(r'failed on (?:setup|teardown) with "(.*)"$', message, re.S)
            message = wrapped[1] if wrapped else message
            kind, _, text = message.partition(": ")
            kind = kind.rsplit(".", 1)[-1]
            result.test, result.message = test, _first_line(text or message)
            # The site fixture reports a lab that would not come up as 'Failed: siteproof: ...'.
            if kind.endswith(_REFUSED) or (tag == "error" and text.startswith("siteproof: ")):
                result.outcome, result.message = "invalid", f"the lab would not come up: {result.message}"
            elif tag == "failure" and kind.endswith(("AssertionError", "WaitTimeout", "Failed")):
                result.outcome = "caught"
            else:
                result.outcome, result.message = "crashed", f"{kind}: {result.message}"
    if not result.tests_run:
        result.message = "no test of " + ", ".join(result.threatens) + " runs against this topology"
