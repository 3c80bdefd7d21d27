"""Known-bad variants: each makes its behaviours' tests fail, for the stated reasons.

A variant lists checks: a suite test it must make fail and a phrase its assertion message
must contain (the message alone: see tests/selfcheck.py). All of a variant's tests run in
one fresh pytest against a lab built from it.
"""

from __future__ import annotations

import re
import secrets
import xml.etree.ElementTree as ET

import pytest

from siteproof.topology import load_topology
from tests.helpers import REPO, needs_root
from tests.selfcheck import failed_for, run_child_pytest, verdict

TOPOLOGIES = REPO / "topologies"
# The slowest variant takes about 90 s on a 2-core machine; a hung one must not hold CI for long.
CHILD_TIMEOUT_S = 300
SECRET_VALUE = re.compile(r'(?i)(?:secret|auth_pass|password)"?\s*[:=]?\s*"?([A-Za-z0-9+/=]{12,})')
VARIANTS = sorted(
    (topo.name, v.stem) for topo in TOPOLOGIES.iterdir() if (topo / "variants").is_dir()
    for v in (topo / "variants").glob("*.yml")
)


def _case_id(case: ET.Element) -> str:
    """suites/test_x.py::test_y[param] from a JUnit testcase element."""
    module = case.get("classname", "").replace(".", "/") + ".py"
    return f"{module}::{case.get('name')}"


@needs_root
@pytest.mark.selfcheck
@pytest.mark.parametrize(("topology", "variant"), VARIANTS, ids=[f"{t}:{v}" for t, v in VARIANTS])
def test_variant_fails_its_tests_for_the_stated_reasons(topology, variant, tmp_path):
    topo = load_topology(TOPOLOGIES / topology, variant=variant)
    info, checks = topo.variant_info, topo.variant_info["checks"]
    # Lab secrets are random per lab; a self-check derives them from a seed of its own, so that
    # it knows the secrets to look for in the report.
    overrides = {"tsig_seed": secrets.token_hex(8)} if "tsig_seed" in topo.parameters else {}
    junit, report = tmp_path / "junit.xml", tmp_path / "report.html"
    run = run_child_pytest(
        [*[c["test"] for c in checks], "--variant", variant, "-p", "no:randomly",
         *[f"--set={k}={v}" for k, v in overrides.items()],
         f"--junitxml={junit}", f"--html={report}", "--self-contained-html", "-q", "-o", "addopts="],
        cwd=REPO, timeout=CHILD_TIMEOUT_S,
    )
    assert not run.timed_out, f"variant {variant}: its pytest ran past {CHILD_TIMEOUT_S} s\n{run.stdout[-2000:]}"
    assert not run.left_labs, f"variant {variant}: its pytest left lab(s) {run.left_labs} behind (destroyed now)"
    assert junit.is_file(), f"variant {variant}: pytest wrote no report\n{run.stdout[-2000:]}{run.stderr[-2000:]}"
    cases = {_case_id(c): c for c in ET.parse(junit).getroot().iter("testcase")}
    for check in checks:
        why = failed_for(verdict(cases.get(check["test"])), check["expect"])
        assert why is None, f"variant {variant} ({', '.join(info['breaks'])}): {check['test']}: {why}"
    # A failed run attaches daemon logs and evidence: no secret of the lab may be in them.
    found = lab_secrets(topology, variant, overrides)
    assert found or not overrides, f"variant {variant}: no secret found in its rendered configs to look for"
    leaked = [s for s in found if s in junit.read_text() or s in report.read_text()]
    assert not leaked, f"variant {variant}: {len(leaked)} secrets of the lab's configs appear in the report"


def lab_secrets(topology: str, variant: str | None = None, overrides: dict[str, str] | None = None) -> set[str]:
    """Every secret in the topology's rendered daemon configs (TSIG keys, VRRP passwords)."""
    topo = load_topology(TOPOLOGIES / topology, overrides, variant=variant)
    return {m.group(1) for node in topo.hosts() for spec in node.daemons.values()
            for m in SECRET_VALUE.finditer(spec.config)}
