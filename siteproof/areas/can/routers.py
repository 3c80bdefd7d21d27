"""FRR routers read through vtysh's JSON, on whichever backend the site has.

In a lab, vtysh reaches the node's daemons on their vty sockets in the lab's run directory;
at a real site (FRR on the router, or any device whose output is adapted to the same JSON)
plain `vtysh -c`. Everything here only reads.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from siteproof.site import Site


class RouterError(AssertionError):
    """A router did not answer a show command (its daemon is down, or vtysh is missing)."""


def _vtysh(site: Site, node: str, command: str) -> str:
    """One show command's output (vtysh on the node's vty sockets in a lab, plain vtysh at a site)."""
    vty = site.backend.daemon_dir(node, "frr")
    argv = ["vtysh", *(["--vty_socket", str(vty)] if vty is not None else []), "-c", command]
    proc = site.backend.run(node, *argv, check=False, timeout=20)
    if proc.returncode != 0:
        raise RouterError(f"{node}: `{command}` failed ({proc.returncode}): {(proc.stderr or proc.stdout).strip()[:300]}")
    return proc.stdout


def vtysh_json(site: Site, node: str, command: str) -> Any:
    text = _vtysh(site, node, command)
    try:
        return json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise RouterError(f"{node}: `{command}` did not give JSON ({exc}): {text[:200]!r}") from None


def vtysh_json_per_daemon(site: Site, node: str, command: str) -> dict[str, Any]:
    """A show command every daemon answers (prefix lists, route maps): vtysh prints one JSON
    object per daemon, one after another; merged here into {daemon: its answer}."""
    decoder, text, at, merged = json.JSONDecoder(), _vtysh(site, node, command), 0, {}
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            return merged
        try:
            doc, at = decoder.raw_decode(text, at)
        except json.JSONDecodeError as exc:
            raise RouterError(f"{node}: `{command}` did not give JSON ({exc}): {text[at:at + 200]!r}") from None
        merged.update(doc if isinstance(doc, dict) else {})


_POLICY_KEYS = ("routemap", "prefixlist", "filterlist", "distributelist", "inboundsoftconfig", "maximumprefix")


def routing_policy(site: Site, node: str) -> list[str]:
    """The router's routing policy as comparable lines: every prefix list and route map of every
    daemon (counters left out), and each BGP neighbour's remote AS and the policy it applies
    per address family. Read-only."""
    lines = []
    for daemon, lists in sorted(vtysh_json_per_daemon(site, node, "show ip prefix-list json").items()):
        for name, plist in sorted(lists.items()):
            for e in plist.get("entries", []):
                bounds = "".join(f" {k} {e[f]}" for k, f in (("ge", "minimumPrefixLength"), ("le", "maximumPrefixLength")) if f in e)
                lines.append(f"{daemon} prefix-list {name} seq {e.get('sequenceNumber')} {e.get('type')} {e.get('prefix')}{bounds}")
    for daemon, maps in sorted(vtysh_json_per_daemon(site, node, "show route-map json").items()):
        for name, rmap in sorted(maps.items()):
            for r in rmap.get("rules", []):
                lines.append(f"{daemon} route-map {name} {r.get('sequenceNumber')} {r.get('type')}: match "
                             f"{'; '.join(r.get('matchClauses', [])) or '-'}, set {'; '.join(r.get('setClauses', [])) or '-'}, "
                             f"{r.get('action', '')}".rstrip(", "))
    try:
        neighbours = vtysh_json(site, node, "show bgp neighbors json")
    except RouterError as exc:  # no BGP here: a line of its own, so a peer that has BGP differs
        return [*lines, f"bgp: no answer ({str(exc).partition(': ')[2][:80]})"]
    for address, n in sorted(neighbours.items()):
        if not isinstance(n, dict) or "remoteAs" not in n:
            continue
        lines.append(f"bgp neighbour {address} remote-as {n['remoteAs']} local-as {n.get('localAs')}")
        for family, info in sorted(n.get("addressFamilyInfo", {}).items()):
            for key, value in sorted(info.items()):
                if any(k in key.lower() for k in _POLICY_KEYS):
                    lines.append(f"bgp neighbour {address} {family} {key} {value}")
    return lines


def routes(site: Site, node: str) -> dict[str, list[dict[str, Any]]]:
    """The router's IPv4 RIB: prefix -> its route entries (FRR's `show ip route json`)."""
    return vtysh_json(site, node, "show ip route json")


def selected(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((e for e in entries if e.get("selected")), None)


def next_hops(entry: dict[str, Any]) -> list[str]:
    """The active next hops of a route: address (or interface for a connected one)."""
    return sorted(h.get("ip") or h.get("interfaceName", "?") for h in entry.get("nexthops", []) if h.get("active"))


def overlapping(table: dict[str, Any], prefixes: list[str]) -> list[str]:
    """Every prefix of the table that overlaps one of `prefixes` (inside it, or covering it, but a default)."""
    nets = [ipaddress.ip_network(p) for p in prefixes]
    found = []
    for prefix in table:
        net = ipaddress.ip_network(prefix)
        if net.prefixlen and any(net.overlaps(n) for n in nets):
            found.append(prefix)
    return sorted(found)


def ospf_full_neighbours(site: Site, node: str) -> set[str]:
    """Router ids of the node's OSPF neighbours in state Full."""
    doc = vtysh_json(site, node, "show ip ospf neighbor json")
    return {rid for rid, entries in doc.get("neighbors", {}).items()
            if any(str(e.get("converged", e.get("nbrState", ""))).startswith("Full") for e in entries)}


def bgp_peers(site: Site, node: str) -> dict[str, str]:
    """BGP peer address -> session state (IPv4 unicast)."""
    doc = vtysh_json(site, node, "show bgp ipv4 unicast summary json")
    return {peer: info.get("state", "?") for peer, info in doc.get("peers", {}).items()}


def kernel_next_hops(site: Site, node: str, address: str) -> list[str] | None:
    """The next hops of the route the node's kernel uses for `address` (main table, longest
    match; a connected route gives its interface), without those the kernel marks dead or
    link-down. None when the host cannot say (no `ip`, or a router that is not Linux): the
    wait then has the routing daemon's view only."""
    table = _kernel_routes(site, node, "match", address)
    if table is None:
        return None
    best = max(table, key=_prefix_length, default=None)
    return [] if best is None else _kernel_hops(best)


def kernel_prefix_next_hops(site: Site, node: str, prefix: str) -> list[str] | None:
    """The next hops of the node's kernel route for exactly `prefix` ([] when it has none; a
    covering route does not count). None when the host cannot say."""
    table = _kernel_routes(site, node, "exact", prefix)
    return None if table is None else (_kernel_hops(table[0]) if table else [])


def _kernel_routes(site: Site, node: str, selector: str, prefix: str) -> list[dict[str, Any]] | None:
    """`ip route show match|exact PREFIX` read as JSON; None when the host cannot say."""
    family = "-6" if ":" in prefix else "-4"
    proc = site.backend.run(node, "ip", "-j", family, "route", "show", selector, prefix, check=False, timeout=10)
    if proc.returncode != 0:
        return None
    try:
        return json.loads(proc.stdout or "[]")
    except json.JSONDecodeError:
        return None


def _prefix_length(route: dict[str, Any]) -> int:
    dst = str(route.get("dst", "default"))
    if dst == "default":
        return 0
    return int(dst.split("/")[1]) if "/" in dst else (128 if ":" in dst else 32)


def _kernel_hops(route: dict[str, Any]) -> list[str]:
    hops = route.get("nexthops") or [route]
    down = {"dead", "linkdown"}
    return sorted(h.get("gateway") or h.get("dev", "?") for h in hops if not down & set(h.get("flags", [])))


def lookup(table: dict[str, list[dict[str, Any]]], address: str) -> dict[str, Any] | None:
    """The selected route a RIB would use for `address` (longest prefix match)."""
    ip = ipaddress.ip_address(address)
    best: tuple[int, dict[str, Any]] | None = None
    for prefix, entries in table.items():
        net = ipaddress.ip_network(prefix)
        entry = selected(entries)
        if entry and ip in net and (best is None or net.prefixlen > best[0]):
            best = (net.prefixlen, entry)
    return best[1] if best else None
