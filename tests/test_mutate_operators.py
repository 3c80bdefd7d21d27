"""Every mutation operator, applied on a topology where it finds something: its mutant loads as a
variant, changes the named node and nothing else, and the change is the one it says.

The topologies are only loaded and rendered here (no lab): the change is read from the
rendered configs and the node's declared state, the same view `siteproof mutate` uses to call
a mutant equivalent.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from siteproof.fixtures.plugin import selected_by_behaviour
from siteproof.mutate import OPERATORS
from siteproof.mutate.mutants import OUTSIDE_ROLES, choose, differences, write_variant
from siteproof.mutate.runner import Outcome, classify, copy_topology
from siteproof.topology import load_topology
from tests.helpers import REPO

TOPOLOGIES = REPO / "topologies"
FRR = REPO / "tests" / "data" / "mutate-frr"
SPRAY = {"per_packet_spray": True}

# operator: (topology folder, parameter overrides, node to mutate, a changed line must contain)
EXPECTED: dict[str, tuple[Path, dict[str, object], str, str]] = {
    "bridge-port-not-isolated": (TOPOLOGIES / "alice-epn", {}, "pk-grid", "isolated ["),
    "conntrackd-protocol-unsynced": (TOPOLOGIES / "ncsa-nat", {}, "gw1", "-\t\t\t"),
    "dns-also-notify-dropped": (TOPOLOGIES / "perlmutter-dns", {}, "primary", "-    also-notify {"),
    "dns-knot-acl-any": (TOPOLOGIES / "perlmutter-dns", {}, "secondary", "+    address: [ 0.0.0.0/0, ::/0 ]"),
    "dns-nsec3-iterations": (TOPOLOGIES / "perlmutter-dns", {}, "primary", "+    nsec3param iterations 150"),
    "dns-query-acl-any": (TOPOLOGIES / "perlmutter-dns", {}, "primary", "+    allow-query { any; };"),
    "dns-recursion-on": (TOPOLOGIES / "perlmutter-dns", {}, "primary", "+    recursion yes;"),
    "dns-resolver-access-widened": (TOPOLOGIES / "perlmutter-dns", {}, "resolver", "/0 allow"),
    "dns-resolver-validation-off": (TOPOLOGIES / "perlmutter-dns", {}, "resolver", '+    module-config: "iterator"'),
    "dns-secondary-zone-dropped": (TOPOLOGIES / "perlmutter-dns", {}, "secondary", "-  - domain: "),
    "dns-signature-validity-shorter": (TOPOLOGIES / "perlmutter-dns", {}, "primary", "+    signatures-validity P6D;"),
    "dns-transfer-acl-any": (TOPOLOGIES / "perlmutter-dns", {}, "primary", "+    allow-transfer { any; };"),
    "dns-tsig-algorithm-one-side": (TOPOLOGIES / "perlmutter-dns", {}, "secondary", "algorithm: hmac-sha256"),
    "dns-tsig-secret-one-side": (TOPOLOGIES / "perlmutter-dns", {}, "secondary", "+    secret: "),
    "dns-update-acl-any": (TOPOLOGIES / "perlmutter-dns", {}, "primary", "+    allow-update { any; };"),
    "frr-area-type": (TOPOLOGIES / "perlmutter-can", {}, "spine1", "- area 0.0.0.1 nssa"),
    "frr-ospf-timer-slower": (TOPOLOGIES / "perlmutter-can", {}, "spine1", "+ ip ospf "),
    "frr-bgp-neighbour-dropped": (TOPOLOGIES / "perlmutter-can", {}, "spine1", "- neighbor 10.103.0.20 remote-as 65532"),
    "frr-maximum-paths-one": (FRR, {}, "r1", "+  maximum-paths 1"),
    "frr-prefix-list-wider": (TOPOLOGIES / "perlmutter-can", {}, "spine2", "+ip prefix-list CAN seq 5 permit 10.103.0.0/23"),
    "frr-route-map-line-deleted": (TOPOLOGIES / "perlmutter-can", {}, "spine2", "- match ip address prefix-list"),
    "interface-ipv6-address-removed": (TOPOLOGIES / "perlmutter-dns", {}, "primary", "-route default6 via 2001:db8:20::1"),
    "interface-mtu-narrowed": (TOPOLOGIES / "alice-ce", {}, "border", " mtu 1400 "),
    "login-agent-field": (TOPOLOGIES / "perlmutter-login", {}, "login03", '+  "'),
    "nat-pool-ports-overlap": (TOPOLOGIES / "ncsa-nat", {}, "gw2", ":20000-20107"),
    "nat-snat-one-protocol": (TOPOLOGIES / "ncsa-nat", {}, "gw3", "meta l4proto tcp snat to"),
    "nft-drop-to-accept": (TOPOLOGIES / "perlmutter-dns", {}, "edge", "th dport 53 accept"),
    "nft-policy-accept": (TOPOLOGIES / "alice-ce", {}, "ingress", "+    type filter hook forward priority 0; policy accept;"),
    "nft-port-range-lower": (TOPOLOGIES / "scinet-dtn", {}, "dtn1-mv", "+    tcp dport 11999-12019 accept"),
    "nft-port-range-wider": (TOPOLOGIES / "alice-ce", {}, "ingress", "tcp dport 1094-1095 dnat"),
    "nft-rule-deleted": (TOPOLOGIES / "scinet-dtn", {}, "dtn1-mv", "-    "),
    "nft-set-port-added": (TOPOLOGIES / "perlmutter-can", {}, "dc1", "+        "),
    "nft-source-prefix-wider": (TOPOLOGIES / "scinet-dtn", {}, "dtn1-mv", "+    ip saddr 10.250.0.0/19"),
    "nft-table-family": (TOPOLOGIES / "scinet-dtn", {}, "dtn1-mv", "+table ip dtnprofile {"),
    "route-next-hop-removed": (TOPOLOGIES / "perlmutter-can", {}, "ncn-w001", "+route default via 10.103.0."),
    "route-removed": (TOPOLOGIES / "alice-ce", {}, "ce", "-route default via 10.40.0.1"),
    "route-weight-changed": (TOPOLOGIES / "perlmutter-can", {}, "ncn-w001", "weights (2, 1)"),
    "rule-removed": (TOPOLOGIES / "perlmutter-gateways", SPRAY, "nid001", "-rule fwmark "),
    "sysctl-arp-announce": (TOPOLOGIES / "perlmutter-login", {}, "login01", "-sysctl net.ipv4.conf.all.arp_announce = 2"),
    "sysctl-arp-ignore": (TOPOLOGIES / "perlmutter-login", {}, "login01", "-sysctl net.ipv4.conf.all.arp_ignore = 1"),
    "sysctl-ipv4-forwarding": (TOPOLOGIES / "alice-ce", {}, "ingress", "+sysctl net.ipv4.ip_forward = 0"),
    "sysctl-ipv4-hash-policy": (TOPOLOGIES / "perlmutter-can", {}, "dc1", "+sysctl net.ipv4.fib_multipath_hash_policy = 0"),
    "sysctl-ipv6-forwarding": (TOPOLOGIES / "perlmutter-gateways", {}, "gw01", "+sysctl net.ipv6.conf.all.forwarding = 0"),
    "sysctl-ipv6-hash-policy": (TOPOLOGIES / "perlmutter-gateways", {}, "nid002", "+sysctl net.ipv6.fib_multipath_hash_policy = 0"),
    "sysctl-rp-filter": (TOPOLOGIES / "alice-epn", {}, "ibgw", "sysctl net.ipv4.conf.all.rp_filter = "),
    "vrrp-advert-slower": (TOPOLOGIES / "perlmutter-gateways", {"gateways": 4}, "gw02", "+    advert_int 1.5"),
    "vrrp-instance-dropped": (TOPOLOGIES / "ncsa-nat", {}, "gw4b", "-vrrp_instance GW4 {"),
    "vrrp-nopreempt": (TOPOLOGIES / "perlmutter-login", {"logins": 4}, "login02", "+    nopreempt"),
    "vrrp-priority-inverted": (TOPOLOGIES / "ncsa-nat", {}, "gw4a", "-    priority 200"),
    "vrrp-router-id-changed": (TOPOLOGIES / "ncsa-nat", {}, "gw4a", "-    virtual_router_id 54"),
    "vrrp-track-interface-removed": (TOPOLOGIES / "perlmutter-gateways", {"gateways": 4}, "gw03", "-    track_interface {"),
    "vrrp-version-2": (TOPOLOGIES / "ncsa-nat", {}, "gw4b", "+    vrrp_version 2"),
    "vrrp-vip-dropped": (TOPOLOGIES / "ncsa-nat", {}, "gw4a", "-        10.128.0.4/22 dev hsn"),
}


def test_every_operator_has_an_expected_change_and_at_least_forty_exist():
    assert sorted(EXPECTED) == sorted(OPERATORS), "an operator without a unit test here, or a test without one"
    assert len(OPERATORS) >= 40


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_operator_changes_what_it_says_on_the_named_node_only(name, tmp_path):
    folder, overrides, node, fragment = EXPECTED[name]
    original = load_topology(folder, overrides, profile="lab")
    mutants = choose(original, [name], sample=None, seed=1, nodes=[node])
    assert mutants, f"{name} finds nothing to change on {node} of {folder.name}"
    copy = copy_topology(folder, tmp_path)
    changed = []
    for mutant in mutants:
        write_variant(copy, mutant)
        diff = differences(original, load_topology(copy, overrides, mutant.id, "lab"))
        if not diff:
            continue  # an equivalent candidate (a sysctl set to what a fresh namespace has)
        assert set(diff) == {node}, f"{mutant.candidate.summary}: changes {sorted(diff)}, not {node} alone"
        changed += [line for line in diff[node] if line[:1] in "+-" and not line.startswith(("+++", "---"))]
        break
    assert any(fragment in line for line in changed), f"{name} on {node}: no changed line has {fragment!r}: {changed[:6]}"


def test_the_same_seed_picks_the_same_mutants_and_another_seed_other_ones():
    topo = load_topology(TOPOLOGIES / "perlmutter-gateways", {"gateways": 6}, profile="lab")
    first = [m.candidate.summary for m in choose(topo, None, 12, seed=1)]
    assert first == [m.candidate.summary for m in choose(topo, None, 12, seed=1)]
    assert first != [m.candidate.summary for m in choose(topo, None, 12, seed=2)]
    # Operators take turns: twelve mutants come from twelve operators, not from the thousands of
    # VRRP instances of one.
    assert len({m.operator for m in choose(topo, None, 12, seed=1)}) == 12


def test_a_secret_never_reaches_a_summary():
    topo = load_topology(TOPOLOGIES / "perlmutter-dns", profile="lab")
    for mutant in choose(topo, ["dns-tsig-secret-one-side"], None, seed=1):
        assert "secret flipped" in mutant.candidate.summary
        config = topo.nodes[mutant.candidate.node]
        secrets = [line.split()[-1] for spec in config.daemons.values() for line in spec.config.splitlines()
                   if "secret" in line]
        assert not any(s.strip('";') in mutant.candidate.summary for s in secrets if len(s) > 12)


def test_behaviour_selection_takes_ids_areas_and_lists():
    assert selected_by_behaviour([], ["GW-1"])
    assert selected_by_behaviour(["GW"], ["GW-1"]) and selected_by_behaviour(["gw-2,CE"], ["CE-1"])
    assert not selected_by_behaviour(["GW"], ["GWX-1"]) and not selected_by_behaviour(["GW-1"], ["GW-10"])
    assert not selected_by_behaviour(["DNS"], [])


def _junit(*cases: str) -> ET.Element:
    """A child run's JUnit XML as pytest writes it (the test cases given as XML text)."""
    return ET.fromstring(f"<testsuites><testsuite>{''.join(cases)}</testsuite></testsuites>")


def _outcome() -> Outcome:
    return Outcome("mutant-001", "op", ["CE-1"], "ingress", "a change", "survived")


@pytest.mark.parametrize(("case", "outcome", "says"), [
    ('<testcase classname="suites.ce.test_ce" name="test_a"><properties><property name="behaviour" value="CE-1"/>'
     '</properties><failure message="AssertionError: CE-1: the ingress forwards tcp/1095&#10;assert False"/></testcase>',
     "caught", "CE-1: the ingress forwards tcp/1095"),
    ('<testcase classname="suites.ce.test_ce" name="test_a"><error message="failed on setup with &quot;Failed: '
     'siteproof: node ingress: nftables ruleset refused: conflicting protocols&quot;"/></testcase>',
     "invalid", "the lab would not come up: siteproof: node ingress: nftables ruleset refused: conflicting protocols"),
    ('<testcase classname="suites.ce.test_ce" name="test_a"><failure message="KeyError: \'eth9\'"/></testcase>',
     "crashed", "KeyError: 'eth9'"),
    ('<testcase classname="suites.ce.test_ce" name="test_a"/>', "survived", ""),
])
def test_a_child_runs_verdicts_classify_the_mutant(case, outcome, says):
    result = _outcome()
    classify(_junit(case), result)
    assert (result.outcome, result.message) == (outcome, says)
    assert result.tests_run == ["suites/ce/test_ce.py::test_a"]


def test_a_mutant_no_test_looks_at_survives_and_says_so():
    result = _outcome()
    classify(_junit(), result)
    assert result.outcome == "survived" and result.message == "no test of CE-1 runs against this topology"


def test_nodes_that_play_the_outside_world_are_mutated_only_when_named():
    topo = load_topology(TOPOLOGIES / "perlmutter-dns", profile="lab")
    outside = {n.name for n in topo.hosts() if n.role in OUTSIDE_ROLES}
    assert outside, "perlmutter-dns has clients, a root and an upstream server"
    assert not {m.candidate.node for m in choose(topo, None, None, seed=1)} & outside
    named = sorted(outside)[0]
    assert {m.candidate.node for m in choose(topo, ["sysctl-rp-filter", "route-removed"], None, 1, [named])} == {named}
