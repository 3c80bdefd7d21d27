"""The static ruleset reader on a ruleset `nft -j list ruleset` printed (nft 1.0.6, stored in
tests/data: no namespace here). Each case is one packet and what the kernel would do with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from siteproof.nftjson import Packet, verdict

RULESET = json.loads((Path(__file__).parent / "data" / "nft-input-sample.json").read_text())


def tcp(port: int, source: str = "10.50.0.9", **kw) -> Packet:
    family = 6 if ":" in source else 4
    return Packet(family, source, "2001:db8::1" if family == 6 else "10.60.0.10", "tcp", dport=port, sport=40000,
                  iifname=kw.pop("iifname", "eth1"), **kw)


@pytest.mark.parametrize(("packet", "expected", "where"), [
    (tcp(12000), "accept", "tcp dport 12000-12019"),
    (tcp(12019), "accept", "tcp dport 12000-12019"),
    (tcp(12020), "drop", "policy drop of table inet dtnprofile chain input"),  # one past the range
    (tcp(11999), "drop", "policy drop"),
    (tcp(50100, "10.60.0.50"), "accept", "ip saddr 10.60.0.50 tcp dport 50100-50199"),
    (tcp(50100, "10.60.0.51"), "drop", "policy drop"),  # a neighbour of the one permitted source
    (tcp(85, "10.70.3.4"), "accept", "ip saddr @peers"),  # named set with a prefix, anonymous set with a range
    (tcp(91, "10.70.3.4"), "drop", "policy drop"),
    (tcp(85, "10.71.0.1"), "drop", "policy drop"),
    (tcp(22, "10.99.1.1"), "accept", "ip saddr 10.99.0.0/16 meta iifname != eth0"),
    (tcp(22, "10.99.1.1", iifname="eth0"), "drop", "policy drop"),
    (tcp(12000, "2001:db8:5::1"), "accept", "tcp dport 12000-12019"),  # inet: both families
    (tcp(12005), "drop", "table ip v4only chain input: tcp dport 12005 drop"),  # an `ip` table sees IPv4 ...
    (tcp(12005, "2001:db8:5::1"), "accept", "tcp dport 12000-12019"),  # ... and not IPv6
    (tcp(9), "reject", "tcp dport 9 reject"),
    (tcp(7, iifname="eth3"), "drop", "meta iifname eth* tcp flags syn tcp dport 7 drop"),
    (tcp(12000, ct_state="established"), "accept", "ct state established,related"),
    (Packet(4, "10.50.0.9", "10.60.0.10", "icmp"), "accept", "ip protocol icmp"),  # no interface named: not lo
    (Packet(6, "2001:db8:5::1", "2001:db8::1", "ipv6-icmp"), "accept", "meta l4proto ipv6-icmp"),
    (Packet(6, "2001:db8::7", "2001:db8::1", "udp", dport=53, sport=5353), "accept", "chain dns: ct state new accept"),
    (Packet(6, "2001:db8:1::7", "2001:db8::1", "udp", dport=53, sport=5353), "drop", "policy drop"),
])
def test_one_packet_one_verdict(packet, expected, where):
    found = verdict(RULESET, packet)
    assert (found.verdict, where in found.where) == (expected, True), found


def test_what_cannot_be_decided_is_unknown_and_says_why():
    found = verdict(RULESET, Packet(4, "10.50.0.9", "10.60.0.10", "udp", dport=123, sport=123, iifname="eth1"))
    assert (found.verdict, found.admits) == ("unknown", None)
    assert "limit" in found.reason and "udp dport 123" in found.where
    # The interface a packet arrives on, when the caller does not know it, leaves the rule undecided.
    found = verdict(RULESET, tcp(22, "10.99.1.1", iifname=None))
    assert found.verdict == "unknown" and "meta iifname" in found.reason


def test_no_filter_on_the_hook_accepts():
    assert verdict({"nftables": []}, tcp(1)).verdict == "accept"


NAT_RULES = {"nftables": [
    {"chain": {"family": "ip", "table": "ingress", "name": "pre", "type": "nat", "hook": "prerouting", "prio": -100}},
    {"rule": {"family": "ip", "table": "ingress", "chain": "pre", "handle": 3, "expr": [
        {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "inet0"}},
        {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 1094}},
        {"dnat": {"addr": "10.70.0.10"}}]}},
    {"rule": {"family": "ip", "table": "ingress", "chain": "pre", "handle": 4, "expr": [
        {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                   "right": {"prefix": {"addr": "198.51.100.0", "len": 24}}}},
        {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": {"set": ["tcp", "udp"]}}},
        {"dnat": {"addr": "10.70.0.10", "port": 8080}}]}},
]}  # as nft 1.0.6 prints `iifname "inet0" tcp dport 1094 dnat to ...` and a partner's catch-all


def test_a_translation_is_a_verdict_of_its_own_on_a_nat_hook():
    found = verdict(NAT_RULES, Packet(4, "203.0.113.66", "203.0.113.10", "tcp", dport=1094, sport=40000, iifname="inet0"),
                    hook="prerouting")
    assert (found.verdict, found.reason) == ("nat", "dnat to 10.70.0.10")
    partner = verdict(NAT_RULES, Packet(4, "198.51.100.9", "203.0.113.10", "udp", dport=8884, sport=53, iifname="inet0"),
                      hook="prerouting")
    assert (partner.verdict, partner.reason) == ("nat", "dnat to 10.70.0.10:8080")
    assert verdict(NAT_RULES, Packet(4, "198.51.101.0", "203.0.113.10", "udp", dport=8884, sport=53, iifname="inet0"),
                   hook="prerouting").verdict == "accept"


def test_boundary_values_are_every_constant_and_its_neighbours():
    from siteproof.nftjson import Ruleset, boundary_values

    rules = Ruleset.parse(RULESET)
    ports = boundary_values(rules, {"tcp dport"})
    assert {11999, 12000, 12019, 12020, 50099, 50100, 50199, 50200, 21, 22, 23, 79, 91} <= ports
    addresses = boundary_values(rules, {"ip saddr"})
    assert {"10.70.0.0", "10.70.255.255", "10.69.255.255", "10.71.0.0", "10.60.0.49", "10.60.0.51"} <= addresses
    assert boundary_values(Ruleset.parse(NAT_RULES), {"ip saddr"}) == {"198.51.100.0", "198.51.100.255", "198.51.99.255",
                                                                         "198.51.101.0"}


FLAGS = json.loads((Path(__file__).parent / "data" / "nft-tcp-flags.json").read_text())  # nft-tcp-flags.nft as nft 1.0.6 prints it


@pytest.mark.parametrize(("flags", "source", "expected"), [
    ({"syn"}, "10.0.0.5", "drop"),  # a SYN is not an ACK: the policy
    ({"ack"}, "10.0.0.5", "drop"),  # an ACK that opens a connection: the first rule
    ({"ack"}, "10.0.1.5", "drop"),
])
def test_masked_tcp_flags_are_compared_as_nft_does(flags, source, expected):
    packet = Packet(4, source, "10.9.0.1", "tcp", dport=40000, sport=53, tcp_flags=frozenset(flags))
    assert verdict(FLAGS, packet, "forward").verdict == expected


def test_an_ack_of_an_established_flow_passes_the_masked_rule():
    packet = Packet(4, "10.0.0.5", "10.9.0.1", "tcp", dport=40000, sport=53, tcp_flags=frozenset({"ack"}), ct_state="established")
    assert verdict(FLAGS, packet, "forward").verdict == "accept"
    assert verdict(FLAGS, Packet(4, "10.0.0.5", "10.9.0.1", "udp", dport=1, sport=53), "forward").verdict == "drop"


FORWARD_RULES = {"nftables": [
    {"chain": {"family": "inet", "table": "fw", "name": "forward", "type": "filter", "hook": "forward", "prio": 0,
               "policy": "drop"}},
    {"rule": {"family": "inet", "table": "fw", "chain": "forward", "handle": 5, "expr": [
        {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "pub"}},
        {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "hsn"}},
        {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 2049}},
        {"accept": None}]}},
]}  # as nft 1.0.6 prints `iifname "pub" oifname "hsn" tcp dport 2049 accept`


def test_a_forwarded_packet_is_judged_by_where_it_leaves_as_well():
    packet = Packet(4, "203.0.113.9", "10.20.0.5", "tcp", dport=2049, sport=40000, iifname="pub", oifname="hsn")
    assert verdict(FORWARD_RULES, packet, hook="forward").verdict == "accept"
    assert verdict(FORWARD_RULES, Packet(4, "203.0.113.9", "10.20.0.5", "tcp", dport=2049, sport=40000, iifname="pub",
                                         oifname="mgmt"), hook="forward").verdict == "drop"
    unknown = verdict(FORWARD_RULES, Packet(4, "203.0.113.9", "10.20.0.5", "tcp", dport=2049, sport=40000,
                                            iifname="pub"), hook="forward")
    assert unknown.verdict == "unknown" and "oifname" in unknown.reason
