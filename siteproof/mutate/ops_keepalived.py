"""Operators on keepalived configs, one VRRP instance of one node at a time."""

from __future__ import annotations

import re

from siteproof.mutate.registry import Candidate, edits, enclosing, operator
from siteproof.topology.model import Topology

VRRP = ["GW", "LOGIN", "NAT"]


def _instance(match: re.Match[str], text: str) -> str:
    return enclosing(text, match.start(), "vrrp_instance")


@operator("vrrp-advert-slower", VRRP)
def advert_slower(topo: Topology) -> list[Candidate]:
    """One instance of one node advertising three times slower than its peers."""
    return edits(topo, "keepalived", r"^(\s*advert_int\s+)([\d.]+)\s*$",
                 lambda m, _: f"{m[1]}{float(m[2]) * 3:g}", _instance)


@operator("vrrp-priority-inverted", VRRP)
def priority_inverted(topo: Topology) -> list[Candidate]:
    """One instance's priority on one node mirrored (250 -> 5): the home node loses its VIP."""
    return edits(topo, "keepalived", r"^(\s*priority\s+)(\d+)\s*$",
                 lambda m, _: f"{m[1]}{max(1, 255 - int(m[2]))}", _instance)


@operator("vrrp-nopreempt", VRRP)
def nopreempt(topo: Topology) -> list[Candidate]:
    """One instance on one node that keeps a VIP it took over (nopreempt): the VIP never goes home."""
    return edits(topo, "keepalived", r"^(\s*)priority\s+\d+\s*$",
                 lambda m, _: f"{m[0]}\n{m[1]}nopreempt" if "nopreempt" not in m[0] else None, _instance)


@operator("vrrp-vip-dropped", VRRP)
def vip_dropped(topo: Topology) -> list[Candidate]:
    """One address of one instance's virtual_ipaddress(_excluded) missing on one node."""
    return edits(topo, "keepalived", r"^\s+[0-9a-fA-F:.]+/\d+(\s+dev\s+\S+)?\s*\n", lambda m, _: "", _instance)


@operator("vrrp-instance-dropped", VRRP)
def instance_dropped(topo: Topology) -> list[Candidate]:
    """One node no longer a member of one VRRP group."""
    pattern = r"^vrrp_instance\s+\S+\s*\{(?:[^{}]|\{[^{}]*\})*\}\s*\n"
    return edits(topo, "keepalived", pattern, lambda m, _: "", lambda m, _: m[0].split()[1])


@operator("vrrp-track-interface-removed", VRRP)
def track_removed(topo: Topology) -> list[Candidate]:
    """One instance on one node that no longer gives its VIPs up when a tracked link fails."""
    return edits(topo, "keepalived", r"^\s*track_interface\s*\{[^}]*\}\s*\n", lambda m, _: "", _instance)


@operator("vrrp-version-2", VRRP)
def version_2(topo: Topology) -> list[Candidate]:
    """One node speaking VRRPv2 where its peers speak v3 (no IPv6, no sub-second adverts)."""
    return edits(topo, "keepalived", r"^(\s*vrrp_version\s+)3\s*$", lambda m, _: f"{m[1]}2")


@operator("vrrp-router-id-changed", VRRP)
def router_id_changed(topo: Topology) -> list[Candidate]:
    """One instance on one node with another virtual_router_id: it no longer hears its group."""
    return edits(topo, "keepalived", r"^(\s*virtual_router_id\s+)(\d+)\s*$",
                 lambda m, _: f"{m[1]}{(int(m[2]) + 128) % 255 or 1}", _instance)
