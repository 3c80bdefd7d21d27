"""Traffic between nodes: prober sessions, optionally pinned through given next hops."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
from collections.abc import Iterator

from siteproof.backends.base import Backend
from siteproof.errors import SiteproofError
from siteproof.probes.prober import UdpProber
from siteproof.wait import wait_until

PROBE_PORT = 47000


def address_of(backend: Backend, node: str, ifname: str = "eth1", family: int = 4) -> str:
    """The node's first global address of a family on an interface, as the node has it (the
    kernel lists them in the order they were added: the configured one before any VIP)."""
    listing = json.loads(backend.run(node, "ip", "-j", f"-{family}", "addr", "show", "dev", ifname).stdout or "[]")
    for link in listing:
        for addr in link.get("addr_info", []):
            if addr.get("scope") == "global" and not addr.get("tentative") and not addr.get("dadfailed"):
                return str(addr["local"])
    raise SiteproofError(f"node {node}: no global IPv{family} address on {ifname}")


@contextlib.contextmanager
def pinned_routes(backend: Backend, pins: list[tuple[str, str, str]]) -> Iterator[None]:
    """Add host routes (node, destination, next hop), IPv4 /32 or IPv6 /128, for the
    duration of a block."""
    added = []
    try:
        for node, dst, via in pins:
            host = f"{dst}/{ipaddress.ip_address(dst).max_prefixlen}"
            backend.run(node, "ip", "route", "replace", host, "via", via)
            added.append((node, host))
        yield
    finally:
        for node, host in added:
            backend.run(node, "ip", "route", "del", host, check=False)


@contextlib.contextmanager
def udp_probe(
    backend: Backend, client: str, server: str, client_port: int = PROBE_PORT, interval: float = 0.005, family: int = 4
) -> Iterator[UdpProber]:
    """A running prober from client to server over IPv4 or IPv6; stopped (and its sockets
    closed) after the block."""
    server_ip, client_ip = address_of(backend, server, family=family), address_of(backend, client, family=family)
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    csock = backend.socket(client, af, socket.SOCK_DGRAM)
    csock.bind((client_ip, client_port))
    rsock = backend.socket(server, af, socket.SOCK_DGRAM)
    rsock.bind((server_ip, PROBE_PORT))
    prober = UdpProber(csock, rsock, (server_ip, PROBE_PORT), interval=interval).start()
    try:
        wait_until(lambda: len(prober.arrivals) >= 20, "traffic_resume", expected=f"echoes {client} -> {server}")
        yield prober
    finally:
        if not prober.stopped:
            prober.stop()
