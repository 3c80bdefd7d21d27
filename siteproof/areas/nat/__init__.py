"""NAT gateways for private compute nodes (SPEC NAT-*, seed 002): the keymaster and tracker,
the gateways' conntrack, and the outside server that says whom it saw."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from siteproof import budgets
from siteproof.areas.nat import daemons  # noqa: F401 - registers the tracker, whoami and conntrackd


def _remap(params: Mapping[str, Any], table: budgets.Budgets) -> float:
    """A dead gateway is declared after dead_after observations (each up to an interval plus
    a command timeout), then the moves are applied over SSH within an interval; plus margin."""
    interval = float(params.get("tracker_interval", 5.0))
    timeout = float(params.get("tracker_timeout", 2.0))
    return (int(params.get("tracker_dead_after", 3)) + 1) * (interval + timeout) + table("nat_remap_margin")


budgets.register("nat_remap_margin", 3.0, "added to the tracker's detection time for a remap", owner="nat")
budgets.register("nat_remap", _remap, "the tracker has remapped a dead gateway's computes and their routes say so "
                 "((dead_after + 1) x (interval + command timeout) + margin)", owner="nat")
def _tracker_ready(params: Mapping[str, Any], table: budgets.Budgets) -> float:
    """The tracker sets every compute's route over SSH before it says ready: a daemon's start
    and a quarter second per compute (measured: 64 computes in 4 to 20 s on a loaded 2-core machine)."""
    return table("daemon_ready") + 0.25 * int(params.get("computes", 64))


budgets.register("nat_tracker_ready", _tracker_ready, "the NAT tracker is ready: every compute routed "
                 "(daemon_ready + 0.25 s per compute)", owner="nat")
budgets.register("nat_connect", 2.0, "one connection from a compute to the outside server answers", owner="nat")
budgets.register("nat_quiet", 0.3, "how long captures wait for packets that must not arrive (after the last was sent)",
                 owner="nat")
budgets.register("nat4_connections_per_s", 10.0, "NAT-4: how fast the test opens connections towards a pool's exhaustion",
                 owner="nat", kind="threshold")


def _pair_failover(params: Mapping[str, Any], table: budgets.Budgets) -> float:
    """The pair's backup takes over after 3 adverts and its skew, commits the synchronised
    state, and the flow's next retransmission goes through (RTO capped at 1 s); plus margin."""
    return 4 * float(params.get("vrrp_advert", 1.0)) + 1.0 + 1.0 + table("pair_failover_margin")


budgets.register("pair_failover_margin", 1.0, "added to a failover pair's takeover time", owner="nat")
budgets.register("pair_failover", _pair_failover, "an established flow echoes again after its failover pair's takeover "
                 "(4 x advert + commit 1 s + RTO 1 s + margin)", owner="nat")
budgets.register("pair_sync", 3.0, "a new flow's state reaches the failover pair's backup (conntrackd FTFW)", owner="nat")
budgets.register("nat4_max_ports", 1000, "NAT-4 exhausts a pool address of at most this many ports (more: skipped, saying so)",
                 owner="nat", kind="threshold")
