"""Unit tests of the balance statistics, nft flow listings and the excluded-VIP parser.

The nft listing is a recorded sample of `nft -j list set` output (a fake on purpose: it
checks the parser only; the suites read real counters).
"""

from __future__ import annotations

import json

import pytest

from siteproof.areas.ecmp.routes import bar
from siteproof.probes.flowcount import Flow, _elements, ruleset, where
from siteproof.probes.gap import resumed_after_silence
from siteproof.stats import binomial_sf, chi2_sf, max_share_bound, uniform_balance
from siteproof.topology.render import same_order_priorities, seeded_priorities
from siteproof.vrrp import config as vrrp


@pytest.mark.parametrize(("statistic", "dof", "p"), [(3.841459, 1, 0.05), (35.17246, 23, 0.05), (49.72823, 23, 0.001),
                                                     (0.5, 2, 0.7788008), (10.0, 23, 0.9912766)])
def test_chi2_sf_matches_tables(statistic, dof, p):
    assert chi2_sf(statistic, dof) == pytest.approx(p, rel=1e-5)


def test_uniform_balance_accepts_even_and_rejects_piled_counts():
    even = uniform_balance([200] * 23 + [230])
    assert even.p_value > 0.5 and even.max_over_mean < 1.2
    piled = uniform_balance([4800] + [0] * 23)
    assert piled.p_value < 1e-100 and piled.max_over_mean == pytest.approx(24)
    assert uniform_balance([0, 0]).p_value == 0.0


def test_binomial_and_share_bound():
    assert binomial_sf(0, 5, 0.3) == 1.0
    assert binomial_sf(6, 5, 0.3) == 0.0
    assert binomial_sf(5, 5, 0.5) == pytest.approx(1 / 32)
    assert max_share_bound(1, 23) == 1
    assert max_share_bound(4, 20) == 3
    assert max_share_bound(8, 16) == 4
    assert max_share_bound(24, 23) == 7
    assert max_share_bound(5, 1) == 5


LISTING = {"nftables": [
    {"metainfo": {"version": "1.0.6"}},
    {"set": {"family": "inet", "name": "flows4", "table": "siteproof_flows", "elem": [
        {"elem": {"val": {"concat": ["10.100.2.1", "10.200.2.1", "udp", 4000, 99]}, "counter": {"packets": 3, "bytes": 87}}},
        {"elem": {"val": {"concat": ["10.100.2.1", "10.200.2.1", "tcp", 4001, 99]}, "counter": {"packets": 1, "bytes": 60}}},
    ]}},
]}


def test_flow_listing_parsed_with_packet_counts():
    counts = dict(_elements(json.dumps(LISTING)))
    assert counts == {Flow("10.100.2.1", "10.200.2.1", "udp", 4000, 99): 3, Flow("10.100.2.1", "10.200.2.1", "tcp", 4001, 99): 1}
    assert where({"gw01": counts, "gw02": {}}, Flow("10.100.2.1", "10.200.2.1", "udp", 4000, 99)) == {"gw01": 3}


def test_ruleset_counts_both_families_at_the_hook():
    text = ruleset("forward")
    assert "hook forward" in text and "@flows4" in text and "@flows6" in text and "ip6 saddr" in text


def test_excluded_block_floats_with_the_instance():
    conf = """vrrp_instance HSN_01 {
        virtual_router_id 1
        priority 250
        virtual_ipaddress { 10.100.1.1/16 dev eth1 }
        virtual_ipaddress_excluded {
            2001:db8:100::101/64 dev eth1
        }
    }"""
    assert vrrp.parse_keepalived(conf)["HSN_01"].vips == ["10.100.1.1", "2001:db8:100::101"]


def test_same_order_priorities_share_one_takeover_order():
    members = [f"gw{i:02d}" for i in range(1, 9)]
    orders = {tuple(sorted(members, key=same_order_priorities(5, members, home).get, reverse=True))[1:] for home in members}
    rest = [tuple(o for o in order) for order in orders]
    # Without its home on top, every group ranks the others the same way.
    common = sorted(members, key=same_order_priorities(5, members).get, reverse=True)
    assert all(list(r) == [m for m in common if m in r] for r in rest)
    assert len({tuple(sorted(seeded_priorities(5, g, members, "gw01").items())) for g in range(8)}) == 8


def test_bar_scales_to_the_top():
    assert bar(10, 10, width=20) == "█" * 20
    assert bar(1, 1000, width=20) == "█"
    assert bar(0, 10) == ""


def test_a_resumption_is_counted_after_the_silence_a_fault_makes():
    """GW-6 at a site: a freeze sent at 10.0 took effect at 10.3; the echoes of 10.0-10.3
    still came through the frozen gateway and are no resumption, those after the silence are."""
    before = [9.9 + i * 0.01 for i in range(40)]  # 9.90 .. 10.29, through the old gateway
    after = [12.0 + i * 0.01 for i in range(25)]
    assert resumed_after_silence(before, 10.0, 0.5) == 0
    assert resumed_after_silence(before + after, 10.0, 0.5) == 25
    assert resumed_after_silence([], 10.0, 0.5) == 0
    # A freeze that took effect at once: the silence runs from the fault itself.
    assert resumed_after_silence([9.99, 10.8, 10.81], 10.0, 0.5) == 2
