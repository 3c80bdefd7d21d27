"""The structured subset compare the routing checks use (siteproof/jsoncmp.py): pure data, no lab."""

from __future__ import annotations

from siteproof.jsoncmp import ABSENT, json_cmp

OSPF = {"routerId": "10.1.0.200", "areas": {"0.0.0.1": {"nssa": True, "abr": False, "nbrFullAdjacentCounter": 2}}}


def test_a_subset_matches_and_extra_keys_are_ignored():
    assert json_cmp(OSPF, {"areas": {"0.0.0.1": {"nssa": True}}}) == []


def test_each_difference_names_its_path():
    assert json_cmp(OSPF, {"areas": {"0.0.0.1": {"nssa": False, "abr": True}, "0.0.0.2": {}}}) == [
        "areas.0.0.0.1.nssa: expected False, got True",
        "areas.0.0.0.1.abr: expected True, got False",
        "areas.0.0.0.2: missing (expected {})",
    ]


def test_absent_keys_and_list_items_in_any_order():
    routes = {"0.0.0.0/0": [{"protocol": "kernel"}, {"protocol": "ospf", "selected": True}]}
    assert json_cmp(routes, {"0.0.0.0/0": [{"protocol": "ospf", "selected": True}]}) == []
    assert json_cmp(routes, {"10.252.0.0/17": ABSENT}) == []
    assert json_cmp(routes, {"0.0.0.0/0": ABSENT})[0].startswith("0.0.0.0/0: expected absent, got [{'protocol': 'kernel'}")
    assert json_cmp(routes, {"0.0.0.0/0": [{"protocol": "bgp"}]}) == ["0.0.0.0/0[0].protocol: expected 'bgp', got 'kernel'"]
