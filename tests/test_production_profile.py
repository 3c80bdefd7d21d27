"""The suites run VRRP at lab speed (the topologies' `profiles.lab`, 0.5 s adverts); the
production interval (the defaults, 1 s) is still proven: GW-2 with --profile production, in a
child pytest so that it gets a lab of its own, for every failure kind whose takeover waits on
the advert interval (a clean stop sends priority 0: the backups take over at once)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from siteproof.topology import load_topology
from tests.helpers import REPO, needs_root
from tests.selfcheck import run_child_pytest, verdict

CHILD_TIMEOUT_S = 300
KINDS = ("crash", "freeze", "cable")


def test_the_lab_profile_shortens_only_the_advert_interval_and_yields_to_set():
    folder = REPO / "topologies" / "perlmutter-gateways"
    production, lab = load_topology(folder, profile="production"), load_topology(folder, profile="lab")
    assert production.parameters["advert_interval"] == 1.0
    assert lab.parameters["advert_interval"] == 0.5
    assert {k for k in lab.parameters if lab.parameters[k] != production.parameters[k]} == {"advert_interval"}
    assert load_topology(folder, {"advert_interval": "2"}, profile="lab").parameters["advert_interval"] == 2.0
    assert "advert_int 0.5" in lab.nodes["gw01"].daemons["keepalived"].config


@needs_root
@pytest.mark.selfcheck
def test_gw2_passes_at_the_production_advert_interval(tmp_path):
    junit = tmp_path / "junit.xml"
    run = run_child_pytest(
        [*[f"suites/gateways/test_gateways.py::test_gw2_takeover[{kind}]" for kind in KINDS], "--profile", "production",
         "--set", "gateways=4",
         "-p", "no:randomly", f"--junitxml={junit}", "-q", "-o", "addopts="],
        cwd=REPO, timeout=CHILD_TIMEOUT_S,
    )
    assert not run.timed_out and not run.left_labs, run.stdout[-2000:]
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    assert len(cases) == len(KINDS), run.stdout[-2000:]
    failed = {c.get("name"): verdict(c).message[:300] for c in cases if verdict(c).outcome != "passed"}
    assert not failed, f"GW-2 at the production advert interval (1 s): {failed}"
