"""The kernel's route as the CAN convergence wait reads it (`ip -j route show match`): the JSON
is fed by a fake backend (what `ip` printed on a lab router), no lab."""

from __future__ import annotations

import json
import subprocess
from types import SimpleNamespace

from siteproof.areas.can import routers

MULTIPATH = [
    {"dst": "default", "gateway": "10.1.0.1", "dev": "eth0", "flags": []},
    {"dst": "10.200.0.0/16", "protocol": "ospf", "metric": 20, "flags": [],
     "nexthops": [{"gateway": "10.9.0.1", "dev": "to-dc1", "weight": 1, "flags": []},
                  {"gateway": "10.9.1.1", "dev": "to-dc2", "weight": 1, "flags": ["linkdown"]}]},
    {"dst": "10.200.5.0/24", "protocol": "ospf", "gateway": "10.9.2.1", "dev": "to-dc3", "flags": []},
]


def _site(stdout: str, returncode: int = 0):
    def run(node, *argv, check=False, timeout=None):
        assert argv[:6] == ("ip", "-j", "-4", "route", "show", "match")
        return subprocess.CompletedProcess(argv, returncode, stdout, "")
    return SimpleNamespace(backend=SimpleNamespace(run=run))


def test_the_longest_match_wins_and_its_next_hops_are_listed():
    assert routers.kernel_next_hops(_site(json.dumps(MULTIPATH)), "spine1", "10.200.5.10") == ["10.9.2.1"]


def test_a_next_hop_the_kernel_marks_link_down_does_not_count():
    table = [r for r in MULTIPATH if r["dst"] != "10.200.5.0/24"]
    assert routers.kernel_next_hops(_site(json.dumps(table)), "spine1", "10.200.5.10") == ["10.9.0.1"]


def test_no_route_is_no_next_hop_and_a_host_that_cannot_say_is_none():
    assert routers.kernel_next_hops(_site("[]"), "spine1", "10.200.5.10") == []
    assert routers.kernel_next_hops(_site("", returncode=127), "spine1", "10.200.5.10") is None
    assert routers.kernel_next_hops(_site("not json"), "spine1", "10.200.5.10") is None
