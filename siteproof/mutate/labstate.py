"""A built lab's kernel state read back, node by node: what `mutate` compares before it calls a
mutant equivalent (its configs are the original's, and so is everything the kernel holds).

Read in-process over netlink on the lab's namespace worker (one dump per node, no fork per
node), without daemons: what the daemons would do is decided by their configs, compared as text.
Left out on purpose, because they differ between two builds of the same topology: MAC addresses
the topology does not set, IPv6 link-local addresses and routes (derived from those MACs),
operational state and route cache information.
"""

from __future__ import annotations

import difflib
import socket
from collections.abc import Iterable
from typing import Any

from pyroute2 import IPRoute

from siteproof.backends.netns.lab import Lab
from siteproof.topology.model import Topology

IFF_UP = 0x1
_FAMILY = {socket.AF_INET: "ipv4", socket.AF_INET6: "ipv6"}
_ROUTE_TYPE = {1: "unicast", 2: "local", 3: "broadcast", 4: "anycast", 5: "multicast", 6: "blackhole",
               7: "unreachable", 8: "prohibit", 9: "throw"}


class BuiltLab:
    """One topology built (no daemons) for reading back; a context manager that leaves nothing."""

    def __init__(self, topo: Topology) -> None:
        self.topology = topo
        self.lab = Lab(topo, owner_kind="mutate")

    def __enter__(self) -> BuiltLab:
        try:
            self.lab.up(start_daemons=False)
        except BaseException:
            self.lab.down()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.lab.down()

    def state(self, sysctls: dict[str, set[str]]) -> dict[str, list[str]]:
        """Per host node, its links, addresses, routes (every table), rules and the given sysctls."""
        assert self.lab.worker
        out: dict[str, list[str]] = {}
        for node in self.topology.hosts():
            keys = sorted(sysctls.get(node.name, ()))
            out[node.name] = self.lab.worker.netlink(self.lab.ns(node.name), lambda ipr, k=keys: _read(ipr, k))
        return out


def _read(ipr: IPRoute, keys: list[str]) -> list[str]:
    # On the namespace worker: /proc/sys/net is the calling thread's namespace's.
    names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.link("dump")}
    lines = [f"sysctl {key} = {_sysctl(key)}" for key in keys]
    lines += sorted(_links(ipr.link("dump")))
    lines += sorted(_addresses(ipr.addr("dump"), names))
    for family in _FAMILY:
        lines += sorted(_routes(ipr.route("dump", family=family), names))
        lines += sorted(_rules(ipr.get_rules(family=family)))
    return lines


def _sysctl(key: str) -> str:
    try:
        with open("/proc/sys/" + key.replace(".", "/")) as fh:
            return fh.read().strip()
    except OSError:
        return "(absent)"


def _links(links: Iterable[Any]) -> Iterable[str]:
    for link in links:
        up = "up" if link["flags"] & IFF_UP else "down"
        yield f"link {link.get_attr('IFLA_IFNAME')} mtu {link.get_attr('IFLA_MTU')} {up}"


def _addresses(addrs: Iterable[Any], names: dict[int, str]) -> Iterable[str]:
    for addr in addrs:
        address = addr.get_attr("IFA_ADDRESS")
        if addr["family"] == socket.AF_INET6 and str(address).lower().startswith("fe80"):
            continue
        yield f"address {names.get(addr['index'], addr['index'])} {address}/{addr['prefixlen']}"


def _next_hop(gateway: Any, oif: Any, names: dict[int, str], weight: int | None = None) -> str:
    hop = f"via {gateway or '-'} dev {names.get(oif, oif) if oif else '-'}"
    return hop if weight is None else f"{hop} weight {weight}"


def _routes(routes: Iterable[Any], names: dict[int, str]) -> Iterable[str]:
    for route in routes:
        dst = route.get_attr("RTA_DST")
        if str(dst).lower().startswith(("fe80", "ff")):
            continue  # link-local and multicast: the kernel's own, per interface
        table = route.get_attr("RTA_TABLE") or route["table"]
        line = (f"route {_FAMILY.get(route['family'])} table {table} {_ROUTE_TYPE.get(route['type'], route['type'])} "
                f"{dst or 'default'}/{route['dst_len']} metric {route.get_attr('RTA_PRIORITY')}")
        hops = route.get_attr("RTA_MULTIPATH")
        if hops:
            line += " " + " ".join(sorted(_next_hop(h.get_attr("RTA_GATEWAY"), h["oif"], names, h["hops"] + 1)
                                          for h in hops))
        else:
            line += " " + _next_hop(route.get_attr("RTA_GATEWAY"), route.get_attr("RTA_OIF"), names)
        yield line


def _rules(rules: Iterable[Any]) -> Iterable[str]:
    for rule in rules:
        table = rule.get_attr("FRA_TABLE") or rule["table"]
        yield (f"rule {_FAMILY.get(rule['family'])} priority {rule.get_attr('FRA_PRIORITY') or 0} "
               f"fwmark {rule.get_attr('FRA_FWMARK')} table {table} action {rule['action']}")


class Baseline:
    """The original topology, built once when a mutant first needs comparing and kept up for the
    run (close() takes it down): each mutant's lab is read against it."""

    def __init__(self, topo: Topology) -> None:
        self.topology = topo
        self._built: BuiltLab | None = None

    def state(self, sysctls: dict[str, set[str]]) -> dict[str, list[str]]:
        if self._built is None:
            self._built = BuiltLab(self.topology).__enter__()
        return self._built.state(sysctls)

    def close(self) -> None:
        if self._built is not None:
            built, self._built = self._built, None
            built.__exit__(None, None, None)


def sysctl_keys(*topologies: Topology) -> dict[str, set[str]]:
    """Per node, every sysctl any of the topologies sets on it: what to read back on both labs."""
    keys: dict[str, set[str]] = {}
    for topo in topologies:
        for node in topo.hosts():
            keys.setdefault(node.name, set()).update(node.sysctls)
    return keys


def read_built(topo: Topology, sysctls: dict[str, set[str]]) -> dict[str, list[str]]:
    """The topology built (no daemons), read back and taken down again."""
    with BuiltLab(topo) as built:
        return built.state(sysctls)


def state_differences(before: dict[str, list[str]], after: dict[str, list[str]]) -> dict[str, list[str]]:
    """Per node, a unified diff of the mutant's built lab against the original's; empty: none."""
    diffs: dict[str, list[str]] = {}
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name, []), after.get(name, [])
        if a != b:
            diffs[name] = list(difflib.unified_diff(a, b, f"{name} (original, built)", f"{name} (mutant, built)",
                                                    lineterm="", n=2))
    return diffs
