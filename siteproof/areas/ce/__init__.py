"""The ALICE computing element's required flows (SPEC CE-1, seed 001): XRootD through the
ingress, MonALISA from the worker nodes, worker nodes to the outside, and nothing else in."""

from __future__ import annotations

from siteproof import budgets
from siteproof.areas.ce import daemons  # noqa: F401 - registers xrootd and the MonALISA receiver

budgets.register("ce_connect", 2.0, "one probe connection (XRootD, the outside server) answers", owner="ce")
budgets.register("ce_quiet", 0.5, "how long the port sweep waits for answers after its last probe", owner="ce")
budgets.register("ce_datagrams", 20, "datagrams each worker node sends to the MonALISA receiver", owner="ce", kind="threshold")
