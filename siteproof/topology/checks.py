"""Checks a schema cannot express: link endpoints, duplicates, addresses, routes, sysctls."""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import subprocess
import sys
from typing import Any

from siteproof.errors import TopologyError

IfAddr = ipaddress.IPv4Interface | ipaddress.IPv6Interface
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


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
            if not _IFNAME.match(ifname):
                raise TopologyError(file, key, f"interface name {ifname!r} may hold only letters, digits, '_', '.' and '-'")
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
        if node.get("lag") and node["kind"] != "bridge":
            raise TopologyError(file, f"topology.nodes.{name}.lag", "only a bridge aggregates links")
        for key in ("exec", "binds", "env", "image"):
            if node.get(key) and node["kind"] == "bridge":
                raise TopologyError(file, f"topology.nodes.{name}.{key}", "a bridge runs nothing: only linux nodes take it")
        if node.get("isolated") and node["kind"] != "bridge":
            raise TopologyError(file, f"topology.nodes.{name}.isolated", "only a bridge isolates ports")
        for k, port in enumerate(node.get("isolated") or []):
            if not any(f"{name}:{port}" in link["endpoints"] for link in doc["topology"].get("links") or []):
                raise TopologyError(file, f"topology.nodes.{name}.isolated[{k}]", f"{port!r} is not a port of bridge {name}")
        for k, member in enumerate((node.get("lag") or {}).get("members") or []):
            if not any(f"{name}:{member}" in link["endpoints"] for link in doc["topology"].get("links") or []):
                raise TopologyError(file, f"topology.nodes.{name}.lag.members[{k}]",
                                    f"LAG member {member!r} is not a port of bridge {name}")
        for ifname in node.get("interfaces") or {}:
            if (name, ifname) not in used and ifname != "lo":  # every namespace has its loopback
                raise TopologyError(
                    file, f"topology.nodes.{name}.interfaces.{ifname}", "interface is not an endpoint of any link"
                )


def check_addresses(doc: dict[str, Any], file: str) -> dict[tuple[str, str], list[IfAddr]]:
    """Parse every address; refuse malformed, duplicate and (within a node) overlapping ones."""
    seen: dict[Any, str] = {}
    anycast: set[Any] = set()  # addresses so far only on anycast interfaces
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
                if addr.ip in seen and not (spec.get("anycast") and addr.ip in anycast):
                    raise TopologyError(file, key, f"address {addr.ip} is already assigned at {seen[addr.ip]}"
                                        + ("" if spec.get("anycast") else " (an address shared on purpose needs anycast: true)"))
                seen.setdefault(addr.ip, key)
                if spec.get("anycast"):
                    anycast.add(addr.ip)
                for other, other_key in nets:
                    if other_key.rsplit(".addresses", 1)[0] != key.rsplit(".addresses", 1)[0] and (
                        other.version == addr.network.version and other.overlaps(addr.network)
                    ):
                        raise TopologyError(file, key, f"subnet {addr.network} overlaps {other} at {other_key}")
                nets.append((addr.network, key))
                addrs.append(addr)
            parsed[(name, ifname)] = addrs
    return parsed


def check_routes(doc: dict[str, Any], file: str, addresses: dict[tuple[str, str], list[IfAddr]] | None = None) -> None:
    """Destinations and next hops parse; a route's device is one of its node's interfaces; a
    next hop lies in a subnet of the node (the kernel refuses an off-link one mid-build)."""
    for name, node in doc["topology"]["nodes"].items():
        ifnames = {"lo"} | set(node.get("interfaces") or {}) | {
            e.split(":", 1)[1] for link in doc["topology"].get("links") or [] for e in link["endpoints"]
            if e.split(":", 1)[0] == name}
        subnets = [a.network for (n, _), addrs in (addresses or {}).items() if n == name for a in addrs]
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
                    address = ipaddress.ip_address(hop)
                except ValueError:
                    raise TopologyError(file, f"{key}.via[{j}]", f"malformed next hop {hop!r}") from None
                if addresses is not None and not address.is_link_local and not any(address in net for net in subnets):
                    raise TopologyError(file, f"{key}.via[{j}]", f"next hop {hop} is in no subnet of node {name}'s "
                                        "interfaces (a prefix too small for it, or a typo)")
            if route.get("dev") and route["dev"] not in ifnames:
                raise TopologyError(file, f"{key}.dev", f"node {name} has no interface {route['dev']!r}")
            if not via and not route.get("dev"):
                raise TopologyError(file, key, "a route needs 'via' or 'dev'")
            hops = [via] if isinstance(via, str) else via
            if route.get("weights") and len(route["weights"]) != len(hops):
                raise TopologyError(file, f"{key}.weights",
                                    f"{len(route['weights'])} weights for {len(hops)} next hops: give one per next hop")


# sysctl keys under these names are kept per network namespace; every other key (kernel.*,
# vm.*, fs.*, most of net.core.*) would change the machine itself.
_PER_NETNS = ("net.ipv4.", "net.ipv6.", "net.netfilter.", "net.unix.", "net.mpls.")
# Interface-specific keys: checked against the namespace's 'default' entry.
_PER_INTERFACE = re.compile(r"^(net\.ipv[46]\.(?:conf|neigh))\.[^.]+\.(.+)$")


def check_sysctls(doc: dict[str, Any], file: str) -> None:
    """Only per-network-namespace keys, and each one the kernel knows (asked in a throwaway
    network namespace, which disappears with the process that made it)."""
    keys: dict[str, str] = {}
    for name, node in doc["topology"]["nodes"].items():
        for sysctl in node.get("sysctls") or {}:
            where = f"topology.nodes.{name}.sysctls.{sysctl}"
            if not sysctl.startswith(_PER_NETNS) or "/" in sysctl or ".." in sysctl:
                raise TopologyError(file, where, f"{sysctl} is not kept per network namespace: a lab node may set only "
                                    f"keys under {', '.join(k.rstrip('.') for k in _PER_NETNS)}, never the machine's own")
            keys.setdefault(_PER_INTERFACE.sub(r"\1.default.\2", sysctl), where)
    unknown = _unknown_in_fresh_netns(tuple(sorted(keys)))
    if unknown:
        raise TopologyError(file, keys[unknown[0]], f"the kernel has no per-namespace sysctl {unknown[0]}"
                            + (f" (nor {', '.join(unknown[1:3])})" if len(unknown) > 1 else ""))


# Per key: "key value", "key -" (there, not readable), nothing (the kernel has no such key).
_PROBE = """import sys
for k in sys.argv[1:]:
    p = '/proc/sys/' + k.replace('.', '/')
    try:
        print(k, open(p).read().split()[0])
    except (OSError, IndexError):
        import os
        if os.path.exists(p):
            print(k, '-')
"""


@functools.cache  # one child per distinct key set: a run loads the same topologies many times
def fresh_netns_sysctls(keys: tuple[str, ...]) -> dict[str, str | None] | None:
    """Each key the kernel has in a fresh network namespace (one that disappears with the
    process that made it), with its value there (None: not readable); None if nobody can ask
    (no root, no unshare)."""
    if not keys or os.geteuid() != 0:
        return None
    out = subprocess.run(["unshare", "--net", sys.executable, "-c", _PROBE, *keys],
                         capture_output=True, text=True, check=False, timeout=30)
    if out.returncode != 0:
        return None
    found = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    return {k: None if v == "-" else v for k, v in found.items()}


def _unknown_in_fresh_netns(keys: tuple[str, ...]) -> list[str]:
    known = fresh_netns_sysctls(keys)
    if known is None:
        return []  # without root no lab is built either, and without unshare the build names the key
    return [k for k in keys if k not in known]
