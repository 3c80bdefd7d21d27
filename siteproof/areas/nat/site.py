"""The NAT site: computes, gateways, the tracker's state, and what the outside server saw."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from siteproof.areas.nat import conntrack
from siteproof.areas.nat.daemons import STATE_FILE
from siteproof.errors import SiteproofError
from siteproof.probes import remote, whoami
from siteproof.site import Site


class NatSite:
    def __init__(self, site: Site) -> None:
        self.site = site
        self.computes = site.names("compute")
        self.nodes = site.names("nat-gateway")  # every gateway host (a failover pair is two)
        self.gateways = sorted({self.logical(n) for n in self.nodes})  # what computes are assigned to
        boots, servers = site.names("boot"), site.names("outside-server")
        assert self.computes and self.gateways, f"site {site.name}: no compute or nat-gateway hosts in the inventory"
        assert boots and servers, f"site {site.name}: the inventory needs a boot host (the tracker) and an outside-server"
        self.boot, self.server = boots[0], servers[0]
        lo, _, hi = str(site.parameters.get("pool_ports", "20000-29999")).partition("-")
        self.ports = (int(lo), int(hi))

    # --- labels ---------------------------------------------------------------------
    def label(self, node: str, key: str) -> str:
        return str(self.site.labels[node].get(key, ""))

    def logical(self, node: str) -> str:
        """The gateway a gateway host serves (itself, or the pair it is one of)."""
        return self.label(node, "gateway") or node

    def members(self, gateway: str) -> list[str]:
        return [n for n in self.nodes if self.logical(n) == gateway]

    def pairs(self) -> dict[str, list[str]]:
        return {g: m for g in self.gateways if len(m := self.members(g)) > 1}

    def address(self, node: str) -> str:
        """A host's address label; for a gateway, the address its computes route by."""
        if node not in self.site.labels:
            node = self.members(node)[0]
        return self.label(node, "address")

    def pool(self, gateway: str) -> list[str]:
        node = gateway if gateway in self.site.labels else self.members(gateway)[0]
        return [a for a in self.label(node, "pool").split(",") if a]

    def holds_addresses(self, node: str) -> bool:
        """Whether this gateway host holds its gateway's address now (a pair's master does)."""
        return self.address(node) in self.site.backend.addresses([node])[node]

    # --- the gateways' state ---------------------------------------------------------
    def conntrackd(self, node: str, *args: str) -> str:
        """conntrackd's answer on a gateway host ("" when it gives none)."""
        where = self.site.backend.daemon_dir(node, "conntrackd")
        conf = str(Path(where) / "conntrackd.conf") if where else "/etc/conntrackd/conntrackd.conf"
        proc = self.site.backend.run(node, "conntrackd", "-C", conf, *args, check=False)
        return proc.stdout if proc.returncode == 0 else ""

    def entries_per_compute(self, node: str) -> dict[str, int]:
        """Translated conntrack entries on a gateway host, per compute address."""
        proc = self.site.backend.run(node, "conntrack", "-L", "-n", "-o", "xml", check=False)
        return conntrack.per_compute(conntrack.parse(proc.stdout))

    def owner_of(self, pool_address: str) -> str | None:
        """The gateway whose pool has this address."""
        return next((g for g in self.gateways if pool_address in self.pool(g)), None)

    # --- the tracker's state ---------------------------------------------------------
    def state(self) -> dict[str, Any]:
        where = self.site.backend.daemon_dir(self.boot, "nattracker")
        if where is None:
            raise SiteproofError(f"site {self.site.name}: no nattracker dir for {self.boot} in the inventory (dirs:)")
        return json.loads(self.site.backend.read_file(self.boot, str(Path(where) / STATE_FILE)))

    @staticmethod
    def settled(state: dict[str, Any], now: float) -> str:
        """What keeps the tracker from a steady state ("" when settled): every gateway alive,
        every compute's route as assigned, no move for two of its rounds. (Balance is NAT-2's
        verdict, not a precondition: a site that never balances must still be testable.)"""
        dead = sorted(g for g, h in state["gateways"].items() if not h["alive"])
        if dead:
            return f"gateways dead: {dead}"
        pending = sorted(c for c, g in state["assignment"].items() if state["applied"].get(c) != g)
        if pending:
            return f"routes not yet applied on {pending[:5]}"
        last = max((m["at"] for m in state["moves"]), default=0.0)
        if now - last < 2 * float(state.get("interval", 1.0)):
            return f"moved computes {now - last:.1f} s ago"
        return ""

    # --- what the computes see --------------------------------------------------------
    def routes(self, nodes: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Every IPv4 route of each node, as `ip -j route` gives them."""
        def one(node: str) -> list[dict[str, Any]]:
            return json.loads(self.site.host(node).check_output("ip -j -4 route show"))

        with ThreadPoolExecutor(max_workers=16) as pool:
            return dict(zip(nodes, pool.map(one, nodes), strict=True))

    def seen_by_server(self, nodes: list[str], proto: str = "tcp", port: int | None = None) -> dict[str, str]:
        """For each node, "address:port" as the outside server saw a connection from it (or "error: ...")."""
        port = port or int(self.label(self.server, proto) or 7)
        job = {"ask": [[self.address(self.server), port, proto]], "timeout": self.site.budget("nat_connect")}

        def one(node: str) -> str:
            return str(remote.run_on(self.site.backend.run, node, whoami, job, 1, job["timeout"] * 3 + 30)[0])

        with ThreadPoolExecutor(max_workers=16) as pool:
            return dict(zip(nodes, pool.map(one, nodes), strict=True))
