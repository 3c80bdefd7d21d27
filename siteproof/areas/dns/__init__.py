"""The system's external DNS (SPEC DNS-*): signed zones, transfers, boundary, updates, reconciler."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from siteproof import budgets
from siteproof.areas.dns import daemons  # noqa: F401 - registers the reconciler

budgets.register("notify_propagation", 10.0, "a change on a DNS primary is served by its secondaries", owner="dns")
def _reconcile(params: Mapping[str, Any], table: budgets.Budgets) -> float:
    """The reconciler compares every interval; a change is in after a round or two, plus the update's own time."""
    return 5 * float(params.get("reconcile_interval", 1.0)) + 5.0


budgets.register("reconcile", _reconcile, "the reconciler brings the upstream zone in line with etcd (5 intervals + 5 s)", owner="dns")
budgets.register("resolver_ready", 15.0, "a restarted resolver answers questions again", owner="dns")
budgets.register("zsk_rollover", 90.0, "a ZSK rollover: successor published, active, signing the zone", owner="dns")
budgets.register("cds_published", 90.0, "a signed zone publishes CDS/CDNSKEY for its KSK", owner="dns")
