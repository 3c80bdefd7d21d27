"""The lab's launcher: daemons start in their node by fork and setns, not `ip netns exec`.

What `ip netns exec` gave them must still hold: the node's network namespace, the node's
own sysfs (keepalived and the login agents read /sys/class/net), a session of their own
(faults signal the process group), the log on stdout and stderr, the exit code reported.
"""

from __future__ import annotations

import os
import subprocess
import time

from siteproof.backends.netns import Lab
from siteproof.backends.netns import namespaces as netns
from siteproof.daemons.base import PythonEntry
from siteproof.topology import load_topology
from tests.helpers import lab_leftovers, make_topology, needs_root

# What the daemon sees: its interfaces, its namespace, its process group, its directory, and a
# private /var/tmp (the file it writes there must not appear on the machine).
REPORT = ("ls /sys/class/net; readlink /proc/self/ns/net; echo pgid $(cut -d' ' -f5 /proc/$$/stat) pid $$; pwd; "
          "touch /var/tmp/siteproof-launcher-test; ls /var/tmp")


def _run_dir(lab: Lab, node: str, kind: str):
    rundir = lab.node_dir(node) / kind
    rundir.mkdir(parents=True)
    return rundir, rundir / f"{kind}.log"


@needs_root
def test_a_daemon_runs_in_its_node_with_its_own_sysfs_session_and_log(tmp_path):
    lab = Lab(load_topology(make_topology(tmp_path))).up()
    try:
        rundir, log = _run_dir(lab, "a", "probe")
        proc = lab.spawn_daemon("a", ["sh", "-c", f"{REPORT}; exit 3"], rundir, log, None, ("/var/tmp",))
        assert proc.wait(timeout=10) == 3
        lines = log.read_text().split()
        assert sorted(lines[:2]) == ["eth1", "lo"], f"the daemon saw another namespace's /sys: {lines}"
        assert lines[2] == f"net:[{netns.inode(lab.ns('a'))}]"
        assert lines[3:7] == ["pgid", str(proc.pid), "pid", str(proc.pid)]
        assert lines[7] == str(rundir)
        assert lines[8:] == ["siteproof-launcher-test"], f"the daemon's /var/tmp is not its own: {lines[8:]}"
        assert not os.path.exists("/var/tmp/siteproof-launcher-test")
        launcher = lab.launcher.proc.pid
    finally:
        lab.down()
    assert not os.path.exists(f"/proc/{launcher}") or _is_zombie(launcher), "the launcher outlived its lab"
    assert lab_leftovers(lab.id) == {"namespaces": [], "state": []}


@needs_root
def test_a_python_daemon_is_forked_with_its_module_imported_and_its_failure_logged(tmp_path):
    lab = Lab(load_topology(make_topology(tmp_path))).up()
    try:
        rundir, log = _run_dir(lab, "b", "agent")
        entry = PythonEntry("siteproof.areas.login.agent:main", ["agent", str(rundir / "missing.json")])
        start = time.monotonic()
        proc = lab.spawn_daemon("b", [], rundir, log, entry)
        assert proc.wait(timeout=10) == 1
        assert "FileNotFoundError" in log.read_text()
        assert time.monotonic() - start < 5
    finally:
        lab.down()


def _is_zombie(pid: int) -> bool:
    out = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True, check=False).stdout
    return out.strip().startswith("Z")
