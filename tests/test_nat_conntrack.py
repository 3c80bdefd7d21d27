"""Reading conntrack listings (siteproof.areas.nat.conntrack) as conntrack-tools write them in
XML (flows copied from a lab's gateway: `conntrack -L -n -o xml`, `conntrackd -i -x`): no lab."""

from __future__ import annotations

import pytest

from siteproof.areas.nat import conntrack

TCP = ('<flow><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>10.128.0.101</src><dst>203.0.113.200</dst>'
       '</layer3><layer4 protonum="6" protoname="tcp"><sport>54922</sport><dport>80</dport></layer4></meta>'
       '<meta direction="reply"><layer3 protonum="2" protoname="ipv4"><src>203.0.113.200</src><dst>203.0.113.10</dst></layer3>'
       '<layer4 protonum="6" protoname="tcp"><sport>80</sport><dport>20078</dport></layer4></meta>'
       '<meta direction="independent"><state>TIME_WAIT</state><timeout>119</timeout><mark>0</mark><use>1</use>'
       '<id>2592117806</id><assured/></meta></flow>')
ICMP_NAT = ('<flow><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>10.128.0.101</src><dst>203.0.113.200'
            '</dst></layer3><layer4 protonum="1" protoname="icmp"></layer4></meta><meta direction="reply"><layer3 protonum="2" '
            'protoname="ipv4"><src>203.0.113.200</src><dst>203.0.113.10</dst></layer3><layer4 protonum="1" protoname="icmp">'
            '</layer4></meta><meta direction="independent"><timeout>29</timeout><mark>0</mark><use>1</use><id>2614319981</id>'
            '</meta></flow>')
ICMP_LOCAL = ('<flow><meta direction="original"><layer3 protonum="2" protoname="ipv4"><src>10.128.3.232</src><dst>10.128.0.1'
              '</dst></layer3><layer4 protonum="1" protoname="icmp"></layer4></meta><meta direction="reply"><layer3 protonum="2" '
              'protoname="ipv4"><src>10.128.0.1</src><dst>10.128.3.232</dst></layer3><layer4 protonum="1" protoname="icmp">'
              '</layer4></meta><meta direction="independent"><id>424257497</id></meta></flow>')
KERNEL = f'<?xml version="1.0" encoding="utf-8"?>\n<conntrack>\n{TCP}\n{ICMP_NAT}\n{ICMP_LOCAL}\n</conntrack>\n'
CACHE = f"{ICMP_LOCAL}\n{ICMP_NAT}\n"  # conntrackd -x: bare flows, no document around them


def test_translated_entries_name_their_compute_pool_and_port():
    assert conntrack.parse(KERNEL) == [conntrack.Entry("tcp", "10.128.0.101", "203.0.113.10", 20078),
                                       conntrack.Entry("icmp", "10.128.0.101", "203.0.113.10", 0)]
    assert conntrack.flows(KERNEL)[0].state == "TIME_WAIT"


def test_a_cache_gives_each_flows_protocol_and_original_source():
    assert conntrack.original_sources(CACHE) == {("icmp", "10.128.3.232"), ("icmp", "10.128.0.101")}
    assert conntrack.original_sources("") == set()


def test_a_malformed_listing_is_one_clear_error():
    with pytest.raises(ValueError, match="conntrack XML unreadable"):
        conntrack.flows("<flow><meta>")


def test_entities_in_a_hostile_listing_are_refused_not_expanded():
    bomb = '<?xml version="1.0"?><!DOCTYPE c [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><conntrack>&b;</conntrack>'
    with pytest.raises(ValueError, match="conntrack XML unreadable"):
        conntrack.flows(bomb)
