"""Peer comparison (siteproof.peers): pure text, no lab."""

from __future__ import annotations

from siteproof import peers


def test_own_addresses_are_named_whole_and_counters_and_handles_dropped():
    text = "ip saddr 10.0.0.1 accept # handle 4\n\n  ip daddr 10.0.0.10 counter packets 5 bytes 300 drop\n"
    assert peers.abstracted(text, {"10.0.0.1": "<own>"}) == ["ip saddr <own> accept", "  ip daddr 10.0.0.10 counter drop"]


def test_the_odd_member_is_named_with_its_changed_lines():
    same = ["table ip acl", "drop"]
    found = peers.compare({"a": same, "b": same, "c": ["table ip acl", "accept"]})
    assert found.held_by == ["a", "b"] and list(found.differing) == ["c"]
    assert found.summary() == "c: -drop, +accept"


def test_two_peers_that_differ_name_the_second_against_the_first():
    found = peers.compare({"dc2": ["x", "y"], "dc1": ["x"]})
    assert found.held_by == ["dc1"] and found.summary() == "dc2: +y"
    assert "+y" in peers.unified(found, {"dc2": ["x", "y"], "dc1": ["x"]})["dc2"]


def test_members_that_agree_differ_in_nothing():
    assert not peers.compare({"a": ["x"], "b": ["x"]}).differing


def test_an_address_followed_by_a_port_or_a_range_is_named():
    assert peers.abstracted("snat to 10.0.0.1-10.0.0.1:20000-20099", {"10.0.0.1": "<pool>"}) == ["snat to <pool>-<pool>:20000-20099"]


def test_the_summary_leaves_out_indentation():
    assert peers.compare({"a": ["x"], "b": ["x", "\t\tip saddr 10.0.0.0/8 accept"], "c": ["x"]}).summary() == "b: +ip saddr 10.0.0.0/8 accept"
