"""The login health agent: one per login node, the keepalived checker of this design.

Every interval it runs the node's own health checks (the shared filesystem is mounted, the
HSN NIC is up, no admin drain file) and broadcasts the result on the management network.
It listens to every other node's broadcasts; a node not heard for `dead_after` seconds is
down. From the states of all servers it computes the bucket tables (tables.py, the same on
every node) and loads them into nftables when they change (at most every 0.25 s).

Run: python -m siteproof.areas.login.agent CONFIG.json   (inside the login node's namespace)
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from siteproof import nft as nftables
from siteproof.areas.login import tables
from siteproof.errors import SiteproofError
from siteproof.statusfile import write_atomic

SO_BINDTODEVICE = 25


def log(message: str) -> None:
    print(f"{time.time():.3f} {message}", flush=True)


APPLY_GAP_S = 0.25


def nft(script: str) -> None:
    nftables.load(nftables.local_runner, script, "login agent")


def read_sys(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def evaluate(checks: dict[str, Any], net: str = "/sys/class/net") -> tuple[str, list[str]]:
    """This node's state and why: a NIC not up takes it down (its sessions cannot live);
    a missing filesystem or an admin drain file drains it (new sessions go elsewhere)."""
    down = []
    for nic in checks["nics"]:
        state = read_sys(f"{net}/{nic}/operstate")
        if state != "up":
            down.append(f"nic {nic} {state or 'missing'}")
    drain = []
    if not os.path.exists(checks["filesystem"]):
        drain.append(f"filesystem {checks['filesystem']} not mounted")
    if os.path.exists(checks["drain_file"]):
        drain.append(f"drain file {checks['drain_file']}")
    if down:
        return tables.DOWN, down + drain
    return (tables.DRAIN, drain) if drain else (tables.UP, [])


class Agent:
    def __init__(self, config: dict[str, Any]) -> None:
        self.cfg = config
        self.me = config["node"]
        self.servers = [s["address"] for s in config["servers"]]
        self.names = {s["address"]: s["name"] for s in config["servers"]}
        self.address = config["address"]
        self.interval = float(config["interval"])
        self.dead_after = float(config["dead_after"])
        start = time.monotonic()
        # Real servers are static: every one is up until it is heard to be otherwise, or not heard.
        self.last_seen = {a: start for a in self.servers}
        self.states = {a: tables.UP for a in self.servers}
        self.macs: dict[str, str] = {}
        self.applied: tuple[tables.Plan, tuple[str, ...]] | None = None
        self.written_states: dict[str, str] = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, config["control_if"].encode())
        self.sock.bind(("", int(config["control_port"])))
        self.sock.setblocking(False)

    # --- this node's health -------------------------------------------------------
    def own_health(self) -> tuple[str, list[str]]:
        return evaluate(self.cfg["checks"])

    def announce(self) -> None:
        state, reasons = self.own_health()
        if state != self.states[self.address] or reasons != getattr(self, "_reasons", []):
            log(f"self {state} {'; '.join(reasons)}".rstrip())
        self._reasons = reasons
        self.states[self.address] = state
        self.last_seen[self.address] = time.monotonic()
        msg = {"address": self.address, "state": state, "reasons": reasons,
               "mac": read_sys(f"/sys/class/net/{self.cfg['hsn_if']}/address")}
        try:
            self.sock.sendto(json.dumps(msg).encode(), (self.cfg["control_broadcast"], int(self.cfg["control_port"])))
        except OSError as exc:  # the management NIC may be down: keep checking
            log(f"announce failed: {exc}")

    # --- everyone else --------------------------------------------------------------
    def receive(self) -> None:
        while True:
            try:
                data, _ = self.sock.recvfrom(2048)
            except BlockingIOError:
                return
            try:
                msg = json.loads(data)
                peer = msg["address"]
            except (ValueError, KeyError, TypeError):
                continue
            if peer not in self.states or peer == self.address:
                continue
            self.last_seen[peer] = time.monotonic()
            if msg.get("mac"):
                self.macs[peer] = msg["mac"]
            state = msg.get("state", tables.UP)
            if state != self.states[peer]:
                log(f"peer {self.names[peer]} {self.states[peer]} -> {state} {'; '.join(msg.get('reasons', []))}".rstrip())
                self.states[peer] = state

    def expire(self) -> None:
        now = time.monotonic()
        for peer, seen in self.last_seen.items():
            if peer != self.address and now - seen > self.dead_after and self.states[peer] != tables.DOWN:
                log(f"peer {self.names[peer]} {self.states[peer]} -> down not heard for {now - seen:.1f} s")
                self.states[peer] = tables.DOWN

    def apply(self) -> None:
        plan = tables.plan(self.servers, self.states, self.cfg["drain_mode"])
        peers = self.peer_macs()
        if self.applied == (plan, peers) and self.states == self.written_states:
            return
        if self.applied != (plan, peers):
            before = self.applied[0].steer if self.applied else plan.steer
            nft(tables.update(plan, self.address, list(peers)))
            if self.applied is None or self.applied[0] != plan:
                changed = sum(1 for m, a in plan.steer.items() if before.get(m) != a)
                log(f"tables applied: {changed} of {len(plan.steer)} steer entries changed")
            self.applied = (plan, peers)
        self.write_status(plan)
        self.written_states = dict(self.states)

    def write_status(self, plan: tables.Plan) -> None:
        """What this node believes and has loaded, for whoever watches it (tests, operators)."""
        status = {
            "node": self.me,
            "states": {self.names[a]: s for a, s in self.states.items()},
            "tables": tables.digest(plan),
            "peers": len(self.applied[1]) if self.applied else 0,
        }
        write_atomic("status.json", json.dumps(status))

    def run(self) -> None:
        cfg = self.cfg
        nft(nftables.replace_table("netdev", "login_lb", "") + nftables.replace_table("ip", "login_dr", ""))
        nft(tables.ruleset(ifname=cfg["hsn_if"], vip_range=cfg["vip_range"], port=int(cfg["port"]),
                           seed=int(cfg["seed"]), address=self.address, servers=self.servers))
        self.announce()
        self.apply()
        log(f"ready: {len(self.servers)} servers, seed {int(cfg['seed']):#x}")
        next_announce = time.monotonic() + self.interval
        last_loop = last_apply = time.monotonic()
        # Tables are loaded at most every apply_gap: as a lab starts, every peer's first
        # announcement changes the plan, and one `nft` per announcement on every node (40 x 39
        # in the login lab) is a CPU storm that delays every daemon still starting.
        apply_gap = min(APPLY_GAP_S, self.interval / 4)
        while True:
            wake = min(next_announce, last_apply + apply_gap) if self.changed_since_apply() else next_announce
            timeout = max(0.0, wake - time.monotonic())
            readable, _, _ = select.select([self.sock], [], [], timeout)
            now = time.monotonic()
            if now - last_loop > self.dead_after:
                # This agent was stopped (a frozen host), not its peers: silence it could not
                # hear is no evidence against them. Start their clocks again.
                log(f"resumed after {now - last_loop:.1f} s without running")
                self.last_seen = dict.fromkeys(self.last_seen, now)
                next_announce = now
            last_loop = now
            if readable:
                self.receive()
            if time.monotonic() >= next_announce:
                next_announce += self.interval
                self.announce()
            self.expire()
            if time.monotonic() - last_apply >= apply_gap and self.changed_since_apply():
                self.apply()
                last_apply = time.monotonic()

    def peer_macs(self) -> tuple[str, ...]:
        return tuple(sorted(m for a, m in self.macs.items() if a != self.address))

    def changed_since_apply(self) -> bool:
        return self.applied is None or self.states != self.written_states or self.peer_macs() != self.applied[1]


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    config = json.loads(Path(argv[1]).read_text())
    try:
        Agent(config).run()
    except (SiteproofError, RuntimeError, OSError) as exc:
        log(f"fatal: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
