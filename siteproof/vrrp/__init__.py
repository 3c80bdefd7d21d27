"""VRRP: keepalived configs read into groups, and a cluster of members holding VIPs.

Shared by every area whose addresses float with VRRP (storage gateways, login nodes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from siteproof import budgets
from siteproof.vrrp.cluster import VrrpCluster
from siteproof.vrrp.config import Group, VrrpInstance, groups_from_configs, host_addresses, parse_keepalived
from siteproof.vrrp.timers import ImpliedTakeover, implied_takeover, master_down_interval


def _takeover(params: Mapping[str, Any], table: budgets.Budgets) -> float:
    """RFC 5798 master-down interval (3 x advert + skew, skew <= advert), plus the margin."""
    advert = float(params.get("advert_interval", 1.0))
    return 3 * advert + advert + table("vrrp_takeover_margin")


def _converge(params: Mapping[str, Any], table: budgets.Budgets) -> float:
    """After start every VIP is home once the masters' first adverts are out: the master-down
    interval and a margin (64 gateways x 128 groups place every VIP 1.8 s after start here)."""
    return 4 * float(params.get("advert_interval", 1.0)) + 6.0


def _configured(params: Mapping[str, Any], table: budgets.Budgets) -> float:
    """What the site requires a group's timers to promise: the master-down interval at the
    site's advert interval with the largest skew (3 x advert + advert)."""
    return 4 * float(params.get("advert_interval", 1.0))


budgets.register("vrrp_configured_takeover", _configured,
                 "the takeover every VRRP group's configured timers may imply (3 x advert + skew, read from the configs)",
                 owner="vrrp")
budgets.register("vrrp_converge", _converge, "every VIP on its home member after start (4 x advert + 6 s)", owner="vrrp")
budgets.register("vrrp_takeover_margin", 2.0, "added to 3 x advert + skew for a takeover", owner="vrrp")
budgets.register("vrrp_takeover", _takeover, "a failed member's VIPs on the next live member", owner="vrrp")
budgets.register("vrrp_respawn_margin", 3.0, "added to vrrp_takeover when the VRRP process crashed: its parent starts a "
                 "new one, which reads the config and removes the addresses the dead one left", owner="vrrp")
budgets.register("vrrp_respawn", lambda params, table: table("vrrp_takeover") + table("vrrp_respawn_margin"),
                 "a crashed VRRP process's VIPs off its host and on one member (vrrp_takeover + vrrp_respawn_margin)",
                 owner="vrrp")
budgets.register("vrrp_restore", 15.0, "a returning member gets its VIPs back", owner="vrrp")

__all__ = ["Group", "ImpliedTakeover", "VrrpCluster", "VrrpInstance", "groups_from_configs", "host_addresses",
           "implied_takeover", "master_down_interval", "parse_keepalived"]
