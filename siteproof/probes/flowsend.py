"""Bursts of short flows from one host (standard library only): one UDP datagram, or one TCP
connection (handshake, then a reset), per source port.

The same functions run in a lab node's namespace (Backend.call_in) and, shipped as a script
(siteproof.probes.remote.run_on), on a site host: a site's flows are sent by the host itself.
TCP connections close with a reset, so no TIME_WAIT stops the next run from binding the ports.
They only send packets: read-only.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import struct
import time
from typing import Any

_LINGER_RESET = struct.pack("ii", 1, 0)


def _family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def udp_burst(job: dict[str, Any]) -> list:
    """[failed [[sport, why]], seconds]: one datagram per source port, paced at `rate` per second
    so that no queue on the path overflows."""
    failed, family = [], _family(job["dst"])
    start = next_at = time.monotonic()
    for sport in job["sports"]:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind((job["src"], sport))
                sock.sendto(b"siteproof-ecmp", (job["dst"], job["dport"]))
            except OSError as exc:
                failed.append([sport, str(exc)])
        next_at += 1 / job["rate"]
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing the sender, not waiting for a state
    return [failed, time.monotonic() - start]


def tcp_burst(job: dict[str, Any]) -> list:
    """[failed [[sport, why]], seconds]: one connection per source port, up to `window` in flight,
    each with its own deadline (a path that drops costs one timeout for all its flows)."""
    failed: list[list] = []
    family, target = _family(job["dst"]), (job["dst"], job["dport"])
    start = time.monotonic()
    pending = iter(job["sports"])
    inflight: dict[socket.socket, tuple[int, float]] = {}
    with selectors.DefaultSelector() as sel:

        def launch() -> None:
            for sport in pending:
                sock = socket.socket(family, socket.SOCK_STREAM)
                sock.setblocking(False)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
                try:
                    sock.bind((job["src"], sport))
                    err = sock.connect_ex(target)
                except OSError as exc:
                    sock.close()
                    failed.append([sport, str(exc)])
                    continue
                if err not in (0, errno.EINPROGRESS):
                    sock.close()
                    failed.append([sport, os.strerror(err)])
                    continue
                inflight[sock] = (sport, time.monotonic() + job["timeout"])
                sel.register(sock, selectors.EVENT_WRITE)
                if len(inflight) >= job["window"]:
                    return

        def finish(sock: socket.socket, problem: str | None) -> None:
            sport, _ = inflight.pop(sock)
            sel.unregister(sock)
            sock.close()
            if problem:
                failed.append([sport, problem])

        launch()
        while inflight:
            for key, _ in sel.select(timeout=0.05):
                sock = key.fileobj
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                finish(sock, os.strerror(err) if err else None)
            now = time.monotonic()
            for sock in [s for s, (_, deadline) in inflight.items() if deadline <= now]:
                finish(sock, "timed out")
            launch()
    return [failed, time.monotonic() - start]


def run_job(job: dict[str, Any]) -> list:
    return {"udp": udp_burst, "tcp": tcp_burst}[job["proto"]](job)
