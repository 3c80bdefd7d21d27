"""Faults injected into a lab, each undone at the end of the test that made it.

- cable pull: the switch side of a node's link goes down (the node sees NO-CARRIER);
- daemon crash: SIGKILL, no clean-up by the daemon (keepalived: its VRRP process, which its
  parent respawns, as after a segfault; other kinds: the whole process group);
- clean stop: SIGTERM, as `systemctl stop` does;
- host freeze: every process of the node is SIGSTOPped and, since a namespace shares the
  lab machine's kernel (which would keep answering ARP and forwarding), the node's
  interfaces drop everything at netdev ingress: from the network it is a hung host.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from siteproof import nft
from siteproof.backends.netns import namespaces as netns
from siteproof.backends.netns.lab import Lab

FREEZE_TABLE = "siteproof_freeze"


@dataclass
class FaultRecord:
    kind: str
    node: str
    at: float  # monotonic time the fault began to be applied (takeovers are timed from it)
    detail: str = ""


@dataclass
class Faults:
    lab: Lab
    log: list[FaultRecord] = field(default_factory=list)
    _undo: list[Callable[[], None]] = field(default_factory=list)

    def _record(self, kind: str, node: str, detail: str = "", began: float | None = None) -> FaultRecord:
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
        killed = self.lab.daemon(node, daemon).crash()
        self._undo.append(lambda: self.ensure_running([node], daemon))
        return self._record("daemon crash", node, killed, began=began)

    def stop(self, node: str, daemon: str) -> FaultRecord:
        return self.stop_many([node], daemon)

    def stop_many(self, nodes: list[str], daemon: str) -> FaultRecord:
        """Clean stop on many nodes at once (SIGTERM to all, then wait for each)."""
        began = time.monotonic()
        chosen = [self.lab.daemon(node, daemon) for node in nodes]
        for d in chosen:
            d.terminate()
        for d in chosen:
            d.stop()
        self._undo.append(lambda: self.ensure_running(nodes, daemon))
        return self._record("clean stop", ",".join(nodes), daemon, began=began)

    def start(self, node: str, daemon: str) -> FaultRecord:
        self.lab.daemon(node, daemon).start()
        return self._record("daemon start", node, daemon)

    def freeze(self, node: str) -> FaultRecord:
        began = time.monotonic()
        ifnames = list(self.lab.topology.nodes[node].interfaces)
        chains = "".join(
            f"chain in_{i} {{ type filter hook ingress device {i} priority -500; policy drop; }}\n" for i in ifnames
        )
        nft.load(self.lab.nft_runner(node), f"table netdev {FREEZE_TABLE} {{\n{chains}}}\n", f"freeze {node}")
        for daemon in self._daemons_of(node):
            daemon.frozen = True
        netns.kill_all_in(self.lab.ns(node), signal.SIGSTOP)
        self._undo.append(lambda: self.thaw(node))
        return self._record("host freeze", node, began=began)

    def thaw(self, node: str) -> FaultRecord:
        # The network first: processes that wake to deaf interfaces would each declare
        # every peer dead and take over, a storm no real resumed host makes.
        nft.load(self.lab.nft_runner(node), f"delete table netdev {FREEZE_TABLE}\n", f"thaw {node}", check=False)
        netns.kill_all_in(self.lab.ns(node), signal.SIGCONT)
        for daemon in self._daemons_of(node):
            daemon.frozen = False
        return self._record("host thaw", node)

    def _daemons_of(self, node: str) -> list:
        return [d for (n, _), d in self.lab.daemons.items() if n == node]

    def ensure_running(self, nodes: list[str], daemon: str) -> None:
        """Start whichever of these daemons is not running, all at once, then wait for each."""
        stopped = [d for d in (self.lab.daemon(n, daemon) for n in nodes) if not d.running()]
        for d in stopped:
            d.start(wait=False)
        for d in stopped:
            d.wait_ready()

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
