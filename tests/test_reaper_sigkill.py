"""A run killed with SIGKILL mid-lab is reaped by the next run: zero namespaces, links, processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from siteproof.backends.netns import namespaces as netns
from siteproof.backends.netns import registry
from tests.helpers import REPO, needs_root, root_snapshot

pytestmark = needs_root

VICTIM = """
import sys, time
from siteproof.backends.netns.lab import Lab
from siteproof.topology import load_topology
topo = load_topology(sys.argv[1], {"gateways": "3", "computes": "1"})
lab = Lab(topo, owner_kind="pytest")
lab.up()
print(lab.id, flush=True)
time.sleep(600)
"""


def test_sigkill_mid_lab_is_reaped_by_next_run(tmp_path, private_state):
    before = root_snapshot()
    script = tmp_path / "victim.py"
    script.write_text(VICTIM)
    victim = subprocess.Popen(
        [sys.executable, str(script), str(REPO / "topologies" / "perlmutter-gateways")],
        stdout=subprocess.PIPE, text=True, cwd=REPO,
    )
    lab_id = victim.stdout.readline().strip()
    assert lab_id, "the victim did not bring its lab up"
    names = registry.lab_namespaces(lab_id)
    daemons = [pid for n in names for pid in netns.pids_in(n)]
    assert names and daemons, "the lab should have namespaces and keepalived processes"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert registry.lab_namespaces(lab_id), "SIGKILL cannot clean up: the lab must still be there"

    # The next run: a fresh pytest session reaps at start; `siteproof reap` does the same.
    out = subprocess.run([sys.executable, "-m", "siteproof.cli", "reap"], capture_output=True, text=True, cwd=REPO)
    assert lab_id in out.stdout
    assert registry.lab_namespaces(lab_id) == []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in daemons):
        time.sleep(0.05)
    assert [p for p in daemons if _alive(p)] == [], "daemons of the killed lab survived the reap"
    assert not (registry.STATE_ROOT / lab_id).exists()
    assert root_snapshot() == before


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
