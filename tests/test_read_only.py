"""Read-only at a real site, enforced at run time (siteproof/readonly.py): a change helper
called on an SSH site opened without --allow-disruptive refuses, before it sends anything;
a test that changes the site without the `disruptive` marker is caught, at collection when it
asks for a changing fixture and at run time when it calls a change helper.

The SSH site here is a Site on a backend that records commands instead of running them
(faked: no host is reached); the collection checks run a child pytest on made-up tests; the
unreachable-host check really runs ssh, against loopback ports nothing listens on.
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from siteproof import readonly
from siteproof.backends.base import FAULTS, SOCKETS, TRAFFIC_COUNTERS, MissingCapability
from siteproof.backends.ssh import inventory_site
from siteproof.budgets import Budgets
from siteproof.childrun import PLUGIN
from siteproof.errors import SiteproofError
from siteproof.probes.dnsask import From
from siteproof.site import Site
from tests.helpers import REPO

pytest_plugins = ["pytester"]


class _RecordingSshBackend:
    """Stands in for the SSH backend: no capability, and every command it is asked to run is
    recorded, so a test can prove a refusal came before anything reached the host."""

    kind = "ssh"
    capabilities: frozenset[str] = frozenset()
    shared_dir = None

    def __init__(self) -> None:
        self.ran: list[tuple[str, ...]] = []

    def run(self, node, *argv, check=True, timeout=30, stdin=None):
        self.ran.append((node, *argv))
        return subprocess.CompletedProcess(list(argv), 0, "[]", "")


def _site(read_only: bool) -> tuple[Site, _RecordingSshBackend]:
    backend = _RecordingSshBackend()
    return Site("example-site", {"ns1": {"role": "client"}}, {}, Budgets({}), backend, read_only=read_only), backend


@pytest.mark.parametrize("capability", [FAULTS, TRAFFIC_COUNTERS])
def test_faults_and_counters_refuse_on_a_read_only_site(capability):
    site, _ = _site(read_only=True)
    with pytest.raises(readonly.ReadOnlySite, match=r"site example-site is read-only \(run with --allow-disruptive"):
        site.require(capability)


def test_a_zone_update_refuses_on_a_read_only_site_before_sending_anything():
    site, backend = _site(read_only=True)
    with pytest.raises(readonly.ReadOnlySite, match=re.escape("refused to send a dynamic update of zone example.org to 192.0.2.53")):
        From(site, "ns1").update("192.0.2.53", "example.org", lambda m: m.add("x.example.org.", 60, "A", "192.0.2.1"))
    assert backend.ran == [], f"the refused update still ran commands on the host: {backend.ran}"


def test_reading_needs_no_permission_and_a_missing_capability_is_still_a_skip():
    site, _ = _site(read_only=True)
    assert not site.can(FAULTS)
    with pytest.raises(MissingCapability, match="sockets in nodes"):
        site.require(SOCKETS)  # not a change: the backend just lacks it


def test_with_allow_disruptive_changes_pass_the_guard_in_a_marked_test():
    site, _ = _site(read_only=False)
    with readonly.running("suites/x.py::test_marked", disruptive=True):
        site.changing("send a dynamic update of zone example.org to 192.0.2.53")


def test_an_unmarked_test_that_calls_a_change_helper_is_refused_at_run_time():
    site, backend = _site(read_only=False)  # a lab or an opened site: the marker is still required
    with readonly.running("suites/x.py::test_unmarked", disruptive=False), \
            pytest.raises(readonly.UnmarkedChange, match=re.escape("suites/x.py::test_unmarked would send a dynamic update")):
        From(site, "ns1").update("192.0.2.53", "example.org", lambda m: m.add("x.example.org.", 60, "A", "192.0.2.1"))
    assert backend.ran == []


UNMARKED = '''
import pytest


@pytest.mark.topology("perlmutter-dns")
def test_changes_without_the_marker(faults):
    pass


@pytest.mark.disruptive
@pytest.mark.topology("perlmutter-dns")
def test_changes_with_the_marker(faults):
    pass
'''


def test_a_test_asking_for_a_changing_fixture_unmarked_is_caught_at_collection(pytester):
    pytester.makepyfile(test_made_up=UNMARKED)
    result = pytester.runpytest_subprocess(*PLUGIN, "--collect-only", "-p", "no:randomly", "-o", "addopts=", timeout=120)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*tests that change the site must be marked disruptive*"
                                 "test_changes_without_the_marker (uses faults, lab)*"])
    assert "test_changes_with_the_marker" not in result.stderr.str()


def test_every_suite_test_that_changes_the_site_is_marked():
    run = subprocess.run([".venv/bin/python", "-m", "pytest", "suites", "--collect-only", "-q", "-p", "no:randomly"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"collecting the suites failed: {(run.stderr or run.stdout)[-1500:]}"


def test_unreachable_site_hosts_are_one_clear_error_each_not_a_hang(tmp_path):
    """Every host is tried at once with a bounded connect timeout; the error names each one that
    cannot be reached (here: nothing listens on those loopback ports, so ssh is refused)."""
    path = tmp_path / "site.yml"
    path.write_text("name: t\nhosts:\n"
                    "  gw01: {ssh: 'root@127.0.0.1:1', labels: {role: storage}}\n"
                    "  gw02: {ssh: 'root@127.0.0.1:9', labels: {role: storage}}\n")
    t0 = time.monotonic()
    with pytest.raises(SiteproofError) as exc:
        inventory_site(path, connect_timeout=2)
    message = str(exc.value)
    assert message.startswith(f"{path}: 2 site host(s) unreachable:\n  hosts.gw01 (ssh://root@127.0.0.1:1): "), message
    assert "\n  hosts.gw02 (ssh://root@127.0.0.1:9): " in message and "Connection refused" in message, message
    assert len(message.splitlines()) == 3, message  # one line per host
    assert time.monotonic() - t0 < 20, "reaching two refusing hosts took longer than the connect timeout allows"


@pytest.mark.parametrize("command", [
    "touch /run/siteproof-loginlb/drain", "rm -f /x", "nft -f -", "ip route add 10.1.0.0/24 via 10.0.0.1",
    "timeout -k 2 30 ip link set eth0 down", "sysctl -w net.ipv4.ip_forward=1", "sysctl net.ipv4.ip_forward=1",
    "cat /etc/hosts > /tmp/x", "printf '%s\\n' 'route add 10.1.0.0/24 dev eth1' | ip -batch -", "vtysh -c 'configure terminal'",
    "python3 -c 'import os; os.remove(\"/x\")'", "printf '%s\\n' 'import os' | python3 -", "conntrack -F", "conntrackd -f",
    "sh -c 'rm -rf /tmp/x'", "nft -j list table ip x; nft flush ruleset", "xrdfs root://h:1094 rm /data/f", "systemctl stop x",
])
def test_the_read_only_allowlist_refuses_what_changes_a_host(command):
    from siteproof.readonly_commands import not_read_only

    assert not_read_only(command), command


def test_the_read_only_allowlist_takes_what_read_only_tests_send():
    from siteproof.areas.ib import pkeys
    from siteproof.cmdline import command_line
    from siteproof.probes import remote, whoami
    from siteproof.readonly_commands import not_read_only

    for command in ["ip -j -4 route show table all exact 10.0.0.0/8", "nft -s list ruleset", "sysctl -n net.ipv4.ip_forward",
                    "timeout -k 2 20 vtysh --vty_socket /run/frr -c 'show ip ospf json'", "conntrack -L -n -o xml",
                    "conntrackd -C /etc/conntrackd/conntrackd.conf -e -x",
                    command_line("timeout", "-k", "2", "30", *pkeys.sysfs_argv("/")),
                    command_line("timeout", "-k", "2", "30", "python3", "-", "{}", stdin=remote.script(whoami)),
                    command_line("ip", "-j", "-batch", "-", stdin="route get 10.1.0.1 from 10.2.0.1\nroute get 10.1.0.2")]:
        assert not_read_only(command) is None, (command[:200], not_read_only(command))
