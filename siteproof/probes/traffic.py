"""Traffic between nodes: prober sessions, optionally pinned through given next hops."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
from collections.abc import Iterator
from contextlib import AbstractContextManager

from siteproof.backends.base import SOCKETS, Backend
from siteproof.errors import SiteproofError
from siteproof.probes.flows import Accepted, TcpStream, tcp_listener
from siteproof.probes.prober import UdpProber
from siteproof.probes.remote_prober import RemoteUdpProber
from siteproof.probes.remote_tcp import RemoteTcpStream, remote_listener
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


Prober = UdpProber | RemoteUdpProber  # started, read (arrivals, received_since), stopped alike


def echo_prober(backend: Backend, client: tuple[str, str, int], server: tuple[str, str, int],
                interval: float = 0.005) -> Prober:
    """A UDP echo prober from client to server, each (node, address, port), not yet started:
    sockets opened in the nodes where the backend can (SOCKETS), else the sender and reflector
    run on the hosts themselves."""
    if SOCKETS not in backend.capabilities:
        return RemoteUdpProber(backend, client, server, interval=interval)
    (cnode, caddr, cport), (snode, saddr, sport) = client, server
    af = socket.AF_INET6 if ipaddress.ip_address(caddr).version == 6 else socket.AF_INET
    csock = backend.socket(cnode, af, socket.SOCK_DGRAM)
    csock.bind((caddr, cport))
    rsock = backend.socket(snode, af, socket.SOCK_DGRAM)
    rsock.bind((saddr, sport))
    return UdpProber(csock, rsock, (saddr, sport), interval=interval)


@contextlib.contextmanager
def udp_probe(
    backend: Backend, client: str, server: str, client_port: int = PROBE_PORT, interval: float = 0.005, family: int = 4
) -> Iterator[Prober]:
    """A running prober from client to server over IPv4 or IPv6; stopped (and its sockets
    closed) after the block."""
    server_ip, client_ip = address_of(backend, server, family=family), address_of(backend, client, family=family)
    prober = echo_prober(backend, (client, client_ip, client_port), (server, server_ip, PROBE_PORT), interval).start()
    try:
        wait_until(lambda: len(prober.arrivals) >= 20, "traffic_resume", expected=f"echoes {client} -> {server}")
        yield prober
    finally:
        if not prober.stopped:
            prober.stop()


def tcp_accepts(backend: Backend, node: str, address: str, port: int) -> AbstractContextManager[Accepted]:
    """A listener on the node that accepts and closes every connection, for the block: a socket
    in the node where the backend can (SOCKETS), else a listener run by the host itself."""
    if SOCKETS in backend.capabilities:
        return tcp_listener(backend, node, address, port)
    return remote_listener(backend, node, address, port)


def tcp_stream(backend: Backend, client: str, server: str, src: str, dst: str, sport: int, dport: int,
               interval: float = 0.005, rto_max_ms: int | None = 1000) -> TcpStream | RemoteTcpStream:
    """A long TCP flow from client (src:sport) to server (dst:dport), echoed back, not yet
    started: sockets in the nodes where the backend can (SOCKETS), else both ends run by the hosts."""
    kind = TcpStream if SOCKETS in backend.capabilities else RemoteTcpStream
    return kind(backend, client, server, src, dst, sport, dport, interval=interval, rto_max_ms=rto_max_ms)
