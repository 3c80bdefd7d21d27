"""Reading conntrack listings (siteproof.areas.nat.conntrack) as conntrack-tools print them
(lines copied from a lab's gateway): no lab."""

from __future__ import annotations

from siteproof.areas.nat import conntrack

KERNEL = [
    "tcp      6 431999 ESTABLISHED src=10.128.0.101 dst=203.0.113.200 sport=40000 dport=7 "
    "src=203.0.113.200 dst=203.0.113.11 sport=7 dport=20001 [ASSURED] mark=0 use=1",
    "icmp     1 28 src=10.128.3.232 dst=10.128.0.4 type=8 code=0 id=30025 src=10.128.0.4 dst=10.128.3.232 type=0 code=0 id=30025 mark=0 use=1",
]
EXTERNAL_CACHE = [  # conntrackd -e: the original tuple alone
    "icmp     1 src=10.128.0.104 dst=203.0.113.200 type=8 code=0 id=354 [active since 4s]",
    "tcp      6 ESTABLISHED src=10.128.3.232 dst=10.128.0.4 sport=33126 dport=22 [ASSURED] [active since 13s]",
    "udp      17 src=10.128.0.104 dst=203.0.113.200 sport=41000 dport=7 [active since 2s]",
    "cache external:",
]


def test_translated_entries_name_their_compute_pool_and_port():
    assert conntrack.parse(KERNEL) == [conntrack.Entry("tcp", "10.128.0.101", "203.0.113.11", 20001)]


def test_the_external_cache_gives_each_entrys_protocol_and_original_source():
    assert conntrack.original_sources(EXTERNAL_CACHE) == {
        ("icmp", "10.128.0.104"), ("tcp", "10.128.3.232"), ("udp", "10.128.0.104")}
