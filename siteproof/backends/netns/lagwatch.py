"""A fabric LAG that drops a member on loss of carrier, whoever pulled the cable.

The lab rewrites a LAG (siteproof.backends.netns.lag) when it pulls a cable itself. A lab played
as a site is faulted over SSH instead: `ip link set hsn down` on the edge router takes the
carrier of the fabric's member port away, and a real fabric LAG would drop that member at once.
This watcher listens for link events in each LAG bridge's namespace (a plain rtnetlink socket
subscribed to link changes, opened there) and has the lab rewrite the LAG when the members with
carrier change. It runs while the lab is up, on a thread of its own.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Callable

RTMGRP_LINK = 0x1
POLL_S = 0.5  # how often the thread looks at its stop flag between events


def link_events() -> socket.socket:
    """A socket that hears every link change in the calling thread's namespace."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    sock.bind((0, RTMGRP_LINK))
    sock.setblocking(False)
    return sock


class LagWatch:
    def __init__(self, sockets: dict[str, socket.socket], live: Callable[[str], list[str]],
                 reload: Callable[[str], None]) -> None:
        self._sockets, self._live, self._reload = sockets, live, reload
        self._stop = threading.Event()
        self._known = {bridge: live(bridge) for bridge in sockets}
        self._thread = threading.Thread(target=self._run, daemon=True, name="siteproof-lagwatch")
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                ready = select.select(list(self._sockets.values()), [], [], POLL_S)[0]
                for bridge, sock in self._sockets.items():
                    if sock not in ready:
                        continue
                    with contextlib.suppress(BlockingIOError):
                        while sock.recv(65536):
                            pass
                    now = self._live(bridge)
                    if now != self._known[bridge]:
                        self._known[bridge] = now
                        self._reload(bridge)
        except Exception:  # noqa: BLE001 - the lab is going (its namespaces with it): nothing to keep
            return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=POLL_S * 4)
        for sock in self._sockets.values():
            sock.close()
