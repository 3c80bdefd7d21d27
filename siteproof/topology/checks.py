"""Checks a schema cannot express: link endpoints, duplicates, addresses, routes."""

from __future__ import annotations

import ipaddress
from typing import Any

from siteproof.errors import TopologyError

IfAddr = ipaddress.IPv4Interface | ipaddress.IPv6Interface


def parse_endpoint(text: str, file: str, key: str) -> tuple[str, str]:
    node, sep, ifname = text.partition(":")
    if not sep or not node or not ifname:
        raise TopologyError(file, key, f"endpoint {text!r} is not of the form 'node:interface'")
    return node, ifname


def check_links(doc: dict[str, Any], file: str) -> None:
    nodes = doc["topology"]["nodes"]
    used: dict[tuple[str, str], str] = {}
    bridge_ports: dict[str, str] = {}
    for i, link in enumerate(doc["topology"].get("links") or []):
        kinds = []
        for j, text in enumerate(link["endpoints"]):
            key = f"topology.links[{i}].endpoints[{j}]"
            node, ifname = parse_endpoint(text, file, key)
            if node not in nodes:
                raise TopologyError(file, key, f"endpoint {text!r} names node {node!r}, which is not in topology.nodes")
            if len(ifname) > 15:
                raise TopologyError(file, key, f"interface name {ifname!r} is longer than 15 characters")
            if (node, ifname) in used:
                raise TopologyError(file, key, f"interface {text!r} is already used by {used[(node, ifname)]}")
            used[(node, ifname)] = key
            kind = nodes[node]["kind"]
            kinds.append(kind)
            if kind == "bridge":
                # All bridge ports live in the one switch namespace: names must be unique there.
                if ifname in bridge_ports:
                    raise TopologyError(file, key, f"bridge port {ifname!r} is already used by {bridge_ports[ifname]}")
                bridge_ports[ifname] = key
        if kinds == ["bridge", "bridge"]:
            raise TopologyError(file, f"topology.links[{i}]", "a link between two bridges is not supported")
    for name, node in nodes.items():
        for ifname in node.get("interfaces") or {}:
            if (name, ifname) not in used:
                raise TopologyError(
                    file, f"topology.nodes.{name}.interfaces.{ifname}", "interface is not an endpoint of any link"
                )


def check_addresses(doc: dict[str, Any], file: str) -> dict[tuple[str, str], list[IfAddr]]:
    """Parse every address; refuse malformed, duplicate and (within a node) overlapping ones."""
    seen: dict[Any, str] = {}
    parsed: dict[tuple[str, str], list[IfAddr]] = {}
    for name, node in doc["topology"]["nodes"].items():
        nets: list[tuple[Any, str]] = []
        for ifname, spec in (node.get("interfaces") or {}).items():
            if node["kind"] == "bridge":
                raise TopologyError(file, f"topology.nodes.{name}.interfaces", "a bridge has no addressed interfaces")
            addrs: list[IfAddr] = []
            for k, text in enumerate(spec.get("addresses") or []):
                key = f"topology.nodes.{name}.interfaces.{ifname}.addresses[{k}]"
                try:
                    addr = ipaddress.ip_interface(text)
                except ValueError:
                    raise TopologyError(file, key, f"malformed address {text!r} (expected address/prefix)") from None
                if "/" not in text:
                    raise TopologyError(file, key, f"address {text!r} has no prefix length")
                if addr.ip in seen:
                    raise TopologyError(file, key, f"address {addr.ip} is already assigned at {seen[addr.ip]}")
                seen[addr.ip] = key
                for other, other_key in nets:
                    if other_key.rsplit(".addresses", 1)[0] != key.rsplit(".addresses", 1)[0] and (
                        other.version == addr.network.version and other.overlaps(addr.network)
                    ):
                        raise TopologyError(file, key, f"subnet {addr.network} overlaps {other} at {other_key}")
                nets.append((addr.network, key))
                addrs.append(addr)
            parsed[(name, ifname)] = addrs
    return parsed


def check_routes(doc: dict[str, Any], file: str) -> None:
    for name, node in doc["topology"]["nodes"].items():
        for i, route in enumerate(node.get("routes") or []):
            key = f"topology.nodes.{name}.routes[{i}]"
            dst = route["dst"]
            if dst not in ("default", "default6"):
                try:
                    ipaddress.ip_network(dst, strict=True)
                except ValueError as exc:
                    raise TopologyError(file, f"{key}.dst", f"malformed destination {dst!r}: {exc}") from None
            via = route.get("via") or []
            for j, hop in enumerate([via] if isinstance(via, str) else via):
                try:
                    ipaddress.ip_address(hop)
                except ValueError:
                    raise TopologyError(file, f"{key}.via[{j}]", f"malformed next hop {hop!r}") from None
            if not via and not route.get("dev"):
                raise TopologyError(file, key, "a route needs 'via' or 'dev'")
            hops = [via] if isinstance(via, str) else via
            if route.get("weights") and len(route["weights"]) != len(hops):
                raise TopologyError(file, f"{key}.weights",
                                    f"{len(route['weights'])} weights for {len(hops)} next hops: give one per next hop")
