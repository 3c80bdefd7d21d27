"""The path one flow takes through a lab, hop by hop, as each router's FIB decides it.

`ip route get` with the flow's ports, in each node in turn (with the interface it came in
on), so multipath routes hash it as they will hash the real packets.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Hop:
    node: str
    out: str  # the interface it leaves by
    gateway: str | None  # the next router's address; None on the last hop


def owners(topology: Any) -> dict[str, tuple[str, str]]:
    """address -> (node, interface) for every address of the topology."""
    return {str(a.ip): (node.name, ifname) for node in topology.hosts() for ifname, spec in node.interfaces.items()
            for a in spec.addresses}


def flow_path(lab: Any, source: str, src_addr: str, dst_addr: str, proto: str, sport: int, dport: int,
              max_hops: int = 16) -> list[Hop]:
    where = owners(lab.topology)
    hops: list[Hop] = []
    node, inbound = source, None
    for _ in range(max_hops):
        argv = ["ip", "-j", "route", "get", dst_addr, "from", src_addr]
        if inbound:
            argv += ["iif", inbound]
        argv += ["ipproto", proto, "sport", str(sport), "dport", str(dport)]
        route = json.loads(lab.run(node, *argv).stdout)[0]
        gateway = route.get("gateway")
        hops.append(Hop(node, route["dev"], gateway))
        if gateway is None or ipaddress.ip_address(dst_addr) == ipaddress.ip_address(gateway):
            return hops
        node, inbound = where[gateway]
    raise AssertionError(f"the flow {src_addr}:{sport} -> {dst_addr}:{dport} took more than {max_hops} hops: {hops}")
