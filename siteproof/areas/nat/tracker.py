"""The NAT gateway tracker (seed 002: `the_keymaster` and `GW_Tracker` on the boot node), a
service a site can run as it is.

At start it assigns every compute to a gateway (keymaster.assign) and sets each compute's
default route. Then every interval it observes each gateway (does its kernel answer an ICMP
echo; over SSH: is its uplink up, its conntrack entries per pool address and compute), and when a gateway is
dead for `dead_after` observations or its fullest pool address passes the high-water mark, it
asks the keymaster for the fewest moves that mend it and applies them, each compute's default
route at a time, over SSH. Every decision is logged with its reason; its state is one JSON
file (`state_file`) rewritten atomically: the assignment, each gateway's health and port use,
and the recent moves.

Run: python -m siteproof.areas.nat.tracker CONFIG.json

The config (JSON): {"interval": s, "dead_after": n, "high_water": 0.8, "low_water": 0.6,
"strategy": "minimal", "capacity_check": true, "ssh": [argv prefix], "state_file": path,
"ssh_multiplex": false, "computes": {name: ssh-address}, "gateways": {name: {"ssh": address, "route_via": address,
"uplink": ifname, "pools": [{"address": a, "ports": [lo, hi]}], "dead_after": n}}}
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from siteproof.areas.nat import conntrack, keymaster
from siteproof.cmdline import command_line
from siteproof.statusfile import write_atomic


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF


def log(message: str) -> None:
    print(f"{time.time():.3f} {message}", flush=True)


@dataclass
class GatewayHealth:
    alive: bool = True
    misses: int = 0
    uplink: str = "?"
    entries: list[conntrack.Entry] = field(default_factory=list)
    utilization: float = 0.0  # the fullest pool address's share of its ports (one protocol)
    error: str = ""


class Tracker:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.computes: dict[str, str] = config["computes"]
        self.gateways: dict[str, dict[str, Any]] = config["gateways"]
        self.interval = float(config.get("interval", 5))
        self.timeout = float(config.get("command_timeout", max(1.0, self.interval)))
        self.health = {g: GatewayHealth() for g in self.gateways}
        self.assignment: dict[str, str | None] = dict.fromkeys(self.computes)
        self.applied: dict[str, str | None] = dict.fromkeys(self.computes)  # what each compute's route says
        self.moves: list[dict[str, Any]] = []
        self.pool = ThreadPoolExecutor(max_workers=int(config.get("parallel", 16)))
        self.stopping = False
        self._by_address = {a: c for c, a in self.computes.items()}
        self._masters: set[str] = set()

    # --- SSH -----------------------------------------------------------------------------
    def ssh(self, address: str, command: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command on a host; rc 255 and the reason when it does not answer in time.

        Multiplexed, the first command to a host also makes its persistent connection (one
        key exchange per host; every later command costs a channel). ssh backgrounds that
        master with its output on /dev/null, so it never holds our pipes."""
        limit = timeout or self.timeout
        mux: list[str] = []
        if self.config.get("ssh_multiplex"):
            mux = ["-o", "ControlMaster=no"] if address in self._masters else \
                  ["-o", "ControlMaster=auto", "-o", "ControlPersist=yes"]
        argv = [*self.config["ssh"], *mux, "--", address, command]  # "--": an address is never an option
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=limit, check=False)
        except subprocess.TimeoutExpired:
            proc = subprocess.CompletedProcess(argv, 255, "", f"no answer within {limit:.1f} s")
        if proc.returncode == 255 and mux:
            self._drop_master(address)
        elif mux:
            self._masters.add(address)
        return proc

    def _drop_master(self, address: str) -> None:
        self._masters.discard(address)
        subprocess.run([*self.config["ssh"], "-O", "exit", "--", address], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=5, check=False)

    def close(self) -> None:
        for address in list(self._masters):
            self._drop_master(address)

    # --- observing -------------------------------------------------------------------------
    def dead_after(self, name: str) -> int:
        return int(self.gateways[name].get("dead_after", self.config.get("dead_after", 3)))

    def capacity(self, name: str) -> dict[str, int]:
        return {p["address"]: p["ports"][1] - p["ports"][0] + 1 for p in self.gateways[name]["pools"]}

    def observe(self, name: str) -> GatewayHealth:
        """One look at a gateway. Alive is its kernel answering an ICMP echo (a hung host does
        not; a busy one still does) and its uplink up; its conntrack entries and uplink state
        come over SSH, which on a loaded host may be late: then the last ones are kept."""
        gw = self.gateways[name]
        old = self.health[name]

        def miss(why: str, uplink: str = old.uplink) -> GatewayHealth:
            misses = old.misses + 1
            return GatewayHealth(alive=misses < self.dead_after(name), misses=misses, uplink=uplink, entries=old.entries, error=why)

        if not self.ping(gw["ssh"], self.timeout):
            return miss(f"no ICMP echo reply within {self.timeout:.1f} s")
        proc = self.ssh(gw["ssh"], command_line("cat", f"/sys/class/net/{gw['uplink']}/operstate") + "; conntrack -L -n 2>/dev/null; true",
                        max(self.timeout, self.interval * 2))
        if proc.returncode != 0:
            late = (proc.stderr.strip().splitlines() or ["?"])[-1]
            return GatewayHealth(old.alive, old.misses, old.uplink, old.entries, old.utilization, f"observation late: {late}")
        lines = proc.stdout.splitlines()
        uplink = lines[0].strip() if lines else "?"
        if uplink != "up":
            return miss(f"uplink {gw['uplink']} {uplink}", uplink)
        entries = conntrack.parse_lines(lines[1:])
        capacity = self.capacity(name)
        utilization = max((n / capacity[a] for (a, _), n in conntrack.slots(entries).items() if a in capacity), default=0.0)
        return GatewayHealth(True, 0, uplink, entries, utilization)

    def ping(self, address: str, timeout: float) -> bool:
        """One ICMP echo (a raw socket: the tracker runs as root)."""
        ident = (os.getpid() + threading.get_ident()) & 0xFFFF
        header = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
        payload = b"siteproof-nat-tracker"
        packet = struct.pack("!BBHHH", 8, 0, _checksum(header + payload), ident, 1) + payload
        deadline = time.monotonic() + timeout
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
            sock.sendto(packet, (address, 0))
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                try:
                    data, peer = sock.recvfrom(2048)
                except TimeoutError:
                    return False
                ihl = (data[0] & 0x0F) * 4
                kind, _, _, rid, _ = struct.unpack("!BBHHH", data[ihl:ihl + 8])
                if peer[0] == address and kind == 0 and rid == ident:
                    return True
        return False

    # --- deciding and applying -------------------------------------------------------------
    def staying(self, name: str) -> list[conntrack.Entry]:
        """A gateway's entries of computes still assigned to it (those of computes moved away drain)."""
        return [e for e in self.health[name].entries if self.assignment.get(self._by_address.get(e.compute, "")) == name]

    def pressure(self) -> tuple[dict[str, keymaster.Pressure], dict[str, int]]:
        """The gateways whose fullest pool address (one protocol) is past the high-water mark:
        they take no computes; each sheds computes still assigned to it until what they hold
        there is down to the low-water mark (the entries of computes already moved away drain
        and are not shed twice). Also each compute's connections on those slots (whom first)."""
        if not self.config.get("capacity_check", True):
            return {}, {}
        high, low = float(self.config.get("high_water", 0.8)), float(self.config.get("low_water", 0.6))
        found, load = {}, {}
        for name, h in self.health.items():
            if not h.alive:
                continue
            capacity = self.capacity(name)
            full = [(slot, n) for slot, n in conntrack.slots(h.entries).items()
                    if slot[0] in capacity and n >= high * capacity[slot[0]]]
            if not full:
                continue
            (address, proto), n = max(full, key=lambda item: item[1] / capacity[item[0][0]])
            mine = [e for e in self.staying(name) if (e.pool, e.proto) == (address, proto)]
            found[name] = keymaster.Pressure(n / capacity[address], len(mine) - int(low * capacity[address]))
            for e in mine:
                compute = self._by_address[e.compute]
                load[compute] = load.get(compute, 0) + 1
        return found, load

    def apply(self, compute: str) -> None:
        gw = self.assignment[compute]
        if gw is None or self.applied[compute] == gw:
            return
        via = self.gateways[gw]["route_via"]
        # A first connection to a host (key exchange) takes longer than an observation may.
        proc = self.ssh(self.computes[compute], command_line("ip", "route", "replace", "default", "via", via),
                        float(self.config.get("apply_timeout", 10)))
        if proc.returncode == 0:
            self.applied[compute] = gw
        else:
            log(f"apply {compute} -> {gw}: failed ({(proc.stderr.strip().splitlines() or ['?'])[-1]}); retrying next round")

    def apply_all(self) -> None:
        list(self.pool.map(self.apply, [c for c in self.computes if self.assignment[c] != self.applied[c]]))

    def record(self, moves: list[keymaster.Move]) -> None:
        now = time.time()
        for m in moves:
            log(f"move {m.compute}: {m.source or '-'} -> {m.target}: {m.reason}")
            self.moves.append({"at": now, **m.as_dict()})
        self.moves = self.moves[-500:]

    def write_state(self) -> None:
        live = [g for g, h in self.health.items() if h.alive]
        write_atomic(self.config["state_file"], json.dumps({
            "updated": time.time(),
            "interval": self.interval,
            "strategy": self.config.get("strategy", "minimal"),
            "assignment": self.assignment,
            "applied": self.applied,
            "balance": keymaster.balance({c: g for c, g in self.assignment.items() if g}, live),
            "gateways": {g: {"alive": h.alive, "misses": h.misses, "uplink": h.uplink, "entries": len(h.entries),
                             "utilization": round(h.utilization, 4), "error": h.error,
                             "per_compute": {self._by_address.get(a, a): n for a, n in conntrack.per_compute(h.entries).items()}}
                         for g, h in self.health.items()},
            "moves": self.moves,
        }, indent=1, sort_keys=True))

    def round(self) -> None:
        names = list(self.gateways)
        for name, health in zip(names, self.pool.map(self.observe, names), strict=True):
            if health.alive != self.health[name].alive:
                log(f"gateway {name} {'alive again' if health.alive else 'dead: ' + health.error}")
            self.health[name] = health
        live = [g for g, h in self.health.items() if h.alive]
        pressure, load = self.pressure()
        for name, p in pressure.items():
            if p.shed > 0:
                log(f"gateway {name} ports {p.utilization:.0%} in use: shedding {p.shed} connections' worth of computes")
        new, moves = keymaster.remap(self.assignment, live, pressure, load, self.config.get("strategy", "minimal"))
        if moves:
            self.assignment = dict(new)
            self.record(moves)
        self.apply_all()
        self.write_state()

    def run(self) -> None:
        fill = int(self.config.get("fill_size", 20)) if self.config.get("strategy") == "fill-in-turn" else 0
        first = keymaster.assign(list(self.computes), list(self.gateways), fill)
        self.assignment = dict(first)
        self.record([keymaster.Move(c, None, g, "first assignment") for c, g in first.items()])
        deadline = time.monotonic() + float(self.config.get("start_timeout", 60))
        while not self.stopping:
            self.apply_all()
            missing = [c for c in self.computes if self.applied[c] != self.assignment[c]]
            if not missing or time.monotonic() > deadline:
                break
        self.write_state()
        log(f"ready: {len(self.computes) - len(missing)} of {len(self.computes)} computes routed"
            + (f" (not yet: {', '.join(missing[:5])})" if missing else ""))
        while not self.stopping:
            started = time.monotonic()
            self.round()
            delay = self.interval - (time.monotonic() - started)
            if delay > 0:
                time.sleep(delay)  # the tracker's own period


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    with open(argv[1]) as fh:
        config = json.load(fh)
    tracker = Tracker(config)

    def stop(*_: object) -> None:
        tracker.stopping = True

    signal.signal(signal.SIGTERM, stop)
    try:
        tracker.run()
    finally:
        tracker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
