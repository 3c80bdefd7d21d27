"""The DNS servers' query ACL readers on the forms their daemons accept (no lab)."""

from __future__ import annotations

import ipaddress

from siteproof.areas.dns.acl import ANY, beyond, bind_allow_query, knot_query_acl, unbound_access

INSIDE = [ipaddress.ip_network("10.20.0.0/24"), ipaddress.ip_network("2001:db8:20::/64")]


def nets(*texts: str) -> list:
    return [ipaddress.ip_network(t) for t in texts]


def test_bind_named_acls_nest_and_comments_are_ignored():
    conf = """
    /* site ACLs */
    acl "campus" { 10.20.0.0/25; # the first half
                   10.20.0.128/25; };
    acl inside { campus; 2001:db8:20::/64; };  // both families
    options { directory "."; allow-query { inside; }; };
    zone "example.test" { type primary; file "x"; };
    """
    got = bind_allow_query(conf)
    assert got.networks == nets("10.20.0.0/25", "10.20.0.128/25", "2001:db8:20::/64") and not got.unknown
    assert beyond(got, INSIDE) == []


def test_bind_without_allow_query_answers_anyone():
    got = bind_allow_query('options { directory "."; };')
    assert got.networks == list(ANY) and "answers anyone" in got.where


def test_bind_a_zones_own_allow_query_counts():
    conf = 'options { allow-query { 10.20.0.0/24; }; };\nzone "open.test" { type primary; allow-query { any; }; };'
    got = bind_allow_query(conf)
    assert beyond(got, INSIDE) == list(ANY) and "zone open.test: allow-query { any; }" in got.where


def test_bind_elements_it_cannot_place_are_named_not_dropped():
    got = bind_allow_query('options { allow-query { key "xfr"; !10.20.0.5; 10.20.0.0/24; }; };')
    assert got.unknown == ['key "xfr"', "!10.20.0.5"] and got.networks == nets("10.20.0.0/24")


def test_knot_without_a_query_acl_module_answers_anyone_and_with_one_its_addresses():
    assert knot_query_acl("server:\n    listen: 10.20.0.54@53\n").networks == list(ANY)
    conf = ("mod-queryacl:\n  - id: inside\n    address: [ 10.20.0.0/24, 2001:db8:20::/64 ]\n"
            "template:\n  - id: default\n    global-module: mod-queryacl/inside\n")
    assert knot_query_acl(conf).networks == INSIDE


def test_unbound_admits_what_it_allows_and_localhost_is_no_network_of_the_site():
    conf = ("server:\n    access-control: 0.0.0.0/0 refuse\n    access-control: 127.0.0.0/8 allow\n"
            "    access-control: 10.20.0.0/24 allow_snoop\n    # access-control: ::/0 allow\n")
    assert unbound_access(conf).networks == nets("10.20.0.0/24")
    assert beyond(unbound_access("server:\n    access-control: ::/0 allow\n"), INSIDE) == nets("::/0")
