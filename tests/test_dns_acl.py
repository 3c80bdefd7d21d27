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


def test_bind_elements_it_cannot_place_are_named_not_dropped_and_negations_admit_nothing():
    got = bind_allow_query('options { allow-query { key "xfr"; !10.20.0.5; 10.20.0.0/24; }; };')
    assert got.unknown == ['key "xfr"'] and got.networks == nets("10.20.0.0/24")
    # A nested list is flattened: the result bounds what is admitted from above, never below.
    got = bind_allow_query('options { allow-query { { !10.20.0.0/24; any; }; 10.20.0.0/24; }; };')
    assert beyond(got, INSIDE) == list(ANY)


def test_bind_localnets_is_the_servers_own_interface_networks():
    conf = "options { allow-query { localhost; localnets; }; };"
    assert bind_allow_query(conf, nets("10.20.0.0/24")).networks == nets("10.20.0.0/24")
    facing_out = bind_allow_query(conf, nets("10.20.0.0/24", "203.0.113.0/24"))
    assert beyond(facing_out, INSIDE) == nets("203.0.113.0/24")
    assert bind_allow_query(conf).unknown == ["localnets (the server's interface networks were not given)"]


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


def test_knot_addresses_in_every_form_its_documentation_lists():
    # One value, a flow list, a block list; prefixes, single addresses, ranges; quoted ids.
    for address in ("address: 10.20.0.0/24", "address: [10.20.0.0/25, 10.20.0.128-10.20.0.255]",
                    "address:\n      - 10.20.0.0/25\n      - 10.20.0.128/25\n"):
        conf = (f"mod-queryacl:\n  - id: \"inside\"\n    {address}\n"
                "template:\n  - id: default\n    global-module: [ mod-queryacl/inside ]\n")
        got = knot_query_acl(conf)
        assert not got.unknown and beyond(got, INSIDE) == [] and got.networks, (address, got)
    ranged = knot_query_acl("mod-queryacl:\n  - id: a\n    address: 10.20.0.250-10.20.1.3\n"
                            "zone:\n  - domain: x.test\n    module: mod-queryacl/a\n")
    assert beyond(ranged, INSIDE) == nets("10.20.1.0/30")  # a range one past the inside /24


def test_knot_an_address_it_cannot_read_is_named_with_its_line():
    conf = "mod-queryacl:\n  - id: a\n    address: [10.20.0.0/24, inside-hosts]\n" \
           "template:\n  - id: default\n    global-module: mod-queryacl/a\n"
    assert knot_query_acl(conf).unknown == ["line 3: inside-hosts"]


def test_unbound_forms_it_accepts_and_what_it_cannot_read():
    conf = ('server:\n    access-control: "10.20.0.0/24" allow\n    access-control: 10.20.0.0/25 refuse_non_local\n'
            "    access-control: 2001:db8:20::/64 allow_setrd\n")
    got = unbound_access(conf)
    assert not got.unknown and got.networks == nets("10.20.0.0/24", "2001:db8:20::/64")
    odd = unbound_access("server:\n  include: /etc/unbound/acl.d/*.conf\n  access-control: 10.20.0.0/24 permit\n")
    assert odd.unknown == ["line 2: include: /etc/unbound/acl.d/*.conf (not read: its access-control lines are not known)",
                           "line 3: access-control: 10.20.0.0/24 permit"]
