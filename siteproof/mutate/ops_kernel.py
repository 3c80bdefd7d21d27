"""Operators on a node's kernel state as the topology declares it: sysctls, routes, policy
rules, interface MTUs, and a bridge's isolated (limited-member) ports."""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

from siteproof.mutate.registry import Candidate, node_document, node_overlay, operator
from siteproof.topology.model import Topology

ROUTED = ["GW", "ECMP", "NAT", "CAN", "MGMT", "HSN", "CE", "IB", "DTN", "LOGIN", "DNS"]


def _sysctl_candidates(topo: Topology, key: str, values: list[str], only_declared: bool,
                       forwarding_only: bool = False) -> list[Candidate]:
    """Every host (that declares the key, or forwards) with the key set to each other value.

    A value equal to what the kernel already has where the key is not declared is kept:
    such a mutant is equivalent, and the run says so."""
    found = []
    for node in topo.hosts():
        declared = node.sysctls.get(key)
        if only_declared and declared is None:
            continue
        if forwarding_only and str(node.sysctls.get("net.ipv4.ip_forward", "0")) != "1":
            continue
        for value in values:
            if declared is not None and str(declared) == value:
                continue
            was = declared if declared is not None else "(not set)"
            found.append(Candidate(node.name, f"{node.name} sysctl {key}: {was} -> {value}",
                                   overlay=node_overlay(node.name, {"sysctls": {key: int(value)}})))
    return found


@operator("sysctl-ipv4-forwarding", ROUTED)
def ipv4_forwarding(topo: Topology) -> list[Candidate]:
    """IPv4 forwarding flipped on one node: a router that no longer forwards, or a host that
    starts to route between its networks."""
    return _sysctl_candidates(topo, "net.ipv4.ip_forward", ["0", "1"], only_declared=False)


@operator("sysctl-ipv6-forwarding", ROUTED)
def ipv6_forwarding(topo: Topology) -> list[Candidate]:
    """IPv6 forwarding flipped on one node (IPv4 left as it is)."""
    return _sysctl_candidates(topo, "net.ipv6.conf.all.forwarding", ["0", "1"], only_declared=False)


@operator("interface-ipv6-address-removed", ROUTED)
def ipv6_address_removed(topo: Topology) -> list[Candidate]:
    """One interface of one node without its IPv6 address(es), and the IPv6 routes through them:
    IPv4 only where the site speaks both."""
    found = []
    for node in topo.hosts():
        doc = node_document(topo, node.name)
        interfaces = doc.get("interfaces") or {}
        for name, spec in interfaces.items():
            addresses = list((spec or {}).get("addresses") or [])
            kept = [a for a in addresses if ":" not in str(a)]
            if not kept or len(kept) == len(addresses):
                continue
            left = [ipaddress.ip_interface(a).network for other, o in interfaces.items() if other != name
                    for a in (o or {}).get("addresses") or [] if ":" in str(a)]
            routes = [r for r in doc.get("routes") or [] if _keeps_route(r, name, left)]
            data: dict[str, Any] = {"interfaces": {name: {"addresses": kept}}}
            if len(routes) < len(doc.get("routes") or []):
                data["routes"] = routes
            found.append(Candidate(node.name, f"{node.name} {name}: IPv6 address(es) "
                                              f"{', '.join(str(a) for a in addresses if ':' in str(a))} removed",
                                   overlay=node_overlay(node.name, data)))
    return found


def _keeps_route(route: dict[str, Any], ifname: str, v6_left: list[Any]) -> bool:
    """False for an IPv6 route that went through the interface that lost its IPv6 addresses."""
    hops = _via(route)
    v6 = route.get("dst") == "default6" or ":" in str(route.get("dst")) or any(":" in h for h in hops)
    if not v6:
        return True
    if route.get("dev") == ifname:
        return False
    return bool(hops) and all(any(ipaddress.ip_address(h) in net for net in v6_left) for h in hops)


@operator("sysctl-rp-filter", ROUTED)
def rp_filter(topo: Topology) -> list[Candidate]:
    """Reverse-path filtering changed on a forwarding node (strict drops asymmetric paths)."""
    return _sysctl_candidates(topo, "net.ipv4.conf.all.rp_filter", ["0", "1", "2"], only_declared=False,
                              forwarding_only=True)


@operator("sysctl-arp-ignore", ["GW", "LOGIN"])
def arp_ignore(topo: Topology) -> list[Candidate]:
    """Which ARP requests a node answers (a real server that answers for the VIP)."""
    return _sysctl_candidates(topo, "net.ipv4.conf.all.arp_ignore", ["0", "1", "2"], only_declared=True)


@operator("sysctl-arp-announce", ["GW", "LOGIN"])
def arp_announce(topo: Topology) -> list[Candidate]:
    """Which source address a node's ARP requests carry (a VIP leaking into neighbours' caches)."""
    return _sysctl_candidates(topo, "net.ipv4.conf.all.arp_announce", ["0", "1", "2"], only_declared=True)


@operator("sysctl-ipv4-hash-policy", ["ECMP", "GW", "HSN", "CAN"])
def ipv4_hash_policy(topo: Topology) -> list[Candidate]:
    """The IPv4 multipath hash on one router: layer 3 only (one flow per host pair) or layer 4."""
    return _sysctl_candidates(topo, "net.ipv4.fib_multipath_hash_policy", ["0", "1"], only_declared=True)


@operator("sysctl-ipv6-hash-policy", ["ECMP", "GW", "HSN"])
def ipv6_hash_policy(topo: Topology) -> list[Candidate]:
    """The IPv6 multipath hash on one router, the IPv4 one left alone."""
    return _sysctl_candidates(topo, "net.ipv6.fib_multipath_hash_policy", ["0", "1"], only_declared=True)


def _routes(topo: Topology, node: str) -> list[dict[str, Any]]:
    return copy.deepcopy(node_document(topo, node).get("routes") or [])


def _via(route: dict[str, Any]) -> list[str]:
    via = route.get("via") or []
    return [via] if isinstance(via, str) else list(via)


@operator("route-next-hop-removed", ["ECMP", "GW", "HSN", "CAN", "NAT", "LOGIN"])
def next_hop_removed(topo: Topology) -> list[Candidate]:
    """One next hop of a multipath route gone on one node."""
    found = []
    for node in topo.hosts():
        routes = _routes(topo, node.name)
        for i, route in enumerate(routes):
            hops = _via(route)
            for drop in range(len(hops) if len(hops) > 1 else 0):
                mutated = copy.deepcopy(routes)
                mutated[i]["via"] = [h for j, h in enumerate(hops) if j != drop]
                if route.get("weights"):
                    mutated[i]["weights"] = [w for j, w in enumerate(route["weights"]) if j != drop]
                found.append(Candidate(node.name, f"{node.name} route {route['dst']}: next hop {hops[drop]} removed",
                                       overlay=node_overlay(node.name, {"routes": mutated})))
    return found


@operator("route-weight-changed", ["ECMP", "GW", "HSN"])
def weight_changed(topo: Topology) -> list[Candidate]:
    """One next hop of a multipath route weighted twice the others."""
    found = []
    for node in topo.hosts():
        routes = _routes(topo, node.name)
        for i, route in enumerate(routes):
            hops = _via(route)
            if len(hops) < 2:
                continue
            weights = list(route.get("weights") or [1] * len(hops))
            mutated = copy.deepcopy(routes)
            mutated[i]["weights"] = [weights[0] * 2, *weights[1:]]
            found.append(Candidate(node.name, f"{node.name} route {route['dst']}: weight of {hops[0]} "
                                              f"{weights[0]} -> {weights[0] * 2}",
                                   overlay=node_overlay(node.name, {"routes": mutated})))
    return found


@operator("route-removed", ROUTED)
def route_removed(topo: Topology) -> list[Candidate]:
    """One route of one node gone (a table's route, a return path)."""
    found = []
    for node in topo.hosts():
        routes = _routes(topo, node.name)
        for i, route in enumerate(routes):
            rest = [r for j, r in enumerate(routes) if j != i]
            table = f" (table {route['table']})" if route.get("table") else ""
            found.append(Candidate(node.name, f"{node.name} route {route['dst']}{table} removed",
                                   overlay=node_overlay(node.name, {"routes": rest})))
    return found


@operator("rule-removed", ["NAT", "GW", "ECMP", "LOGIN"])
def rule_removed(topo: Topology) -> list[Candidate]:
    """One policy-routing rule (fwmark -> table) of one node gone."""
    found = []
    for node in topo.hosts():
        rules = copy.deepcopy(node_document(topo, node.name).get("rules") or [])
        for i, rule in enumerate(rules):
            found.append(Candidate(node.name, f"{node.name} rule fwmark {rule.get('fwmark')} -> table "
                                              f"{rule.get('table')} removed",
                                   overlay=node_overlay(node.name, {"rules": [r for j, r in enumerate(rules) if j != i]})))
    return found


@operator("interface-mtu-narrowed", ["GW", "ECMP", "NAT", "DTN", "HSN", "CAN"])
def mtu_narrowed(topo: Topology) -> list[Candidate]:
    """One data interface of a forwarding node with an MTU of 1400 where its segment has more."""
    found = []
    for node in topo.hosts():
        if str(node.sysctls.get("net.ipv4.ip_forward", "0")) != "1":
            continue
        for name, iface in node.interfaces.items():
            if (iface.mtu or 1500) > 1400 and iface.addresses:
                found.append(Candidate(node.name, f"{node.name} {name}: mtu {iface.mtu or 1500} -> 1400",
                                       overlay=node_overlay(node.name, {"interfaces": {name: {"mtu": 1400}}})))
    return found


@operator("bridge-port-not-isolated", ["IB"])
def port_not_isolated(topo: Topology) -> list[Candidate]:
    """A limited member of a partition (an isolated bridge port) made a full member."""
    found = []
    for bridge in topo.bridges():
        ports = list(node_document(topo, bridge.name).get("isolated") or [])
        for port in ports:
            found.append(Candidate(bridge.name, f"{bridge.name}: port {port} no longer isolated (full member)",
                                   overlay=node_overlay(bridge.name, {"isolated": [p for p in ports if p != port]})))
    return found
