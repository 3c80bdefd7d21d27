"""Known-bad variants: each makes its behaviour's test fail, for the stated reason.

Each variant names the suite test it breaks and a phrase the failure must contain; the
test runs in a fresh pytest against a lab built from the variant.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from siteproof.topology import load_topology
from tests.helpers import REPO, needs_root

TOPOLOGIES = REPO / "topologies"
VARIANTS = sorted(
    (topo.name, v.stem) for topo in TOPOLOGIES.iterdir() if (topo / "variants").is_dir()
    for v in (topo / "variants").glob("*.yml")
)


@needs_root
@pytest.mark.selfcheck
@pytest.mark.parametrize(("topology", "variant"), VARIANTS, ids=[f"{t}:{v}" for t, v in VARIANTS])
def test_variant_fails_its_test_for_the_stated_reason(topology, variant, tmp_path):
    info = load_topology(TOPOLOGIES / topology, variant=variant).variant_info
    junit = tmp_path / "junit.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", info["test"], "--variant", variant, "-p", "no:randomly",
         f"--junitxml={junit}", "-q", "-o", "addopts="],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    assert cases, f"variant {variant}: no test ran\n{proc.stdout[-2000:]}"
    failures = [f for c in cases for f in c.findall("failure")]
    errors = [e for c in cases for e in c.findall("error")]
    assert not errors, f"variant {variant}: the test errored instead of failing:\n{errors[0].get('message')}"
    assert failures, f"variant {variant} ({', '.join(info['breaks'])}) did not make {info['test']} fail"
    messages = "\n".join((f.get("message") or "") + (f.text or "") for f in failures)
    assert info["expect"] in messages, f"variant {variant} failed for another reason:\n{messages[-1500:]}"
