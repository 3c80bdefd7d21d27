"""The fabric LAG's ruleset (no root needed): what the netdev chain spreads, and over which
members; the lab's own test of the packets is tests/test_lab_netns.py."""

from __future__ import annotations

from siteproof.backends.netns.lag import ruleset


def test_spreads_over_the_live_members_and_sends_arp_to_each():
    text = ruleset("hsn", ["h-nid001", "h-nid002"], ["h-edge1", "h-edge2"], "02:1c:73:00:00:01")
    assert 'devices = { "h-nid001", "h-nid002" }' in text
    assert 'ether type arp dup to "h-edge1" fwd to "h-edge2"' in text
    assert 'mod 2 map { 0 : "h-edge1", 1 : "h-edge2" }' in text
    assert text.startswith("table netdev lag_hsn\ndelete table netdev lag_hsn\n")  # one transaction replaces it


def test_a_lost_member_leaves_the_hash_and_none_left_drops():
    one = ruleset("hsn", ["h-nid001"], ["h-edge2"], "02:1c:73:00:00:01")
    assert "mod 1 map { 0 : \"h-edge2\" }" in one and "h-edge1" not in one
    none = ruleset("hsn", ["h-nid001"], [], "02:1c:73:00:00:01")
    assert "ether daddr 02:1c:73:00:00:01 counter drop" in none and "fwd" not in none
