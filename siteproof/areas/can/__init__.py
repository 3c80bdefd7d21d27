"""The privatized CAN (SPEC CAN-*, MGMT-1): router ACLs that isolate, OSPF and BGP under test."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from siteproof import budgets


def _reconverge(params: Mapping[str, Any], table: budgets.Budgets) -> float:
    """A lost neighbour is noticed within the dead interval (a cable pull at once), then SPF
    runs after at most its hold time; plus the margin."""
    dead = float(params.get("ospf_dead", 40))
    spf = float(params.get("spf_delay_ms", 200)) / 1000
    return dead + 10 * spf + table("ospf_reconverge_margin")


def _settle(params: Mapping[str, Any], table: budgets.Budgets) -> float:
    """After a repair: FRR's ABR task (NSSA translation, summaries) runs ospf_abr_delay after
    a change, then SPF after its hold; plus the margin."""
    return table("ospf_abr_delay") + 10 * float(params.get("spf_delay_ms", 200)) / 1000 + table("ospf_reconverge_margin")


def _converge(params: Mapping[str, Any], table: budgets.Budgets) -> float:
    """From start: adjacencies within a dead interval or two (a lost first hello waits one
    hello), and the ABR task's first run (it is scheduled as ospfd reads its config: the
    edges' translated routes come no sooner); then LSA flooding and SPF; plus 5 s."""
    dead = float(params.get("ospf_dead", 40))
    return max(2 * dead, table("ospf_abr_delay")) + 10 * float(params.get("spf_delay_ms", 200)) / 1000 + 5.0


# FRR runs its ABR task (which translates type-7 LSAs into type-5, and summarizes) this long
# after it is scheduled, and a pending one is not moved: OSPF_ABR_TASK_DELAY, 7 s in FRR 8.4
# (this machine's Debian 12 package: measured 7.000 s in ospfd's debug log), 5 s in FRR 9 on.
budgets.register("ospf_abr_delay", 7.0, "FRR's ABR task (NSSA translation, summaries) runs this long after it is "
                 "scheduled (OSPF_ABR_TASK_DELAY: 7 s in FRR 8.4, 5 s from FRR 9)", owner="can")
budgets.register("ospf_converge", _converge, "every OSPF adjacency full, every BGP session established and the routes "
                 "spread after start (the longer of 2 x dead interval and the ABR task's delay, + SPF + 5 s)", owner="can")
budgets.register("ospf_reconverge_margin", 2.0, "added to the OSPF dead interval and SPF hold for a reconvergence", owner="can")
budgets.register("ospf_reconverge", _reconverge, "routing has gone around a failed link or router (dead interval + SPF + margin)",
                 owner="can")
budgets.register("ospf_settle", _settle, "a repaired network stays whole this long (FRR's ABR task, which translates "
                 "type-7 LSAs and summarizes, runs ospf_abr_delay after a change; then SPF; plus the margin)", owner="can")
budgets.register("bgp_update", 10.0, "a BGP announcement reaches the peer's received routes", owner="can")
budgets.register("reach_probe", 1.0, "a reachability probe waits this long for an answer", owner="can")


def _edge_failover(params: Mapping[str, Any], table: budgets.Budgets) -> float:
    """An edge router or edge-DC link lost with its carrier: both ends see it at once, the fabric
    drops the LAG member at once, the DC routers run SPF within its hold time; plus the margin."""
    return 10 * float(params.get("spf_delay_ms", 200)) / 1000 + table("ospf_reconverge_margin")


budgets.register("edge_failover", _edge_failover, "HSN egress is back after an edge router or an edge-DC link lost its "
                 "carrier (SPF hold + margin)", owner="can")
budgets.register("arp_answer", 1.0, "every responder has answered an ARP request", owner="can")
budgets.register("hsn_unfair_p", 1e-4, "HSN-2: a link whose flow count a fair hash over its edge router's links would "
                 "give with less than this probability (binomial lower tail) carries less than its share",
                 owner="can", kind="threshold")
