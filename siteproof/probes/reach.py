"""Reachability probes: does a destination's own host answer a TCP or UDP port from here?

A verdict says who spoke: "answered" (the service answered), "refused" (the host itself said
no: a TCP RST, an ICMP port unreachable), "unreachable" (a router said there is no way: ICMP
net or host unreachable), "silent" (nothing came back within the timeout: a filter dropped
it, or nothing routes it). For an ACL the first two mean the packet got through ("reached"),
the last two that it did not. A UDP probe carries what the port's protocol expects (an NTP
client request, a DNS query), so that a service behind an open path answers.

Caveat: an ACL that rejects with a spoofed TCP RST looks like "refused". The lab's ACLs drop.
"""

from __future__ import annotations

import errno
import socket
import struct
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

SocketFactory = Callable[[int, int], socket.socket]  # (family, type) -> a socket in the source node

REACHED = ("answered", "refused")


@dataclass(frozen=True, order=True)
class Service:
    proto: str  # "tcp" or "udp"
    port: int

    def __str__(self) -> str:
        return f"{self.proto}/{self.port}"

    @classmethod
    def parse(cls, text: str) -> Service:
        proto, _, port = text.strip().partition("/")
        if proto not in ("tcp", "udp") or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{text!r} is not a service (tcp/PORT or udp/PORT)")
        return cls(proto, int(port))


def services(text: str) -> list[Service]:
    """'tcp/22,udp/123' -> [Service('tcp', 22), Service('udp', 123)]."""
    return [Service.parse(item) for item in text.split(",") if item.strip()]


def _payload(port: int) -> bytes:
    if port == 123:  # NTP v4 client request
        return b"\x23" + b"\x00" * 47
    if port == 53:  # DNS: ". IN NS", no recursion
        return struct.pack("!HHHHHH", 0x5350, 0, 1, 0, 0, 0) + b"\x00" + struct.pack("!HH", 2, 1)
    return b"siteproof reachability probe\n"


_UNREACHABLE = (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES, errno.EPERM)


def probe(make_socket: SocketFactory, address: str, service: Service, timeout: float) -> str:
    """One probe from the node whose sockets `make_socket` makes; see the module doc for verdicts."""
    kind = socket.SOCK_STREAM if service.proto == "tcp" else socket.SOCK_DGRAM
    sock = make_socket(socket.AF_INET, kind)
    try:
        sock.settimeout(timeout)
        if service.proto == "tcp":
            code = sock.connect_ex((address, service.port))
            if code == 0:
                return "answered"
            if code == errno.ECONNREFUSED:
                return "refused"
            return "unreachable" if code in _UNREACHABLE else "silent"
        try:
            sock.connect((address, service.port))  # no route: ENETUNREACH here, from a host with none
            sock.send(_payload(service.port))
            sock.recv(2048)
            return "answered"
        except ConnectionRefusedError:
            return "refused"
        except TimeoutError:
            return "silent"
        except OSError as exc:
            return "unreachable" if exc.errno in _UNREACHABLE else "silent"
    finally:
        sock.close()


@dataclass(frozen=True)
class Probe:
    source: str
    destination: str
    address: str
    service: Service


def probe_all(probes: list[Probe], socket_in: Callable[[str], SocketFactory], timeout: float,
              parallel: int = 64) -> dict[Probe, str]:
    """Every probe at once (a filtered probe waits out its timeout: in parallel, the whole
    matrix takes about one timeout)."""
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        futures = {p: pool.submit(probe, socket_in(p.source), p.address, p.service, timeout) for p in probes}
        return {p: f.result() for p, f in futures.items()}


def run_job(job: dict) -> list[str]:
    """The shipped entry point (siteproof.probes.remote): every target probed at once from here."""
    targets = [(address, Service(proto, int(port))) for address, proto, port in job["targets"]]
    with ThreadPoolExecutor(max_workers=64) as pool:
        return list(pool.map(lambda t: probe(socket.socket, t[0], t[1], job["timeout"]), targets))
