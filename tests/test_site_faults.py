"""Faults at a lab played as a site, through the SSH backend: refused where they would cut the
runner off or touch a host not named faultable, and healed by their dead-man switch on the host
itself when the runner dies (SIGKILL) with a host frozen and a link down."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from siteproof import budgets
from siteproof.backends.netns import Lab
from siteproof.backends.netns.as_site import MGMT_IF, VANTAGE, as_site, inventory
from siteproof.cmdlog import COMMANDS_FILE
from siteproof.topology import load_topology
from siteproof.wait import wait_until
from tests.helpers import REPO, needs_root

TTL_S = 4.0
# What the runner in the vantage does: apply the faults named on its command line, say so,
# and wait to be killed (or report a refusal).
RUNNER = """
import sys, time
from siteproof.backends.ssh import inventory_site
from siteproof.faults import Faults
site = inventory_site(sys.argv[1], allow_changes=True)
faults = Faults(site.backend)
for spec in sys.argv[2:]:
    node, _, ifname = spec.partition(":")
    try:
        faults.cable_pull(node, ifname) if ifname else faults.freeze(node)
    except Exception as exc:
        print("REFUSED", type(exc).__name__, exc, flush=True)
        sys.exit(3)
print("APPLIED", flush=True)
time.sleep(600)
"""


def _runner(lab: Lab, inventory_file, *specs: str) -> subprocess.Popen[str]:
    return subprocess.Popen(["ip", "netns", "exec", lab.ns(VANTAGE), sys.executable, "-c", RUNNER, str(inventory_file), *specs],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _link_up(lab: Lab, node: str, ifname: str) -> bool:
    flags = json.loads(lab.run(node, "ip", "-j", "link", "show", "dev", ifname).stdout)[0]["flags"]
    return "UP" in flags


def _frozen(lab: Lab, node: str) -> bool:
    return "siteproof_freeze" in lab.run(node, "nft", "list", "tables").stdout


def _commands(lab: Lab, node: str) -> list[str]:
    log = lab.dir / "nodes" / node / "mgmt-sshd" / COMMANDS_FILE
    return [json.loads(line)["command"] for line in log.read_text().splitlines() if line.strip()] if log.is_file() else []


@pytest.fixture(scope="module")
def ce_site(tmp_path_factory):
    topo = as_site(load_topology(REPO / "topologies" / "alice-ce", {}, profile="lab"))
    with Lab(topo, owner_kind="pytest") as lab:
        yield lab, tmp_path_factory.mktemp("site-faults")


@needs_root
@pytest.mark.slow
def test_a_fault_on_the_runners_own_ssh_interface_or_an_unnamed_host_is_refused_before_anything_changes(ce_site):
    lab, tmp = ce_site
    site = inventory(lab, tmp / "refuse.yml", faults={"hosts": ["ingress"], "ttl": TTL_S})
    before = len(_commands(lab, "ingress"))
    run = _runner(lab, site, f"ingress:{MGMT_IF}")
    out, err = run.communicate(timeout=120)
    assert run.returncode == 3 and "REFUSED FaultRefused" in out, f"{out}\n{err}"
    assert f"{MGMT_IF} carries siteproof's own SSH session" in out, out
    assert _link_up(lab, "ingress", MGMT_IF)
    sent = _commands(lab, "ingress")[before:]
    assert not [c for c in sent if "link" in c and "set" in c] and not [c for c in sent if "deadman" in c], sent
    run = _runner(lab, site, "ce:eth0")  # a host the inventory does not name faultable
    out, err = run.communicate(timeout=120)
    assert run.returncode == 3 and "ce is not a faultable host" in out, f"{out}\n{err}"
    assert _link_up(lab, "ce", "eth0")


@needs_root
@pytest.mark.slow
def test_a_killed_runner_leaves_a_site_that_heals_itself_within_the_time_to_live(ce_site):
    lab, tmp = ce_site
    site = inventory(lab, tmp / "heal.yml", faults={"hosts": ["ingress", "ce"], "ttl": TTL_S, "at_once": 2})
    run = _runner(lab, site, "ingress", "ce:eth0")
    try:
        line = run.stdout.readline()
        assert line.startswith("APPLIED"), f"{line}{run.stderr.read() if run.poll() is not None else ''}"
        assert _frozen(lab, "ingress") and not _link_up(lab, "ce", "eth0"), "the faults are not in place"
    finally:
        os.killpg(run.pid, signal.SIGKILL)  # the runner dies: nobody undoes anything from here
        run.wait()
    healed = wait_until(lambda: (not _frozen(lab, "ingress"), _link_up(lab, "ce", "eth0")), "deadman_heal",
                        seconds=TTL_S + budgets.entry("deadman_heal").default, expected="the frozen host thawed and the link up again",
                        accept=lambda state: all(state), interval=0.2)
    assert all(healed.value)
