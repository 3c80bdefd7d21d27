"""Pre/post snapshots (siteproof/snapshot.py): what moves by itself is left out, a change a run
leaves behind fails it and is shown, and a disruptive run that undoes its changes passes.

The end-to-end case plays perlmutter-dns as a site and runs, from its vantage, with
--allow-disruptive: the DNS update test (it deletes the record it added) must leave the site
as found; a made-up disruptive test that adds a record and keeps it must fail the run, and the
diff must name the record.
"""

from __future__ import annotations

import json

from siteproof import snapshot
from siteproof.backends.netns import Lab
from siteproof.backends.netns.as_site import VANTAGE, as_site, inventory
from siteproof.topology import load_topology
from tests.helpers import REPO, needs_root
from tests.selfcheck import run_child_pytest


def test_counters_handles_and_lifetimes_are_left_out():
    a = json.dumps({"nftables": [{"metainfo": {"version": "1"}},
                                 {"rule": {"table": "t", "chain": "c", "handle": 4,
                                           "expr": [{"counter": {"packets": 10, "bytes": 900}}, {"accept": None}]}},
                                 {"set": {"name": "seen", "flags": ["dynamic"], "elem": ["10.0.0.1"]}}]})
    b = a.replace('"handle": 4', '"handle": 9').replace('"packets": 10', '"packets": 99').replace('"10.0.0.1"', '"10.0.0.2"')
    assert snapshot.ruleset(a) == snapshot.ruleset(b)
    addr = [{"ifname": "eth1", "operstate": "UP",
             "addr_info": [{"local": "10.1.0.1", "prefixlen": 24, "valid_life_time": 100}]}]
    later = [{**addr[0], "addr_info": [{"local": "10.1.0.1", "prefixlen": 24, "valid_life_time": 7}]}]
    assert snapshot.addresses(json.dumps(addr)) == snapshot.addresses(json.dumps(later)) == ["eth1 10.1.0.1/24", "eth1 UP"]


def test_a_change_left_behind_fails_and_an_informational_one_does_not():
    before = {"gw01": {"addresses": ["eth1 10.1.0.1/24", "eth1 UP"]}, "(dns)": {"dns serials": ["z ns1 1"]}}
    moved = {"gw01": {"addresses": ["eth1 UP"]}, "(dns)": {"dns serials": ["z ns1 2"]}}
    changes = snapshot.diff(before, moved, informational={"serials"})
    assert not snapshot.left_as_found(changes)
    assert [(c.host, c.section, c.removed, c.added, c.informational) for c in changes] == [
        ("(dns)", "dns serials", ["z ns1 1"], ["z ns1 2"], True), ("gw01", "addresses", ["eth1 10.1.0.1/24"], [], False)]
    assert "NOT left as found" in "\n".join(snapshot.summary(changes))
    only_serials = snapshot.diff(before, {**before, "(dns)": moved["(dns)"]}, informational={"serials"})
    assert snapshot.left_as_found(only_serials)



def test_a_route_the_nat_tracker_moved_is_shown_apart_and_any_other_route_still_fails():
    from types import SimpleNamespace

    from siteproof.areas.nat import state  # noqa: F401 - registers the tracker's routes

    site = SimpleNamespace(labels={"nid001": {"role": "compute"}, "gw01": {"role": "nat-gateway"}})  # labels are all it reads
    route = '{"dst": "default", "gateway": "%s"}'
    other = '{"dst": "10.9.0.0/16", "gateway": "10.128.0.9"}'

    def host(node: str, gateway: str, extra: list[str]) -> dict[str, list[str]]:
        return snapshot._set_apart(site, node, {"routes": [route % gateway, *extra]})

    before = {"nid001": host("nid001", "10.128.0.2", [other]), "gw01": host("gw01", "10.0.0.1", [])}
    remapped = {"nid001": host("nid001", "10.128.0.3", [other]), "gw01": before["gw01"]}
    changes = snapshot.diff(before, remapped)
    assert [(c.host, c.section, c.informational) for c in changes] == [("nid001", "routes-by-nattracker", True)]
    assert snapshot.left_as_found(changes)
    lost = {**remapped, "nid001": host("nid001", "10.128.0.3", [])}
    assert not snapshot.left_as_found(snapshot.diff(before, lost)), "a compute's other route lost must still fail"
    moved_on_a_gateway = {**before, "gw01": host("gw01", "10.0.0.2", [])}
    assert not snapshot.left_as_found(snapshot.diff(before, moved_on_a_gateway)), "only computes' default routes are the tracker's"

def test_a_lost_subnet_router_anycast_route_is_shown_apart_and_a_lost_route6_still_fails():
    from types import SimpleNamespace

    site = SimpleNamespace(labels={"gw02": {"role": "gateway"}})
    anycast = snapshot.entries('[{"type": "anycast", "dst": "2001:db8:100::", "dev": "eth1", "table": "local", '
                               '"protocol": "kernel", "metric": 0, "flags": []}]')
    static = snapshot.entries('[{"dst": "2001:db8:9::/64", "gateway": "2001:db8:100::9", "dev": "eth1", "flags": []}]')
    before = {"gw02": snapshot._set_apart(site, "gw02", {"routes6": anycast + static})}
    no_anycast = {"gw02": snapshot._set_apart(site, "gw02", {"routes6": list(static)})}
    changes = snapshot.diff(before, no_anycast)
    assert [(c.host, c.section, c.informational) for c in changes] == [("gw02", snapshot.SUBNET_ANYCAST, True)]
    assert snapshot.left_as_found(changes)
    no_static = {"gw02": snapshot._set_apart(site, "gw02", {"routes6": list(anycast)})}
    assert not snapshot.left_as_found(snapshot.diff(before, no_static)), "a configured IPv6 route lost must still fail"


LEAVES_A_RECORD = '''
import pytest

pytestmark = pytest.mark.topology("perlmutter-dns")


@pytest.mark.disruptive
def test_adds_a_record_and_keeps_it(dnssite):
    sent = dnssite.inside.update(dnssite.primary, dnssite.domain,
                                 lambda m: m.add("left-behind." + dnssite.domain + ".", 60, "A", "10.9.9.9"),
                                 dnssite.update_ring(), dnssite.update_key_name)
    assert sent == "NOERROR"
'''


@needs_root
def test_a_disruptive_site_run_must_leave_the_site_as_found(tmp_path):
    topo = as_site(load_topology(REPO / "topologies" / "perlmutter-dns", profile="lab"))
    (tmp_path / "test_leaves_a_record.py").write_text(LEAVES_A_RECORD)
    with Lab(topo, owner_kind="pytest") as lab:
        site = inventory(lab, tmp_path / "inventory.yml")

        def run(*tests: str, folder: str):
            return run_child_pytest([*tests, "--site", str(site), "--allow-disruptive", "-p", "no:randomly", "-q",
                                     "-o", "addopts=", "--rootdir", str(REPO), f"--snapshot-dir={tmp_path / folder}"],
                                    cwd=REPO, timeout=300, prefix=("ip", "netns", "exec", lab.ns(VANTAGE)))

        undone = run("suites/dns/test_dns.py::test_dns4_dns7_signed_update_reaches_secondary_within_budget", folder="undone")
        kept = run(str(tmp_path / "test_leaves_a_record.py"), folder="kept")
    assert undone.returncode == 0, f"the update test (which deletes its record) failed the run:\n{undone.stdout[-2500:]}"
    assert "the site was left as found" in undone.stdout, undone.stdout[-2500:]
    assert kept.returncode == 1, f"a run that left a record behind exited {kept.returncode}:\n{kept.stdout[-2500:]}"
    assert "the site was NOT left as found" in kept.stdout, kept.stdout[-2500:]
    left = [line for line in kept.stdout.splitlines() if line.strip().startswith("+ left-behind.perlmutter.example.")]
    assert left and left[0].endswith(" A 10.9.9.9"), f"the diff does not name the record left behind:\n{kept.stdout[-2500:]}"
    assert (tmp_path / "kept" / "snapshot-before.json").is_file() and (tmp_path / "kept" / "snapshot-after.json").is_file()
