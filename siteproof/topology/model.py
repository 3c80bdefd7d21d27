"""The validated, rendered topology: plain data that backends build from."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Interface:
    name: str
    addresses: tuple[ipaddress.IPv4Interface | ipaddress.IPv6Interface, ...] = ()
    mtu: int | None = None
    mac: str | None = None


@dataclass(frozen=True)
class Route:
    dst: str  # a CIDR or "default" / "default6"
    via: tuple[str, ...] = ()
    dev: str | None = None
    type: str = "unicast"
    weights: tuple[int, ...] = ()  # one per next hop (ECMP weights); empty: all equal
    table: int | None = None  # a policy-routing table; None: the main table

    @property
    def family(self) -> int:
        if self.dst == "default6":
            return 6
        if self.dst == "default":
            return ipaddress.ip_address(self.via[0]).version if self.via else 4
        return ipaddress.ip_network(self.dst, strict=False).version


@dataclass(frozen=True)
class Rule:
    """A policy-routing rule, for IPv4 and IPv6 alike: packets with this firewall mark are
    routed by this table."""

    fwmark: int
    table: int
    priority: int


@dataclass(frozen=True)
class DaemonSpec:
    kind: str
    template: str  # path of the template, relative to the topology folder
    config: str  # the rendered configuration
    args: tuple[str, ...] = ()
    after: tuple[str, ...] = ()  # "node" or "node:kind": started and ready before this one


@dataclass
class Node:
    name: str
    kind: str
    labels: dict[str, str] = field(default_factory=dict)
    interfaces: dict[str, Interface] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    sysctls: dict[str, str] = field(default_factory=dict)
    daemons: dict[str, DaemonSpec] = field(default_factory=dict)
    nftables: str | None = None  # the rendered ruleset, loaded at bring-up
    lag_members: tuple[str, ...] = ()  # a bridge's ports aggregated towards one MAC, lag_mac
    lag_mac: str | None = None
    isolated_ports: tuple[str, ...] = ()  # a bridge's ports that reach its ordinary ports, never each other
    image: str | None = None  # containerlab's image: recorded, never pulled
    env: dict[str, str] = field(default_factory=dict)  # the environment of its exec commands
    binds: tuple[str, ...] = ()  # SOURCE:TARGET[:ro|rw], visible to its exec commands
    exec: tuple[str, ...] = ()  # commands run in order once its links are up (containerlab's exec)

    @property
    def role(self) -> str | None:
        return self.labels.get("role")


@dataclass(frozen=True)
class Endpoint:
    node: str
    ifname: str

    def __str__(self) -> str:
        return f"{self.node}:{self.ifname}"


@dataclass(frozen=True)
class Link:
    a: Endpoint
    b: Endpoint


@dataclass
class Topology:
    name: str
    folder: Path
    nodes: dict[str, Node]
    links: list[Link]
    parameters: dict[str, Any]
    budgets: dict[str, float]
    variant: str | None = None
    variant_info: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=lambda: {"name": "production", "values": {}})  # loader.PROFILES
    document: dict[str, Any] = field(default_factory=dict)  # the rendered topology file it was built from

    def hosts(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.kind == "linux"]

    def bridges(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.kind == "bridge"]

    def by_role(self, role: str) -> list[Node]:
        return [n for n in self.hosts() if n.role == role]

    def daemon_waves(self) -> list[list[tuple[str, str]]]:
        """(node, kind) of every daemon, in start waves: each after the ones it names.

        Raises ValueError naming the daemons caught in a cycle or an unknown reference.
        """
        deps: dict[tuple[str, str], set[tuple[str, str]]] = {}
        for node in self.hosts():
            for kind, spec in node.daemons.items():
                wanted: set[tuple[str, str]] = set()
                for ref in spec.after:
                    other, _, other_kind = ref.partition(":")
                    target = self.nodes.get(other)
                    if target is None or (other_kind and other_kind not in target.daemons) or not target.daemons:
                        raise ValueError(f"{node.name}:{kind}: after {ref!r}: no such daemon")
                    wanted |= {(other, k) for k in target.daemons if not other_kind or k == other_kind}
                deps[(node.name, kind)] = wanted
        waves: list[list[tuple[str, str]]] = []
        done: set[tuple[str, str]] = set()
        while len(done) < len(deps):
            wave = [d for d in deps if d not in done and deps[d] <= done]
            if not wave:
                stuck = sorted(f"{n}:{k}" for n, k in deps if (n, k) not in done)
                raise ValueError(f"daemons wait for each other in a cycle: {', '.join(stuck)}")
            waves.append(wave)
            done.update(wave)
        return waves

    def peer_of(self, node: str, ifname: str) -> Endpoint:
        """The other end of the link that has node:ifname at one end."""
        for link in self.links:
            if (link.a.node, link.a.ifname) == (node, ifname):
                return link.b
            if (link.b.node, link.b.ifname) == (node, ifname):
                return link.a
        raise KeyError(f"no link at {node}:{ifname}")
