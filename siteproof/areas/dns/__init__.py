"""The system's external DNS (SPEC DNS-*): signed zones, transfers, boundary, updates, reconciler."""

from __future__ import annotations

from siteproof import budgets
from siteproof.areas.dns import daemons  # noqa: F401 - registers the reconciler

budgets.register("notify_propagation", 10.0, "a change on a DNS primary is served by its secondaries", owner="dns")
budgets.register("reconcile", 15.0, "the reconciler brings the upstream zone in line with etcd", owner="dns")
budgets.register("zsk_rollover", 90.0, "a ZSK rollover: successor published, active, signing the zone", owner="dns")
budgets.register("cds_published", 90.0, "a signed zone publishes CDS/CDNSKEY for its KSK", owner="dns")
