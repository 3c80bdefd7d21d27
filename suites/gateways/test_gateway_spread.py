"""Spread of orphaned VIPs over the surviving gateways (SPEC GW-5; paper 000, section IV).

Priorities are random per VRRP group, so the VIPs of failed gateways land on different
survivors instead of piling on one. The bound is statistical: the most a fair random
assignment gives one gateway, except with probability 0.001 over all of them.
"""

from __future__ import annotations

from collections import Counter

import pytest

from siteproof.areas.ecmp.routes import bar
from siteproof.stats import max_share_bound

pytestmark = [pytest.mark.topology("perlmutter-gateways"), pytest.mark.gw]

FAILURE_STEPS = (1, 2, 4, 8)


@pytest.mark.behaviour("GW-5")
def test_gw5_priority_matrix_spreads_second_choices(gateways, evidence):
    """GW-5: every gateway is in every group, and none is the second choice of a disproportionate share."""
    gateways.assert_readable()
    orders = gateways.takeover_orders()
    missing = [f"{vips[0]} lacks {sorted(set(gateways.names) - set(order))}"
               for order, vips in orders.items() if set(order) != set(gateways.names)]
    first = Counter(order[0] for order in orders)
    second = Counter(order[1] for order in orders if len(order) > 1)
    bound = max_share_bound(len(orders), len(gateways.names) - 1, alpha=gateways.site.threshold("gw5_alpha"))
    top = max(second.values(), default=0)
    evidence.record("VRRP groups (distinct takeover orders)", len(orders))
    evidence.record("second-choice bound", bound)
    evidence.table("takeover order matrix", ["gateway", "first choice of", "second choice of", ""],
                   [[gw, first[gw], second[gw], bar(second[gw], top)] for gw in gateways.names])
    assert not missing, "gateways missing from VRRP groups: " + "; ".join(missing)
    heavy = {gw: n for gw, n in second.items() if n > bound}
    assert not heavy, (
        "; ".join(f"{gw} is the second choice of {n} of {len(orders)} VRRP groups" for gw, n in heavy.items())
        + f" (random priorities give at most {bound}): one failure piles those VIPs on it"
    )


@pytest.mark.disruptive
@pytest.mark.behaviour("GW-5")
def test_gw5_orphaned_vips_spread_over_survivors(gw_lab, faults, evidence):
    """GW-5: after k = 1, 2, 4, 8 failures the orphaned VIPs spread over the survivors; with one left it holds all."""
    gateways = gw_lab
    orders = gateways.takeover_orders()
    rows, problems = [], []
    failed: list[str] = []
    for k in [k for k in FAILURE_STEPS if k < len(gateways.names)]:  # a site of 4 gateways: k = 1, 2
        newly = [gw for gw in gateways.names if gw not in failed][: k - len(failed)]
        faults.stop_many(newly, "keepalived")
        failed += newly
        gateways.down.update(newly)
        placed = gateways.wait_placement("vrrp_takeover", seconds=gateways.takeover_budget())
        seen = gateways.holders()
        # One unit per takeover order (its VIPs move together); who holds each orphaned unit now.
        taken = Counter(seen[vips[0]][0] for order, vips in orders.items() if order[0] in failed and seen[vips[0]])
        survivors = len(gateways.names) - len(failed)
        orphans = sum(taken.values())
        bound = max_share_bound(orphans, survivors, alpha=gateways.site.threshold("gw5_alpha"))
        busiest, most = taken.most_common(1)[0] if taken else ("-", 0)
        rows.append([k, survivors, orphans, len(taken), f"{busiest}: {most}", bound, round(placed.elapsed, 3)])
        if most > bound:
            problems.append(f"after {k} failures {busiest} took {most} of the {orphans} orphaned VRRP groups (bound {bound})")
    evidence.table("orphaned VRRP groups after k failures",
                   ["k", "survivors", "orphaned groups", "survivors that took some", "busiest", "bound", "settled after s"], rows)
    last = gateways.names[-1]
    rest = [gw for gw in gateways.names if gw not in failed and gw != last]
    faults.stop_many(rest, "keepalived")
    gateways.down.update(rest)
    gateways.wait_placement("vrrp_takeover", seconds=gateways.takeover_budget())
    held = [vip for vip, holders in gateways.holders().items() if holders == [last]]
    evidence.record("one survivor", last)
    evidence.record("VIPs on the one survivor", f"{len(held)} of {len(gateways.vips)}")
    assert not problems, "orphaned VIPs pile up: " + "; ".join(problems)
    assert len(held) == len(gateways.vips), f"the last gateway {last} holds {len(held)} of {len(gateways.vips)} VIPs"
