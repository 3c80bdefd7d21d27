"""Traffic between lab nodes: prober sessions, optionally pinned through given next hops."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterator

from siteproof.backends.netns.lab import Lab
from siteproof.probes.prober import UdpProber
from siteproof.wait import wait_until

PROBE_PORT = 47000


def address_of(lab: Lab, node: str, ifname: str = "eth1", family: int = 4) -> str:
    """The node's first address of a family on an interface, as the topology gives it."""
    return next(str(a.ip) for a in lab.topology.nodes[node].interfaces[ifname].addresses if a.version == family)


@contextlib.contextmanager
def pinned_routes(lab: Lab, pins: list[tuple[str, str, str]]) -> Iterator[None]:
    """Add host routes (node, destination, next hop), IPv4 /32 or IPv6 /128, for the
    duration of a block."""
    added = []
    try:
        for node, dst, via in pins:
            host = f"{dst}/{ipaddress.ip_address(dst).max_prefixlen}"
            lab.run(node, "ip", "route", "replace", host, "via", via)
            added.append((node, host))
        yield
    finally:
        for node, host in added:
            lab.run(node, "ip", "route", "del", host, check=False)


@contextlib.contextmanager
def udp_probe(
    lab: Lab, client: str, server: str, client_port: int = PROBE_PORT, interval: float = 0.005, family: int = 4
) -> Iterator[UdpProber]:
    """A running prober from client to server over IPv4 or IPv6; stopped (and its sockets
    closed) after the block."""
    server_ip, client_ip = address_of(lab, server, family=family), address_of(lab, client, family=family)
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    csock = lab.socket(client, af, socket.SOCK_DGRAM)
    csock.bind((client_ip, client_port))
    rsock = lab.socket(server, af, socket.SOCK_DGRAM)
    rsock.bind((server_ip, PROBE_PORT))
    prober = UdpProber(csock, rsock, (server_ip, PROBE_PORT), interval=interval).start()
    try:
        wait_until(lambda: len(prober.arrivals) >= 20, "traffic_resume", expected=f"echoes {client} -> {server}")
        yield prober
    finally:
        if not prober.stopped:
            prober.stop()
