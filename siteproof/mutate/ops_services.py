"""Operators on routing daemons (FRR), state sync (conntrackd) and the login health agents."""

from __future__ import annotations

import re

from siteproof.mutate.registry import Candidate, Change, Describe, configs, edits, enclosing, operator, span_patch
from siteproof.topology.model import Topology

FRR = ["CAN", "MGMT", "HSN", "ECMP"]


def _frr_all(topo: Topology, pattern: str, change: Change, what: Describe | None = None) -> list[Candidate]:
    return [c for daemon in ("ospfd", "bgpd", "zebra") for c in edits(topo, daemon, pattern, change, what)]


@operator("frr-area-type", FRR)
def area_type(topo: Topology) -> list[Candidate]:
    """An OSPF area's type changed on one router (nssa -> normal, normal -> stub)."""
    return edits(topo, "ospfd", r"^(\s*area\s+\S+)(\s+nssa|\s+stub)?\s*$",
                 lambda m, _: f"{m[1]} stub" if not m[2] else m[1])


@operator("frr-prefix-list-wider", FRR)
def prefix_list_wider(topo: Topology) -> list[Candidate]:
    """A prefix-list entry one bit shorter (a /24 le 32 -> /23 le 32): a neighbour's prefixes pass."""
    def wider(m: re.Match[str], _: str) -> str | None:
        length = int(m[3])
        return f"{m[1]}{m[2]}/{length - 1}" if length > 8 else None
    return _frr_all(topo, r"^(ip prefix-list\s+\S+\s+seq\s+\d+\s+permit\s+)([\d.]+)/(\d+)", wider)


@operator("frr-route-map-line-deleted", FRR)
def route_map_line(topo: Topology) -> list[Candidate]:
    """One match or set line of a route map gone on one router."""
    return _frr_all(topo, r"^\s+(?:match|set)\s+[^\n]*\n", lambda m, _: "",
                    lambda m, t: enclosing(t, m.start(), "route-map"))


@operator("frr-ospf-timer-slower", FRR)
def ospf_timer_slower(topo: Topology) -> list[Candidate]:
    """One OSPF timer of one interface (hello or dead interval) ten times longer on one router."""
    return edits(topo, "ospfd", r"^(\s*ip ospf (?:hello|dead)-interval\s+)(\d+)",
                 lambda m, _: f"{m[1]}{int(m[2]) * 10}", lambda m, t: enclosing(t, m.start(), "interface"))


@operator("frr-bgp-neighbour-dropped", ["CAN-4", "CAN-5", "CAN-6", "CAN"])
def bgp_neighbour_dropped(topo: Topology) -> list[Candidate]:
    """One BGP session of one router gone (every line that names the neighbour)."""
    found = []
    for node, text in configs(topo, "bgpd"):
        for peer in sorted(set(re.findall(r"(?m)^\s*neighbor\s+(\S+)\s+remote-as", text))):
            kept = "".join(line for line in text.splitlines(keepends=True)
                           if not re.match(rf"\s*neighbor\s+{re.escape(peer)}\s", line))
            found.append(Candidate(node.name, f"{node.name} bgpd: neighbor {peer} removed",
                                   (span_patch(node.name, "bgpd", text, 0, len(text), kept),)))
    return found


@operator("frr-maximum-paths-one", ["ECMP", "HSN", "CAN"])
def maximum_paths_one(topo: Topology) -> list[Candidate]:
    """A router that installs one path where it had several."""
    return _frr_all(topo, r"^(\s*maximum-paths(?:\s+ibgp)?\s+)(\d+)", lambda m, _: f"{m[1]}1")


@operator("conntrackd-protocol-unsynced", ["NAT-3", "NAT-4", "NAT-7", "NAT"])
def protocol_unsynced(topo: Topology) -> list[Candidate]:
    """One protocol (TCP, UDP or ICMP) left out of a gateway's state sync."""
    return edits(topo, "conntrackd", r"^\s*(TCP|UDP|ICMP)\s*\n(?=(?:\s*(?:TCP|UDP|ICMP)\s*\n)*\s*\})",
                 lambda m, _: "", lambda m, t: "Protocol Accept")


@operator("login-agent-field", ["LOGIN"])
def agent_field(topo: Topology) -> list[Candidate]:
    """One field of one login node's health agent changed: checks three times slower, a NIC
    no longer checked, draining by deletion (sessions reset) instead of weight 0."""
    def change(m: re.Match[str], _: str) -> str | None:
        key, value = m[1], m[2]
        if key in ("interval", "dead_after"):
            return f'"{key}": {float(value) * 3:g}'
        if key == "drain_mode":
            return f'"{key}": ' + ('"weight0"' if value == '"delete"' else '"delete"')
        if key == "nics":
            return f'"{key}": []' if value.strip("[] ") else None
        return None
    return edits(topo, "loginlb", r'"(interval|dead_after|drain_mode|nics)":\s*("[^"]*"|[\d.]+|\[[^\]]*\])', change)
