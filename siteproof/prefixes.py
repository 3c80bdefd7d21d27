"""Prefixes at a permitted prefix's edges: what a filter written one bit wide or off by one
prefix lets through (CAN-6's announcements, the CAN ACLs' sources, IB-6's spoofed sources)."""

from __future__ import annotations

import ipaddress

__all__ = ["FAR_OUTSIDE", "prefixes_just_outside"]

# A prefix in no site network and routed nowhere (the benchmarking range, RFC 2544).
FAR_OUTSIDE = "198.18.0.0/24"


def prefixes_just_outside(prefix: str) -> list[str]:
    """What a prefix filter for `prefix` must reject at its edges: its neighbours of the same
    length on either side, a more specific of each (a filter written as the aggregate lets
    those in), the covering prefix one bit shorter, and one far outside."""
    net = ipaddress.ip_network(prefix)
    found = []
    for start in (int(net.network_address) - net.num_addresses, int(net.network_address) + net.num_addresses):
        if 0 <= start < 2 ** net.max_prefixlen:
            neighbour = ipaddress.ip_network((start, net.prefixlen))
            found.append(str(neighbour))
            if net.prefixlen < net.max_prefixlen:
                found.append(str(next(neighbour.subnets())))
    if net.prefixlen:
        found.append(str(net.supernet()))
    if not net.overlaps(ipaddress.ip_network(FAR_OUTSIDE)):
        found.append(FAR_OUTSIDE)
    return list(dict.fromkeys(found))
