"""Probes sent by the source host itself (siteproof.probes.remote): the shipped script runs
with nothing of siteproof installed, gives the same verdicts as in-process probes, and a host
where python3 fails is one clear error."""

from __future__ import annotations

import subprocess

import pytest

from siteproof.backends.netns.lab import Lab
from siteproof.errors import SiteproofError
from siteproof.probes import reach, whoami
from siteproof.probes.reach import Service
from siteproof.probes.remote import probe_from, script
from siteproof.topology import load_topology
from tests.helpers import make_topology, needs_root


@pytest.mark.parametrize("module", [reach, whoami], ids=["reach", "whoami"])
def test_the_script_needs_only_the_standard_library(module):
    text = script(module)
    assert "siteproof" not in "".join(line for line in text.splitlines() if line.startswith(("import", "from")))
    compile(text, "<probe script>", "exec")


@needs_root
def test_verdicts_from_inside_a_lab_node(tmp_path):
    with Lab(load_topology(make_topology(tmp_path))) as lab:
        found = probe_from(lab.run, "a", [("10.9.0.2", Service("tcp", 9)), ("10.9.0.2", Service("udp", 9)),
                                          ("10.9.0.99", Service("tcp", 22))], timeout=0.5)
    # b's kernel refuses both closed ports; nobody answers for an address nobody has.
    assert found[:2] == ["refused", "refused"] and found[2] in ("silent", "unreachable")


def test_a_host_where_python_fails_is_one_clear_error():
    # A fake runner (no host): python3 missing at the site.
    def run(node, *argv, check=True, timeout=30, stdin=None):
        return subprocess.CompletedProcess(list(argv), 127, "", "bash: python3: command not found")

    with pytest.raises(SiteproofError, match="probes from login1: python3 there exited 127: bash: python3: command not found"):
        probe_from(run, "login1", [("10.0.0.1", Service("tcp", 22))], timeout=0.5)
