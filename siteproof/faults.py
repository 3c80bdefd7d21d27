"""Faults injected into a site, each undone at the end of the test that made it.

Made only of the backend's fault primitives (siteproof.backends.base.Backend, capability
FAULTS): what a fault does on a host is the backend's; what is recorded, and undone, is here.
In a netns lab:

- cable pull: the switch side of a node's link goes down (the node sees NO-CARRIER);
- daemon crash: SIGKILL, no clean-up by the daemon (keepalived: its VRRP process, which its
  parent respawns, as after a segfault; other kinds: the whole process group);
- clean stop: SIGTERM, as `systemctl stop` does;
- rules: an nft table of siteproof's own loaded in the node (a redirect, a block);
- host freeze: every process of the node is SIGSTOPped and, since a namespace shares the
  lab machine's kernel (which would keep answering ARP and forwarding), the node's
  interfaces drop everything at netdev ingress: from the network it is a hung host.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

CLOCK = "%Y-%m-%d %H:%M:%S.%f UTC"


@dataclass
class FaultRecord:
    kind: str
    node: str
    at: float  # monotonic time the fault took effect (takeovers are timed from it)
    detail: str = ""
    host_time: str = ""  # when, by the host's own clock (the runner's, mapped: Backend.clock_offset)


@dataclass
class Faults:
    lab: Any  # the site's backend (a Backend with FAULTS)
    log: list[FaultRecord] = field(default_factory=list)
    _undo: list[tuple[str, str, str, Callable[[], None]]] = field(default_factory=list)  # (kind, node, detail, undo)

    def _record(self, kind: str, node: str, detail: str = "", began: float | None = None) -> FaultRecord:
        if began is not None:
            # A site's fault is prepared first (its undo armed on the host, what it flushes saved):
            # it takes effect when its last command is sent, which the backend tells.
            sent = self.lab.last_fault_at()
            began = sent if sent is not None and sent >= began else began
        at = time.monotonic() if began is None else began
        rec = FaultRecord(kind, node, at, detail, self._host_time(node.split(",")[0], at))
        self.log.append(rec)
        return rec

    def _host_time(self, node: str, at: float) -> str:
        wall = time.time() - (time.monotonic() - at)
        try:
            return datetime.fromtimestamp(wall + self.lab.clock_offset(node), UTC).strftime(CLOCK)
        except Exception:  # noqa: BLE001 - a clock that cannot be read: the runner's, said so
            return datetime.fromtimestamp(wall, UTC).strftime(CLOCK) + " (runner's clock)"

    def _will_undo(self, kind: str, node: str, detail: str, action: Callable[[], None]) -> None:
        self._undo.append((kind, node, detail, action))

    def _done(self, kinds: tuple[str, ...], node: str, detail: str) -> None:
        """The test undid a fault itself: no undo of it is left for the end."""
        self._undo = [u for u in self._undo if not (u[0] in kinds and u[1] == node and u[2] == detail)]

    def rows(self) -> list[list[str]]:
        """The log for the report: host time, host, what, detail."""
        return [[r.host_time, r.node, r.kind, r.detail] for r in self.log]

    def cable_pull(self, node: str, ifname: str) -> FaultRecord:
        began = time.monotonic()
        self.lab.set_link(node, ifname, up=False)
        self._will_undo("cable pull", node, ifname, lambda: self.lab.set_link(node, ifname, up=True))
        return self._record("cable pull", node, ifname, began=began)

    def cable_restore(self, node: str, ifname: str) -> FaultRecord:
        self.lab.set_link(node, ifname, up=True)
        self._done(("cable pull",), node, ifname)
        return self._record("cable restore", node, ifname)

    def crash(self, node: str, daemon: str) -> FaultRecord:
        began = time.monotonic()
        killed = self.lab.crash_daemon(node, daemon)
        self._will_undo("daemon crash", node, daemon, lambda: self.ensure_running([node], daemon))
        return self._record("daemon crash", node, killed, began=began)

    def stop(self, node: str, daemon: str) -> FaultRecord:
        return self.stop_many([node], daemon)

    def stop_many(self, nodes: list[str], daemon: str) -> FaultRecord:
        """Clean stop on many nodes at once (SIGTERM to all, then wait for each)."""
        began = time.monotonic()
        self.lab.stop_daemons(nodes, daemon)
        self._will_undo("clean stop", ",".join(nodes), daemon, lambda: self.ensure_running(nodes, daemon))
        return self._record("clean stop", ",".join(nodes), daemon, began=began)

    def start(self, node: str, daemon: str) -> FaultRecord:
        self.lab.start_daemon(node, daemon)
        self._done(("clean stop", "daemon crash"), node, daemon)
        return self._record("daemon start", node, daemon)

    def rules(self, node: str, family: str, table: str, body: str, why: str) -> FaultRecord:
        """A fault made of rules on the node (an nft table of siteproof's own), until lift_rules."""
        began = time.monotonic()
        self.lab.add_table(node, family, table, body)
        self._will_undo("rules added", node, f"{family} {table}", lambda: self.lab.delete_table(node, family, table))
        return self._record("rules added", node, f"{family} {table}: {why}", began=began)

    def lift_rules(self, node: str, family: str, table: str) -> FaultRecord:
        self.lab.delete_table(node, family, table)
        self._done(("rules added",), node, f"{family} {table}")
        return self._record("rules removed", node, f"{family} {table}")

    def restart(self, node: str, daemon: str) -> None:
        """A clean stop and a start (an emptied cache): both in the log."""
        self.stop(node, daemon)
        self.start(node, daemon)

    def power_off(self, node: str) -> FaultRecord:
        """The host powered off (where the backend can: MissingCapability otherwise)."""
        began = time.monotonic()
        how = self.lab.power_off(node)
        self._will_undo("power off", node, "", lambda: self.lab.power_on(node))
        return self._record("power off", node, how, began=began)

    def power_on(self, node: str) -> FaultRecord:
        self.lab.power_on(node)
        self._done(("power off",), node, "")
        return self._record("power on", node)

    def freeze(self, node: str) -> FaultRecord:
        began = time.monotonic()
        self.lab.freeze(node)
        self._will_undo("host freeze", node, "", lambda: self.lab.thaw(node))
        return self._record("host freeze", node, began=began)

    def thaw(self, node: str) -> FaultRecord:
        self.lab.thaw(node)
        self._done(("host freeze",), node, "")
        return self._record("host thaw", node)

    def ensure_running(self, nodes: list[str], daemon: str) -> None:
        """Start whichever of these daemons is not running, all at once, then wait for each."""
        self.lab.start_stopped(nodes, daemon)

    def forget(self) -> None:
        """Undo nothing: the lab is destroyed next (restoring it would only spend the time)."""
        self._undo.clear()

    def undo_all(self) -> None:
        """Undo every fault still in place, newest first; each undo (or its failure) is logged."""
        while self._undo:
            kind, node, detail, action = self._undo.pop()
            try:
                action()
            except Exception as exc:  # noqa: BLE001 - undoing is best effort; teardown follows
                self._record(f"undo of {kind} FAILED", node, f"{detail}: {type(exc).__name__}: {str(exc)[:200]}".strip(": "))
                continue
            self._record(f"undo of {kind}", node, detail)
