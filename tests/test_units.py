"""Engine unit tests: config parsing, priorities, waits, the prober's arithmetic.

The prober test feeds made-up arrival times (a fake, on purpose: it checks the gap
arithmetic only; the suites measure real packets).
"""

from __future__ import annotations

import pytest

from siteproof.probes.prober import UdpProber
from siteproof.topology import load_topology
from siteproof.topology.render import seeded_priorities
from siteproof.vrrp import config as vrrp
from siteproof.wait import HoldBroken, WaitTimeout, hold_for, wait_until

CONF = """
global_defs { router_id gw01 }
vrrp_instance HSN_01 {  # comment
    state BACKUP
    interface eth1
    virtual_router_id 1
    priority 250
    nopreempt
    track_interface {
        eth1
    }
    virtual_ipaddress {
        10.100.1.1/16 dev eth1
    }
}
"""


def test_parse_keepalived_instance():
    inst = vrrp.parse_keepalived(CONF)["HSN_01"]
    assert (inst.interface, inst.vrid, inst.priority, inst.state, inst.nopreempt) == ("eth1", 1, 250, "BACKUP", True)
    assert inst.vips == ["10.100.1.1"]


def test_group_takeover_order():
    other = CONF.replace("priority 250", "priority 120")
    groups = vrrp.groups_from_configs({"gw01": CONF, "gw02": other, "gw03": CONF.replace("priority 250", "priority 90")})
    group = groups["10.100.1.1"]
    assert group.ranked() == ["gw01", "gw02", "gw03"]
    assert group.expected_holder({"gw02", "gw03"}) == "gw02"
    assert group.expected_holder(set()) is None


def test_seeded_priorities_reproducible_distinct_and_home_first():
    members = [f"gw{i:02d}" for i in range(1, 25)]
    a = seeded_priorities(7, 3, members, "gw03")
    assert a == seeded_priorities(7, 3, members, "gw03")
    assert len(set(a.values())) == 24 and max(a, key=a.get) == "gw03"
    assert a != seeded_priorities(7, 4, members, "gw03"), "priorities must differ between groups"


def test_wait_until_reports_last_observation():
    with pytest.raises(WaitTimeout) as info:
        wait_until(lambda: "still wrong", "lab_up", seconds=0.05, expected="right", accept=lambda v: v == "right")
    assert "still wrong" in str(info.value) and "lab_up" in str(info.value)


def test_prober_gap_includes_the_tail_when_traffic_never_returns():
    prober = UdpProber.__new__(UdpProber)
    prober.interval, prober.sent = 0.005, 100
    prober.started, prober.stopped = 0.0, 3.0
    prober.arrivals = [0.005 * i for i in range(1, 101)]  # echoes stop at 0.5 s
    result = prober.result()
    assert result.max_gap_ms == pytest.approx(2500, abs=1)
    prober.arrivals += [2.0 + 0.005 * i for i in range(1, 200)]
    assert prober.result().max_gap_ms == pytest.approx(1505, abs=1)


def test_report_redaction_covers_every_secret_of_the_dns_lab():
    """Configs and logs attached to a report are redacted: no TSIG secret survives."""
    from siteproof.daemons.base import redact
    from tests.test_selfcheck_variants import TOPOLOGIES, lab_secrets

    secrets = lab_secrets("perlmutter-dns")
    assert len(secrets) >= 3  # transfer, update, rndc, upstream keys
    topo = load_topology(TOPOLOGIES / "perlmutter-dns")
    for node in topo.hosts():
        for kind, spec in node.daemons.items():
            cleaned = redact(spec.config)
            assert not [s for s in secrets if s in cleaned], f"{node.name} {kind}: a secret survives redaction"


def test_keepalived_includes_are_followed_relative_to_the_including_file():
    from siteproof.vrrp.config import expand_includes

    files = {"/etc/keepalived/vips/a.conf": "vrrp_instance A {\n  virtual_ipaddress {\n    10.0.0.1\n  }\n}\n"}
    text = expand_includes("global_defs {}\ninclude vips/a.conf\n", "/etc/keepalived/keepalived.conf", files.__getitem__)
    assert list(vrrp.parse_keepalived(text)) == ["A"]
    assert vrrp.parse_keepalived(text)["A"].vips == ["10.0.0.1"]


@pytest.mark.parametrize(("include", "message"), [
    ("include missing.conf", "cannot read /etc/keepalived/missing.conf"),
    ("include vips/*.conf", "a glob, which siteproof does not expand"),
    ("include keepalived.conf", "nest deeper than"),
])
def test_an_include_that_cannot_be_followed_is_an_error_not_zero_vips(include, message):
    from siteproof.vrrp.config import IncludeError, expand_includes

    files = {"/etc/keepalived/keepalived.conf": include}
    with pytest.raises(IncludeError, match=message):
        expand_includes(include, "/etc/keepalived/keepalived.conf", files.__getitem__)


class _FilesBackend:
    """A fake backend serving files from a dict (unit test only: no host is reached)."""

    kind = "fake"
    capabilities = frozenset()
    shared_dir = None

    def __init__(self, files):
        self.files = files

    def read_file(self, node, path):
        return self.files[path]

    def host(self, node):
        return None


def _cluster(files, names=("gw01", "gw02")):
    from siteproof.budgets import Budgets
    from siteproof.site import Site
    from siteproof.vrrp import VrrpCluster

    site = Site("fake", {n: {"role": "gateway"} for n in names}, {}, Budgets(), _FilesBackend(files),
                {n: {"keepalived": f"/etc/{n}/keepalived.conf"} for n in names})
    return VrrpCluster.read(site)


def test_a_member_whose_include_cannot_be_read_makes_the_verdict_fail_not_pass():
    inst = "vrrp_instance V1 {\n priority 100\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n"
    cluster = _cluster({"/etc/gw01/keepalived.conf": inst, "/etc/gw02/keepalived.conf": "include other.conf\n"})
    assert cluster.problems == ["gw02: /etc/gw02/keepalived.conf: include other.conf: cannot read /etc/gw02/other.conf: "
                                "'/etc/gw02/other.conf'"]
    with pytest.raises(AssertionError, match="cannot judge the VRRP configuration: gw02"):
        cluster.assert_readable()


def test_no_members_or_no_vips_is_a_failure():
    with pytest.raises(AssertionError, match="has no gateway"):
        _cluster({}, names=()).assert_readable()
    with pytest.raises(AssertionError, match="no VIP in any gateway's keepalived config"):
        _cluster({"/etc/gw01/keepalived.conf": "global_defs {}\n"}, names=("gw01",)).wait_placement("vrrp_converge")


def test_signing_policies_read_from_named_conf_with_bind_defaults():
    from siteproof.areas.dns.checks import iso_duration, signing_policies

    assert iso_duration("P21D") == 21 * 86400 and iso_duration("PT300S") == 300 and iso_duration("P1DT2H") == 93600
    conf = '''dnssec-policy lab {
    keys { ksk lifetime unlimited algorithm ecdsap256sha256; };
    signatures-validity P21D;
    signatures-refresh P8D;
};
zone "a.example" {
    type primary;
    dnssec-policy lab;
};
zone "b.example" {
    dnssec-policy default;
};
zone "c.example" {
    dnssec-policy none;
};
'''
    found = signing_policies(conf)
    assert set(found) == {"a.example", "b.example"}
    assert (found["a.example"].validity, found["a.example"].least_remaining) == (21 * 86400, 8 * 86400)
    assert found["b.example"].least_remaining == 5 * 86400  # BIND's default policy refreshes 5 days before expiry


def test_lab_tsig_secrets_are_random_per_lab_unless_seeded():
    from siteproof.topology import render

    assert render.tsig_secret("", "xfr") == render.tsig_secret("", "xfr")  # one lab renders one secret per key
    assert render.tsig_secret("", "xfr") != render.tsig_secret("", "update")
    assert render.tsig_secret("s1", "xfr") == render.tsig_secret("s1", "xfr") != render.tsig_secret("s2", "xfr")
    import subprocess
    import sys

    other = subprocess.run([sys.executable, "-c", "from siteproof.topology import render; print(render.tsig_secret('', 'xfr'))"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert other != render.tsig_secret("", "xfr"), "two labs (processes) got the same TSIG secret"


def test_a_host_path_is_removed_by_the_last_lab_using_it_and_only_if_siteproof_made_it(tmp_path, monkeypatch):
    """registry.release_host_paths on fake lab folders (no lab: the folders are written here)."""
    from siteproof.backends.netns import registry
    from siteproof.daemons.base import CREATED_MARK, HOST_PATHS

    monkeypatch.setattr(registry, "STATE_ROOT", tmp_path / "labs")
    made, found = tmp_path / "made", tmp_path / "found"
    made.mkdir()
    (made / CREATED_MARK).touch()
    found.mkdir()  # there before any lab: never removed
    for lab in ("aaaaaa", "bbbbbb"):
        (tmp_path / "labs" / lab).mkdir(parents=True)
        (tmp_path / "labs" / lab / HOST_PATHS).write_text(f"{made}\n{found}\n")
    registry.release_host_paths("aaaaaa")
    assert made.is_dir() and found.is_dir(), "removed while another lab still uses it"
    (tmp_path / "labs" / "aaaaaa" / HOST_PATHS).unlink()
    registry.release_host_paths("bbbbbb")
    assert not made.exists() and found.is_dir()


def test_reap_goes_on_past_a_lab_it_cannot_remove_and_says_how(tmp_path, monkeypatch):
    """registry.reap with destroy faked: one lab cannot be removed (a process that does not
    exit), one raises; the third is still reaped and each stuck one is named with a way out."""
    from siteproof.backends.netns import registry

    monkeypatch.setattr(registry, "STATE_ROOT", tmp_path)
    for lab in ("aaaaaa", "bbbbbb", "cccccc"):
        registry.LabState(lab, "t", None, 999999, None, "pytest").save()  # pid 999999: a dead owner

    def destroy(lab_id: str, grace: float = 2.0) -> dict:
        if lab_id == "bbbbbb":
            raise PermissionError("operation not permitted")
        return {"left": ["sp-aaaaaa-x: process 4242 did not exit"] if lab_id == "aaaaaa" else []}

    monkeypatch.setattr(registry, "destroy", destroy)
    reaped = registry.reap()
    assert reaped.removed == ["cccccc"]
    assert "process 4242 did not exit" in reaped.stuck["aaaaaa"] and "kill -9 4242" in reaped.stuck["aaaaaa"]
    assert "PermissionError" in reaped.stuck["bbbbbb"] and "siteproof reap" in reaped.stuck["bbbbbb"]


def test_benchmark_comparison_flags_what_grew():
    from benchmarks.run import compare

    lines = compare({"a": {"n50": {"down_s": 0.02, "network_s": 1.0, "runs": 5}}, "b": {"passed": True}},
                    {"a": {"n50": {"down_s": 0.021, "network_s": 2.0, "runs": 5}}, "b": {"passed": False}})
    assert lines == ["a.n50.down_s: 0.021 / 0.02 = 1.05", "a.n50.network_s: 2 / 1 = 2.00  <-- regression"]


def test_durations_in_every_form_bind_accepts():
    """DNS-3 reads dnssec-policy durations: ISO 8601 with weeks, months and years, TTL-style
    units, plain seconds, `unlimited` (a policy written in weeks once crashed the test)."""
    import math

    from siteproof.areas.dns.checks import iso_duration, signing_policies
    from siteproof.errors import SiteproofError

    day = 86400
    cases = {"P3W": 21 * day, "p2w1d": 15 * day, "P1Y": 365 * day, "P1M": 30 * day, "PT12H": 43200, "PT90M": 5400,
             "P1DT2H3M4S": day + 7384, "2w": 14 * day, "1d12h": 36 * 3600, "90m": 5400, "45S": 45, "300": 300}
    for text, seconds in cases.items():
        assert iso_duration(text) == seconds, text
    assert math.isinf(iso_duration("unlimited"))
    for bad in ("P", "PT", "P1DT", "3 weeks", "P1.5D", "-P1D", "1x"):
        with pytest.raises(ValueError, match="is not a duration BIND accepts"):
            iso_duration(bad)
    conf = 'dnssec-policy lab {\n    signatures-validity P3W;\n    signatures-refresh 5 days;\n};\nzone "a.example" {\n    dnssec-policy lab;\n};\n'
    with pytest.raises(SiteproofError, match=r"named.conf line 3: dnssec-policy lab: signatures-refresh: '5 days' is not a duration"):
        signing_policies(conf)
    assert signing_policies(conf.replace("5 days", "P5D"))["a.example"].validity == 21 * day


def test_hold_for_fails_at_the_first_observation_that_breaks_the_state():
    states = iter(["", "", "edge1: route to 10.103.0.0/24 via nothing", ""])
    with pytest.raises(HoldBroken) as broken:
        hold_for(lambda: next(states), "ospf_settle", expected="routing whole", interval=0.01, accept=lambda s: s == "")
    assert broken.value.observed == "edge1: route to 10.103.0.0/24 via nothing"
    assert "stopped holding" in str(broken.value)


def test_hold_for_lasts_its_whole_budget_when_the_state_holds(monkeypatch):
    monkeypatch.setattr("siteproof.budgets.seconds", lambda name: 0.05)
    held = hold_for(lambda: "", "ospf_settle", expected="routing whole", interval=0.01, accept=lambda s: s == "")
    assert held.elapsed >= 0.05 and held.polls >= 2
