"""Many short flows, and one long TCP stream, between two nodes.

Flows differ only in their source port, so with L3+L4 hashing each is an independent
draw of the sender's ECMP choice. Bursts are sent by siteproof.probes.flowsend: in the
sender's namespace where the backend opens sockets in nodes (a lab), by the host itself
elsewhere (a site). The listener and the long stream here use sockets in the nodes; at a
site their twins run on the hosts (siteproof.probes.remote_tcp; siteproof.probes.traffic
picks one by the backend's capabilities).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from siteproof.backends.base import SOCKETS, Backend, require_program
from siteproof.probes import flowsend, remote
from siteproof.probes.flowcount import Flow
from siteproof.probes.gap import longest_gap
from siteproof.probes.tcphost import LINGER_RESET, RECORD, TCP_RTO_MAX_MS


def family_of(address: str) -> int:
    return socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET


@dataclass
class FlowRun:
    """What a burst of flows did: the flows, and those the sender could not open."""

    flows: list[Flow]
    failed: list[tuple[Flow, str]] = field(default_factory=list)
    seconds: float = 0.0


def send_udp_flows(
    backend: Backend, node: str, src: str, dst: str, dport: int, sports: list[int], rate_pps: float = 5000
) -> FlowRun:
    """One datagram per source port, paced so no queue on the path overflows."""
    job = {"proto": "udp", "src": src, "dst": dst, "dport": dport, "sports": list(sports), "rate": rate_pps}
    return _burst(backend, node, job, len(sports) / rate_pps)


def open_tcp_flows(backend: Backend, node: str, src: str, dst: str, dport: int, sports: list[int],
                   timeout: float = 2.0, window: int = 512) -> FlowRun:
    """One TCP connection per source port (handshake, then reset), up to `window` in flight.

    Connections are non-blocking, each with its own deadline: a path that drops traffic
    costs one timeout for all its flows, not one per flow.
    """
    job = {"proto": "tcp", "src": src, "dst": dst, "dport": dport, "sports": list(sports), "timeout": timeout,
           "window": window}
    return _burst(backend, node, job, timeout * (len(sports) // window + 1) + len(sports) * 0.01)


def _burst(backend: Backend, node: str, job: dict, expected_s: float) -> FlowRun:
    """A burst sent from the node: in its namespace where the backend can (SOCKETS), else by the
    host itself (siteproof.probes.flowsend shipped there)."""
    if SOCKETS in backend.capabilities:
        failed, seconds = backend.call_in(node, lambda: flowsend.run_job(job))
    else:
        require_program(backend, node, "python3", "python3")
        failed, seconds = remote.run_on(backend.run, node, flowsend, job, 2, timeout=expected_s * 2 + 30)
    flows = [Flow(job["src"], job["dst"], job["proto"], sport, job["dport"]) for sport in job["sports"]]
    by_port = {flow.sport: flow for flow in flows}
    return FlowRun(flows, [(by_port[sport], why) for sport, why in failed], float(seconds))


class Accepted:
    """Connections a listener has accepted so far."""

    def __init__(self) -> None:
        self._count = 0

    @property
    def count(self) -> int:
        return self._count


@contextlib.contextmanager
def tcp_listener(backend: Backend, node: str, address: str, port: int) -> Iterator[Accepted]:
    """A listening socket in the node that accepts and drops every connection."""
    accepted = Accepted()
    server = backend.socket(node, family_of(address), socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((address, port))
    server.listen(4096)
    server.settimeout(0.1)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            # A plain close (FIN): a reset from here could reach the client before its
            # connect() returns and turn a completed handshake into ECONNRESET.
            conn.close()
            accepted._count += 1

    thread = threading.Thread(target=accept, daemon=True, name="tcp-listener")
    thread.start()
    try:
        yield accepted
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()


@dataclass
class StreamResult:
    records_sent: int
    records_received: int
    max_gap_ms: float
    error: str | None  # what ended the stream early (a reset), if anything
    rto_capped: bool


class TcpStream:
    """A long TCP flow: a record every `interval` seconds, echoed back by the server.

    The client stamps every echo it gets back, so the longest time between two echoes is
    the gap the application saw in both directions: data that reaches the server while
    the way back is black-holed does not count as the flow going on.
    With rto_max_ms the sender caps its retransmission timeout (Linux 6.15+), so the
    gap measures the network's outage rather than TCP's exponential backoff.
    """

    def __init__(
        self, backend: Backend, client: str, server: str, src: str, dst: str, sport: int, dport: int,
        interval: float = 0.005, rto_max_ms: int | None = 1000,
    ) -> None:
        self.backend, self.client, self.server = backend, client, server
        self.flow = Flow(src, dst, "tcp", sport, dport)
        self.interval = interval
        self.rto_max_ms = rto_max_ms
        self.rto_capped = False
        self.sent = 0
        self.arrivals: list[float] = []
        self.error: str | None = None
        self.started = self.stopped = 0.0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []

    def start(self) -> TcpStream:
        family = family_of(self.flow.dst)
        listener = self.backend.socket(self.server, family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.flow.dst, self.flow.dport))
        listener.listen(1)
        sender = self.backend.socket(self.client, family, socket.SOCK_STREAM)
        self._sockets += [listener, sender]
        sender.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
        sender.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.rto_max_ms:
            try:
                sender.setsockopt(socket.IPPROTO_TCP, TCP_RTO_MAX_MS, self.rto_max_ms)
                self.rto_capped = True
            except OSError:
                self.rto_capped = False  # older kernel: the gap includes TCP's backoff
        sender.bind((self.flow.src, self.flow.sport))
        sender.settimeout(5)
        sender.connect((self.flow.dst, self.flow.dport))
        listener.settimeout(5)
        receiver, _ = listener.accept()
        receiver.settimeout(0.1)
        sender.settimeout(0.1)
        self._sockets.append(receiver)
        self.started = time.monotonic()
        for fn, sock in ((self._send, sender), (self._echo, receiver), (self._receive, sender)):
            thread = threading.Thread(target=fn, args=(sock,), daemon=True, name=f"tcp-stream-{fn.__name__}")
            thread.start()
            self._threads.append(thread)
        return self

    def _send(self, sock: socket.socket) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                sock.sendall(RECORD.pack(self.sent, time.monotonic()))
                self.sent += 1
            except TimeoutError:
                pass  # send buffer full while the path is down: keep the rhythm
            except OSError as exc:
                self.error = f"client send: {exc}"
                return
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def _echo(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                data = sock.recv(65536)
                if not data:
                    self.error = "server: connection closed by the client side"
                    return
                sock.sendall(data)
            except TimeoutError:
                continue
            except OSError as exc:
                self.error = f"server: {exc}"
                return

    def _receive(self, sock: socket.socket) -> None:
        pending = 0
        while not self._stop.is_set():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError as exc:
                self.error = f"client receive: {exc}"
                return
            if not data:
                self.error = "client: connection closed by the server side"
                return
            now = time.monotonic()
            pending += len(data)
            whole, pending = divmod(pending, RECORD.size)
            self.arrivals.extend([now] * whole)

    def received_since(self, since: float) -> int:
        return sum(1 for t in self.arrivals if t >= since)

    def stop(self) -> StreamResult:
        self.stopped = time.monotonic()
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()
        gap = longest_gap(self.arrivals, self.started, self.stopped).seconds * 1000
        return StreamResult(self.sent, len(self.arrivals), gap, self.error, self.rto_capped)

    def __enter__(self) -> TcpStream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if not self.stopped:
            self.stop()
