"""SSH probes: which server a connection reaches, and real SSH sessions that echo.

Connections are made from a client node of the lab (or from the test host at a real site)
with a chosen source address and port, since a load balancer's hash is keyed on exactly
those. The real server that answers is read from the SSH banner (sshd's VersionAddendum
names the node), so finding it needs no login.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from siteproof.backends.base import Backend
from siteproof.probes import banner, remote
from siteproof.probes.flows import TCP_RTO_MAX_MS
from siteproof.probes.relay import connect_from
from siteproof.probes.remote import Run
from siteproof.wait import wait_until

SSH_PORT = 22
# Source ports handed out to probes and sessions: each 4-tuple is used once per run, so no
# connection ever meets the TIME_WAIT of an earlier one.
_ports = itertools.count(20000)


def next_port() -> int:
    port = next(_ports)
    if port > 60999:
        raise RuntimeError("source ports for login probes exhausted in this run")
    return port


@dataclass(frozen=True)
class Client:
    """Where connections start: a node with its source addresses, through sockets opened in
    it (a backend with sockets in nodes) or through probes shipped to it and connections it
    relays (run: the backend's run, at a site); or the test host itself (backend, run and node None)."""

    backend: Backend | None
    node: str | None
    addresses: list[str]
    run: Run | None = None

    @property
    def remote(self) -> bool:
        return self.run is not None and self.node is not None

    def socket(self, kind: int = socket.SOCK_STREAM) -> socket.socket:
        if self.backend is None or self.node is None:
            return socket.socket(socket.AF_INET, kind)
        return self.backend.socket(self.node, socket.AF_INET, kind)

    def connect(self, source: tuple[str, int], vip: str, timeout: float) -> socket.socket:
        if self.remote and self.backend is not None:
            # Made by the client host itself, its bytes relayed to here (a site over SSH).
            return connect_from(self.backend, str(self.node), source, (vip, SSH_PORT), timeout)
        sock = self.socket()
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            with contextlib.suppress(OSError):  # older kernels lack it; only recovery is slower
                sock.setsockopt(socket.IPPROTO_TCP, TCP_RTO_MAX_MS, 1000)
            sock.settimeout(timeout)
            sock.bind(source)
            sock.connect((vip, SSH_PORT))
        except BaseException:
            sock.close()
            raise
        return sock


banner_server = banner.server_of  # the node name in sshd's identification string


def which_server(client: Client, source: tuple[str, int], vip: str, timeout: float = 3.0) -> str:
    """The real server a fresh connection from source to vip lands on (or the error)."""
    if client.remote:
        return which_servers(client, [(source, vip)], timeout)[0]
    try:
        sock = client.connect(source, vip, timeout)
    except OSError as exc:
        return f"error: {exc.__class__.__name__}"
    try:
        return banner.read_server(sock)
    except OSError as exc:
        return f"error: {exc.__class__.__name__}"
    finally:
        sock.close()


def which_servers(client: Client, pairs: list[tuple[tuple[str, int], str]], timeout: float = 3.0) -> list[str]:
    """which_server for many (source, vip) pairs; from a remote client, all in one shipped job."""
    if not client.remote:
        return [which_server(client, source, vip, timeout) for source, vip in pairs]
    assert client.run is not None and client.node is not None
    job = {"connect": [[s[0], s[1], vip, SSH_PORT] for s, vip in pairs], "timeout": timeout}
    return [str(v) for v in remote.run_on(client.run, client.node, banner, job, len(pairs), timeout * len(pairs) / 8 + 60)]


def find_sources(client: Client, probe_vip: str, wanted: list[str], tries: int = 600) -> dict[str, tuple[str, int]]:
    """A source (address, port) whose hash lands on each wanted server, found by probing.

    Probe through a different VIP than the one the source will be used with: the probe's
    4-tuple then lingers in TIME_WAIT harmlessly, and the hash key (address, port) is the
    same through every VIP (LOGIN-3).
    """
    found: dict[str, tuple[str, int]] = {}
    for i in range(tries):
        if len(found) == len(wanted):
            break
        source = (client.addresses[i % len(client.addresses)], next_port())
        server = which_server(client, source, probe_vip)
        if server in wanted and server not in found:
            found[server] = source
    return found


# --- SSH sessions -----------------------------------------------------------------------
@dataclass
class SshSession:
    """A real SSH session running `cat`: a thread sends a line every interval and reads it back."""

    name: str
    vip: str
    source: tuple[str, int]
    server: str = "?"
    exchanges: list[float] = field(default_factory=list)
    error: str | None = None
    failed_at: float | None = None
    interval: float = 0.05
    _transport: paramiko.Transport | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @classmethod
    def open(cls, client: Client, name: str, vip: str, source: tuple[str, int], key: Path, user: str = "root",
             timeout: float = 15.0) -> SshSession:
        session = cls(name, vip, source)
        sock = client.connect(source, vip, timeout)
        transport = paramiko.Transport(sock)
        try:
            transport.start_client(timeout=timeout)
            session.server = banner_server(transport.remote_version)
            transport.auth_publickey(user, paramiko.Ed25519Key.from_private_key_file(str(key)))
            channel = transport.open_session(timeout=timeout)
            channel.exec_command("cat")
            channel.settimeout(60)
        except BaseException:
            transport.close()
            raise
        session._transport = transport
        session._thread = threading.Thread(target=session._run, args=(channel,), name=f"ssh-{name}", daemon=True)
        session._thread.start()
        return session

    def _run(self, channel: paramiko.Channel) -> None:
        try:
            for seq in itertools.count():
                if self._stop.is_set():
                    return
                line = f"{self.name} {seq:08d}\n".encode()
                channel.sendall(line)
                got = b""
                while len(got) < len(line):
                    chunk = channel.recv(len(line) - len(got))
                    if not chunk:
                        raise EOFError("channel closed by the server")
                    got += chunk
                if got != line:
                    raise ValueError(f"echo mismatch: sent {line!r}, got {got!r}")
                self.exchanges.append(time.monotonic())
                self._stop.wait(self.interval)
        except Exception as exc:  # noqa: BLE001 - the failure is the evidence
            self.error = f"{exc.__class__.__name__}: {exc}"
            self.failed_at = time.monotonic()

    def after(self, moment: float) -> int:
        return sum(1 for t in self.exchanges if t > moment)

    def wait_exchanges_after(self, moment: float, count: int, budget: str, seconds: float | None = None) -> None:
        wait_until(lambda: self.error or self.after(moment), budget, seconds=seconds,
                   expected=f"session {self.name}: {count} echoes after the event",
                   accept=lambda v: isinstance(v, str) or v >= count, interval=0.05)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._transport is not None:
            self._transport.close()


@contextlib.contextmanager
def sessions_closed(sessions: list[SshSession]) -> Iterator[list[SshSession]]:
    try:
        yield sessions
    finally:
        for s in sessions:
            s.close()
