"""The path one flow takes through a site or a lab, hop by hop, as each router's FIB decides it.

`ip route get` with the flow's ports, in each node in turn (with the interface it came in
on), so multipath routes hash it as they will hash the real packets.
"""

from __future__ import annotations

import ipaddress
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from siteproof.backends.base import Backend


@dataclass(frozen=True)
class Hop:
    node: str
    out: str  # the interface it leaves by
    gateway: str | None  # the next router's address; None on the last hop


def owners(backend: Backend) -> dict[str, tuple[str, str]]:
    """address -> (node, interface) for every address every node has now (read from each)."""
    def listing(node: str) -> list[dict[str, Any]]:
        return json.loads(backend.run(node, "ip", "-j", "addr", "show").stdout or "[]")

    nodes = backend.nodes()
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = dict(zip(nodes, pool.map(listing, nodes), strict=True))
    return {a["local"]: (node, link["ifname"]) for node, links in found.items() for link in links
            for a in link.get("addr_info", []) if a.get("local") and a.get("scope") == "global"}


def flow_path(backend: Backend, source: str, src_addr: str, dst_addr: str, proto: str, sport: int, dport: int,
              max_hops: int = 16) -> list[Hop]:
    where: dict[str, tuple[str, str]] = {}
    hops: list[Hop] = []
    node, inbound = source, None
    for _ in range(max_hops):
        argv = ["ip", "-j", "route", "get", dst_addr, "from", src_addr]
        if inbound:
            argv += ["iif", inbound]
        argv += ["ipproto", proto, "sport", str(sport), "dport", str(dport)]
        route = json.loads(backend.run(node, *argv).stdout)[0]
        gateway = route.get("gateway")
        hops.append(Hop(node, route["dev"], gateway))
        if gateway is None or ipaddress.ip_address(dst_addr) == ipaddress.ip_address(gateway):
            return hops
        where = where or owners(backend)  # read once, when the flow first leaves its source
        if gateway not in where:
            raise AssertionError(f"the flow {src_addr}:{sport} -> {dst_addr}:{dport} leaves {node} for {gateway}, "
                                 "which no node has")
        node, inbound = where[gateway]
    raise AssertionError(f"the flow {src_addr}:{sport} -> {dst_addr}:{dport} took more than {max_hops} hops: {hops}")
