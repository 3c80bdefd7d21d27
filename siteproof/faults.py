"""Faults injected into a site, each undone at the end of the test that made it.

Made only of the backend's fault primitives (siteproof.backends.base.Backend, capability
FAULTS): what a fault does on a host is the backend's; what is recorded, and undone, is here.
In a netns lab:

- cable pull: the switch side of a node's link goes down (the node sees NO-CARRIER);
- daemon crash: SIGKILL, no clean-up by the daemon (keepalived: its VRRP process, which its
  parent respawns, as after a segfault; other kinds: the whole process group);
- clean stop: SIGTERM, as `systemctl stop` does;
- host freeze: every process of the node is SIGSTOPped and, since a namespace shares the
  lab machine's kernel (which would keep answering ARP and forwarding), the node's
  interfaces drop everything at netdev ingress: from the network it is a hung host.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FaultRecord:
    kind: str
    node: str
    at: float  # monotonic time the fault took effect (takeovers are timed from it)
    detail: str = ""


@dataclass
class Faults:
    lab: Any  # the site's backend (a Backend with FAULTS)
    log: list[FaultRecord] = field(default_factory=list)
    _undo: list[Callable[[], None]] = field(default_factory=list)

    def _record(self, kind: str, node: str, detail: str = "", began: float | None = None) -> FaultRecord:
        if began is not None:
            # A site's fault is prepared first (its undo armed on the host, what it flushes saved):
            # it takes effect when its last command is sent, which the backend tells.
            sent = self.lab.last_fault_at()
            began = sent if sent is not None and sent >= began else began
        rec = FaultRecord(kind, node, time.monotonic() if began is None else began, detail)
        self.log.append(rec)
        return rec

    def cable_pull(self, node: str, ifname: str) -> FaultRecord:
        began = time.monotonic()
        self.lab.set_link(node, ifname, up=False)
        self._undo.append(lambda: self.lab.set_link(node, ifname, up=True))
        return self._record("cable pull", node, ifname, began=began)

    def cable_restore(self, node: str, ifname: str) -> FaultRecord:
        self.lab.set_link(node, ifname, up=True)
        return self._record("cable restore", node, ifname)

    def crash(self, node: str, daemon: str) -> FaultRecord:
        began = time.monotonic()
        killed = self.lab.crash_daemon(node, daemon)
        self._undo.append(lambda: self.ensure_running([node], daemon))
        return self._record("daemon crash", node, killed, began=began)

    def stop(self, node: str, daemon: str) -> FaultRecord:
        return self.stop_many([node], daemon)

    def stop_many(self, nodes: list[str], daemon: str) -> FaultRecord:
        """Clean stop on many nodes at once (SIGTERM to all, then wait for each)."""
        began = time.monotonic()
        self.lab.stop_daemons(nodes, daemon)
        self._undo.append(lambda: self.ensure_running(nodes, daemon))
        return self._record("clean stop", ",".join(nodes), daemon, began=began)

    def start(self, node: str, daemon: str) -> FaultRecord:
        self.lab.start_daemon(node, daemon)
        return self._record("daemon start", node, daemon)

    def freeze(self, node: str) -> FaultRecord:
        began = time.monotonic()
        self.lab.freeze(node)
        self._undo.append(lambda: self.thaw(node))
        return self._record("host freeze", node, began=began)

    def thaw(self, node: str) -> FaultRecord:
        self.lab.thaw(node)
        return self._record("host thaw", node)

    def ensure_running(self, nodes: list[str], daemon: str) -> None:
        """Start whichever of these daemons is not running, all at once, then wait for each."""
        self.lab.start_stopped(nodes, daemon)

    def forget(self) -> None:
        """Undo nothing: the lab is destroyed next (restoring it would only spend the time)."""
        self._undo.clear()

    def undo_all(self) -> None:
        """Undo every fault still in place, newest first."""
        while self._undo:
            action = self._undo.pop()
            try:
                action()
            except Exception:  # noqa: BLE001,S112 - undoing is best effort; teardown follows
                continue
