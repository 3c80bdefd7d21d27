"""GPFS storage gateways (SPEC GW-*): VRRP VIPs on both sides, the spread of orphaned VIPs.

The gateways are a VRRP cluster (siteproof.vrrp); what is theirs alone is the two-sided
VIP labels and the statistical bound of GW-5.
"""

from __future__ import annotations

from siteproof import budgets, vrrp  # noqa: F401 - vrrp registers the VRRP budgets this area waits on

budgets.register("gw5_alpha", 0.001, "GW-5: chance that fair random priorities exceed the spread bound", owner="gateways",
                 kind="threshold")
