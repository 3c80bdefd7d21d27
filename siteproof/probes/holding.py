"""Many connections from some nodes to one server, opened at a steady rate and held open until
the block ends (NAT-4 drives a pool toward exhaustion this way): sockets in the nodes where the
backend opens them (a lab), else each node's share opened and held by the host itself
(siteproof.probes.tcphost's `hold`). Each connection reads the server's first answer (a whoami
server's "seen-as" line).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from siteproof.backends.base import SOCKETS, Backend
from siteproof.probes.hostscript import TTL_S, HostScript
from siteproof.probes.remote_tcp import SCRIPT
from siteproof.wait import wait_until


@dataclass
class Held:
    """Per connection (node, index): the server's first answer, or why it failed."""

    seen: list[tuple[str, int, str]] = field(default_factory=list)
    failed: list[tuple[str, int, str]] = field(default_factory=list)


@contextlib.contextmanager
def held_connections(backend: Backend, nodes: list[str], server: tuple[str, int], count: int, rate: float,
                     timeout: float) -> Iterator[Held]:
    """`count` connections in turn from `nodes` (round robin), `rate` per second in all, open for the block."""
    if SOCKETS in backend.capabilities:
        with _from_sockets(backend, nodes, server, count, rate, timeout) as held:
            yield held
        return
    scratch = Path(tempfile.mkdtemp(prefix="siteproof-hold-"))
    shares = {n: len(range(i, count, len(nodes))) for i, n in enumerate(nodes)}
    scripts = {n: HostScript(backend, n, SCRIPT, "hold",
                             {"dst": server[0], "dport": server[1], "count": k, "rate": rate / len(nodes),
                              "timeout": timeout, "seconds": TTL_S}, scratch, f"the connections held from {n}")
               for n, k in shares.items() if k}
    held, done = Held(), set()
    try:
        for script in scripts.values():
            script.start()

        def read() -> bool:
            for node, script in scripts.items():
                for item in script.lines():
                    if "done" in item:
                        done.add(node)
                    elif "seen" in item:
                        held.seen.append((node, int(item["i"]), str(item["seen"])))
                    elif "error" in item:
                        held.failed.append((node, int(item["i"]), str(item["error"])))
            return done == set(scripts)

        wait_until(read, "nat_connect", seconds=count / rate * 2 + timeout * 2 + 30,
                   expected=f"{count} connections opened from {', '.join(scripts)}", interval=0.2)
        yield held
    finally:
        for script in scripts.values():
            script.stop()
        shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def _from_sockets(backend: Backend, nodes: list[str], server: tuple[str, int], count: int, rate: float,
                  timeout: float) -> Iterator[Held]:
    held, opened = Held(), []
    try:
        next_at = time.monotonic()
        for i in range(count):
            node = nodes[i % len(nodes)]
            sock = backend.socket(node, socket.AF_INET, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(server)
                held.seen.append((node, i, sock.recv(256).decode(errors="replace")))
                opened.append(sock)
            except OSError as exc:
                held.failed.append((node, i, f"{exc.__class__.__name__}: {exc}"))
                sock.close()
            next_at += 1 / rate
            if (delay := next_at - time.monotonic()) > 0:
                time.sleep(delay)  # pacing the connections, not waiting for a state
        yield held
    finally:
        for sock in opened:
            sock.close()
