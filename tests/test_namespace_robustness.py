"""Labs survive other tools on the machine: a foreign `ip netns add`, a second mount stacked on
a lab's namespace file; the reaper waits for --collect-only; a teardown problem is reported."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

from siteproof.backends.netns import Lab, registry
from siteproof.backends.netns import namespaces as netns
from siteproof.childrun import PLUGIN
from siteproof.topology import load_topology
from tests.helpers import REPO, lab_leftovers, make_topology, mount_points, needs_root
from tests.selfcheck import verdict


def _mounts_of(path: str) -> int:
    return mount_points().count(path)


@needs_root
def test_foreign_ip_netns_add_while_a_lab_is_up_then_clean_teardown(tmp_path):
    foreign = f"foreign-{secrets.token_hex(3)}"
    lab = Lab(load_topology(make_topology(tmp_path)))
    try:
        lab.up()
        subprocess.run(["ip", "netns", "add", foreign], check=True)
        assert lab.run("a", "ping", "-c1", "-W2", "10.9.0.2").returncode == 0
    finally:
        result = lab.down()
        subprocess.run(["ip", "netns", "del", foreign], check=False)
    assert result["left"] == []
    assert lab_leftovers(lab.id) == {"namespaces": [], "state": []}
    assert not any(n.startswith(f"{registry.NS_PREFIX}{lab.id}") for n in netns.list_names())


@needs_root
def test_a_second_mount_on_a_namespace_file_is_unmounted_at_teardown(tmp_path):
    lab = Lab(load_topology(make_topology(tmp_path)))
    try:
        lab.up()
        target = netns.path(lab.ns("a"))
        subprocess.run(["mount", "--bind", target, target], check=True)  # what a re-bound /run/netns leaves
        assert _mounts_of(target) >= 2
    finally:
        result = lab.down()
    assert result["left"] == []
    assert not os.path.exists(target)
    assert _mounts_of(target) == 0


@needs_root
def test_the_netns_directory_is_a_shared_mount_point(tmp_path):
    with Lab(load_topology(make_topology(tmp_path))):
        with open("/proc/self/mountinfo") as fh:
            lines = [line for line in fh if line.split()[4] == netns.NETNS_DIR]
        assert lines, f"{netns.NETNS_DIR} is not a mount point"
        assert any("shared:" in line for line in lines), lines


@needs_root
def test_the_reaper_does_not_run_during_collect_only(tmp_path, private_state):
    dead = secrets.token_hex(3)
    state = registry.LabState(dead, "tiny", None, owner_pid=2**22 + 7, owner_start=1, owner_kind="pytest")
    state.save()
    try:
        subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/test_units.py"], cwd=REPO,
                       capture_output=True, text=True, check=True, timeout=120)
        assert (registry.STATE_ROOT / dead / "state.json").is_file(), "--collect-only reaped a lab"
        assert dead in registry.reap().removed
    finally:
        registry.destroy(dead)
    assert not (registry.STATE_ROOT / dead).exists()


@needs_root
def test_a_teardown_problem_is_kept_for_reap(tmp_path, monkeypatch):
    lab = Lab(load_topology(make_topology(tmp_path)))
    lab.up()
    real_delete = netns.delete
    monkeypatch.setattr(netns, "delete", lambda name: f"{name}: Device or resource busy")
    result = lab.down()
    assert len(result["left"]) == 3 and all("busy" in p for p in result["left"])
    assert (registry.STATE_ROOT / lab.id / "left.txt").is_file()
    monkeypatch.setattr(netns, "delete", real_delete)
    # What `siteproof reap` does once the owner is gone (this test's process still owns it).
    assert registry.destroy(lab.id)["left"] == []
    assert lab_leftovers(lab.id) == {"namespaces": [], "state": []}



@needs_root
def test_a_lab_folder_that_will_not_unmount_is_kept_for_reap_with_the_way_out(tmp_path, monkeypatch):
    from siteproof.backends.netns import labdir

    lab = Lab(load_topology(make_topology(tmp_path)))
    lab.up()
    real_remove = labdir.remove

    def busy(path):
        raise OSError(16, "Device or resource busy")

    monkeypatch.setattr(labdir, "remove", busy)
    result = lab.down()
    folder = str(registry.STATE_ROOT / lab.id)
    assert result["left"] == [f"{folder}: Device or resource busy"], result
    assert (registry.STATE_ROOT / lab.id / "left.txt").is_file()
    assert registry.fix_hint(result["left"]) == f"`umount -l {folder}`; then `siteproof reap`"
    monkeypatch.setattr(labdir, "remove", real_remove)
    assert registry.destroy(lab.id)["left"] == []
    assert lab_leftovers(lab.id) == {"namespaces": [], "state": []}

BROKEN_SUITE = '''
import pytest

pytestmark = pytest.mark.topology("{topology}")


def test_one(site):
    assert site.names("client") == ["a"]


def test_two(site):
    assert site.names("server") == ["b"]
'''


@needs_root
def test_a_bad_topology_errors_only_its_own_tests(tmp_path):
    topologies = tmp_path / "topologies"
    make_topology(topologies, name="tiny")
    make_topology(topologies, "name: broken\ntopology: {nodes: {a: {kind: router}}}\n", name="broken")
    suites = tmp_path / "suites"
    suites.mkdir()
    for topology in ("tiny", "broken"):
        (suites / f"test_{topology}.py").write_text(textwrap.dedent(BROKEN_SUITE.format(topology=topology)))
    junit = tmp_path / "junit.xml"
    proc = subprocess.run([sys.executable, "-m", "pytest", *PLUGIN, str(suites), f"--topologies={topologies}", "-q", "-p", "no:randomly",
                           "-o", "addopts=", f"--junitxml={junit}", "--rootdir", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    # Judged from the JUnit report (each test's own outcome), never from pytest's printed summary.
    assert junit.is_file(), proc.stdout[-2000:] + proc.stderr[-2000:]
    cases = {f"{c.get('classname')}::{c.get('name')}": c for c in ET.parse(junit).getroot().iter("testcase")}
    outcomes = {name: verdict(case) for name, case in cases.items()}
    assert {n: v.outcome for n, v in outcomes.items()} == {
        "suites.test_tiny::test_one": "passed", "suites.test_tiny::test_two": "passed",
        "suites.test_broken::test_one": "error", "suites.test_broken::test_two": "error",
    }, {n: (v.outcome, v.message[:200]) for n, v in outcomes.items()}
    for name in ("suites.test_broken::test_one", "suites.test_broken::test_two"):
        error = cases[name].find("error")
        text = (error.get("message") or "") + (error.text or "")
        assert "broken/topology.yml: topology.nodes.a.kind: 'router' is not one of" in text, text[-1000:]
    assert "Traceback" not in proc.stdout


def test_version_is_the_package_version():
    out = subprocess.run([sys.executable, "-m", "siteproof.cli", "--version"], capture_output=True, text=True, check=True)
    meta = json.loads(subprocess.run([sys.executable, "-c", "import json, importlib.metadata as m; print(json.dumps(m.version('siteproof')))"],
                                     capture_output=True, text=True, check=True).stdout)
    assert out.stdout.strip() == f"siteproof {meta}"
