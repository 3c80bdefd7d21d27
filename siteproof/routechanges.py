"""Route changes heard as they happen, so that a routing wait checks when a router's tables
move instead of on a fixed interval.

FRR installs what it decides through zebra into the kernel, and the kernel tells every
rtnetlink listener of the namespace. Where the backend can open sockets in a node (SOCKETS:
a lab), one listener per router hears each change; a wait then pauses until the first change
(and the rest of its burst: one SPF installs many routes) or until its longest pause is up.
Where it cannot (a site over SSH), the pause is a plain sleep, and the wait polls.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time
from collections.abc import Iterator

from siteproof.backends.base import SOCKETS
from siteproof.site import Site

RTMGRP_IPV4_ROUTE = 0x40
RTMGRP_IPV6_ROUTE = 0x400
BURST_S = 0.03  # a change's messages come together; the check runs once they have


class RouteChanges:
    """`pause(seconds)`: returns True at a route change on any watched node, False when the
    time is up with none. `heard` says whether changes are heard at all (else it sleeps)."""

    def __init__(self, sockets: list[socket.socket]) -> None:
        self._sockets = sockets
        self.heard = bool(sockets)
        self.changes = 0  # bursts heard, for the evidence of a wait

    def pause(self, seconds: float) -> bool:
        if not self._sockets:
            time.sleep(seconds)
            return False
        deadline = time.monotonic() + seconds
        if not select.select(self._sockets, [], [], max(seconds, 0.0))[0]:
            return False
        while True:  # the rest of the burst, within the pause
            self._drain()
            left = min(BURST_S, deadline - time.monotonic())
            if left <= 0 or not select.select(self._sockets, [], [], left)[0]:
                self.changes += 1
                return True

    def _drain(self) -> None:
        for sock in self._sockets:
            with contextlib.suppress(BlockingIOError):
                while sock.recv(65536):
                    pass


@contextlib.contextmanager
def route_changes(site: Site, nodes: list[str]) -> Iterator[RouteChanges]:
    """A listener for route changes on each of `nodes` while the block runs (nothing heard,
    a plain sleep, where the backend cannot open sockets in a node)."""
    sockets: list[socket.socket] = []
    try:
        if SOCKETS in site.backend.capabilities:
            for node in nodes:
                # AF_NETLINK's protocol 0 is NETLINK_ROUTE; the socket belongs to the node's
                # namespace from its creation, wherever it is bound and read.
                sock = site.backend.socket(node, socket.AF_NETLINK, socket.SOCK_RAW)
                sockets.append(sock)
                sock.bind((0, RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE))
                sock.setblocking(False)
        yield RouteChanges(sockets)
    finally:
        for sock in sockets:
            sock.close()
