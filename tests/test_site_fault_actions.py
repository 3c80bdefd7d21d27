"""Daemon faults at a site (siteproof.backends.sitefaults) as the commands a host is sent. The
host is faked (it records argv and answers what a Debian host would): what is under test is the
order (the dead-man armed before the fault), the commands (systemd's, or the inventory's), and
the refusals (before anything is sent). The same code's link and freeze faults run against a
lab played as a site in tests/test_site_faults.py."""

from __future__ import annotations

import subprocess

import pytest

from siteproof.backends.sitefaults import FaultPolicy, FaultRefused, NotFaultable, PowerControl, SiteFaults
from siteproof.errors import SiteproofError


class FakeHost:
    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[str, ...]]] = []
        self.active: dict[str, bool] = {}

    def run(self, node: str, *argv: str, check: bool = True, timeout: float = 30, stdin: str | None = None):
        self.sent.append((node, argv))
        out, rc = "", 0
        if argv[:2] == ("printenv", "SSH_CONNECTION"):
            out = "10.250.0.30 51000 10.250.0.2 2222\n"
        elif argv[:4] == ("ip", "-j", "route", "get"):
            out = '[{"dst": "10.250.0.30", "dev": "spmgmt0"}]'
        elif argv[:1] == ("date",):
            out = "1765000000.250000000\n"
        elif argv[:2] == ("sh", "-c"):
            out = "4242\n"
        elif argv[:2] == ("systemctl", "is-active"):
            rc = 0 if self.active.get(argv[-1], True) else 3
        return subprocess.CompletedProcess(list(argv), rc, out, "")

    def daemon_dir(self, node: str, kind: str) -> None:
        return None

    def changes(self, node: str) -> list[tuple[str, ...]]:
        return [a for n, a in self.sent if n == node and a[0] not in ("printenv", "ip", "date")]


def site(policy: FaultPolicy) -> tuple[FakeHost, SiteFaults]:
    host = FakeHost()
    return host, SiteFaults(host, policy)


def test_a_crash_is_armed_with_its_start_before_the_kill_and_the_start_cancels_the_timer():
    host, faults = site(FaultPolicy(ttl=120, hosts=frozenset({"gw01"})))
    assert faults.crash_daemon("gw01", "keepalived").startswith("keepalived (systemctl kill --signal=SIGKILL keepalived)")
    deadman, crash = host.changes("gw01")
    assert deadman[:2] == ("sh", "-c") and deadman[4:] == ("120", "systemctl", "start", "keepalived"), deadman
    assert crash == ("systemctl", "kill", "--signal=SIGKILL", "keepalived")
    faults.start_daemon("gw01", "keepalived")
    assert host.changes("gw01")[2:] == [("kill", "4242"), ("systemctl", "start", "keepalived")]
    assert not faults.armed


def test_frr_daemons_are_one_unit_and_the_inventory_may_name_units_and_commands():
    host, faults = site(FaultPolicy(hosts=frozenset({"dc1"})))
    faults.stop_daemons(["dc1"], "ospfd")
    assert host.changes("dc1")[-1] == ("systemctl", "stop", "frr")
    policy = FaultPolicy(hosts=frozenset({"dc1"}), units={"ospfd": "frr@ospfd"},
                         actions={"stop": ("service", "{unit}", "stop"), "start": ("service", "{unit}", "start")})
    host, faults = site(policy)
    faults.stop_daemons(["dc1"], "ospfd")
    deadman, stop = host.changes("dc1")
    assert deadman[-3:] == ("service", "frr@ospfd", "start") and stop == ("service", "frr@ospfd", "stop")


def test_refusals_come_before_any_change():
    host, faults = site(FaultPolicy(hosts=frozenset({"gw01", "gw02"})))
    with pytest.raises(FaultRefused, match="gw03 is not a faultable host"):
        faults.stop_daemons(["gw01", "gw03"], "keepalived")  # one host of the two is not faultable
    with pytest.raises(FaultRefused, match="sshd carries siteproof's own session"):
        faults.crash_daemon("gw01", "sshd")
    assert host.changes("gw01") == [] and host.changes("gw03") == []
    faults.crash_daemon("gw01", "keepalived")
    with pytest.raises(FaultRefused, match=r"gw01 already faulted .*at_once 1"):
        faults.crash_daemon("gw02", "keepalived")
    assert host.changes("gw02") == []


def test_start_stopped_starts_only_what_is_not_running():
    host, faults = site(FaultPolicy(hosts=frozenset({"gw01", "gw02"}), at_once=2))
    host.active = {"keepalived": False}
    faults.start_stopped(["gw01"], "keepalived")
    assert host.changes("gw01")[-1] == ("systemctl", "start", "keepalived")
    host.active = {"keepalived": True}
    faults.start_stopped(["gw02"], "keepalived")
    assert host.changes("gw02") == [("systemctl", "is-active", "--quiet", "keepalived")]


def test_a_table_of_siteproofs_own_is_armed_with_its_deletion_first_and_no_other_table_is_touched():
    """DNS-2's rogue redirect at a site: the deletion is the dead-man's undo, armed before the
    ruleset loads; a name outside siteproof_* (a site's own table) is refused before anything is sent."""
    host, faults = site(FaultPolicy(ttl=90, hosts=frozenset({"resolver"})))
    faults.add_table("resolver", "inet", "siteproof_rogue", "  chain out { type nat hook output priority -100; }\n")
    deadman, load = host.changes("resolver")
    assert deadman[4:] == ("90", "nft", "delete table inet siteproof_rogue"), deadman
    assert load == ("nft", "-f", "-")
    faults.delete_table("resolver", "inet", "siteproof_rogue")
    assert host.changes("resolver")[2:] == [("kill", "4242"), ("nft", "delete table inet siteproof_rogue")]
    for family, table in (("inet", "filter"), ("inet", "siteproof_x; flush ruleset"), ("evil", "siteproof_rogue")):
        with pytest.raises(SiteproofError, match="not a table of siteproof's own"):
            faults.add_table("resolver", family, table, "")
    assert len(host.changes("resolver")) == 4 and not faults.armed


def test_a_power_off_runs_on_the_via_host_with_its_power_on_armed_there_first():
    """The dead-man of a power-off cannot live on the host powered off: the inventory's power
    commands run on `via` (a management host), which keeps the power-on timer. Refused, before
    anything is sent: no power commands (skipped: NotFaultable), `via` itself, a BMC label that
    would be an option."""
    power = PowerControl("mgmt01", ("ipmitool", "-H", "{bmc}", "-f", "/etc/ipmi.pass", "chassis", "power", "off"),
                         ("ipmitool", "-H", "{bmc}", "-f", "/etc/ipmi.pass", "chassis", "power", "on"))
    policy = FaultPolicy(ttl=600, hosts=frozenset({"gw01", "gw02", "mgmt01"}), power=power,
                         bmcs={"gw01": "10.9.0.1", "gw02": "-oProxyCommand=x", "mgmt01": "10.9.0.9"})
    host, faults = site(policy)
    assert faults.power_off("gw01") == "via mgmt01"
    assert host.changes("gw01") == []
    deadman, off = host.changes("mgmt01")
    assert deadman[4:] == ("600", "ipmitool", "-H", "10.9.0.1", "-f", "/etc/ipmi.pass", "chassis", "power", "on"), deadman
    assert off == ("ipmitool", "-H", "10.9.0.1", "-f", "/etc/ipmi.pass", "chassis", "power", "off")
    with pytest.raises(FaultRefused, match=r"gw01 already faulted"):  # the timer is on mgmt01, the fault on gw01
        faults.crash_daemon("gw02", "keepalived")
    faults.power_on("gw01")  # the fake host answers at once: booted
    assert host.changes("mgmt01")[2:] == [("kill", "4242"), ("ipmitool", "-H", "10.9.0.1", "-f", "/etc/ipmi.pass",
                                                            "chassis", "power", "on")]
    assert not faults.armed
    sent = len(host.sent)
    with pytest.raises(FaultRefused, match=r"is faults\.power\.via itself"):
        faults.power_off("mgmt01")
    with pytest.raises(FaultRefused, match="is not a host name or address"):
        faults.power_off("gw02")
    assert [a for _, a in host.sent[sent:] if a[0] not in ("printenv", "ip", "date")] == []
    with pytest.raises(NotFaultable, match="names no power commands"):
        site(FaultPolicy(hosts=frozenset({"gw01"})))[1].power_off("gw01")


def test_the_inventorys_power_section_names_a_host_of_the_inventory_and_gives_each_host_its_bmc():
    labels = {"gw01": {"role": "gateway", "bmc": "gw01-bmc.example"}, "mgmt01": {"role": "management"}}
    section = {"roles": ["gateway"], "power": {"via": "mgmt01", "off": ["power-tool", "off", "{bmc}"], "on": ["power-tool", "on", "{bmc}"]}}
    policy = FaultPolicy.from_inventory(section, labels)
    assert policy.power == PowerControl("mgmt01", ("power-tool", "off", "{bmc}"), ("power-tool", "on", "{bmc}"))
    assert policy.bmcs == {"gw01": "gw01-bmc.example"}
    with pytest.raises(SiteproofError, match=r"faults\.power\.via: 'mgmt02' is not among the hosts"):
        FaultPolicy.from_inventory({**section, "power": {**section["power"], "via": "mgmt02"}}, labels)
