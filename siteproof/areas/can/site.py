"""The CAN site: routers by role, the traffic matrix, and what the routers' tables say."""

from __future__ import annotations

from typing import Any

from siteproof.areas.can import routers
from siteproof.areas.can.policy import Cell, Policy, expectation
from siteproof.backends.base import SOCKETS
from siteproof.probes.reach import REACHED, Probe, probe_all, services
from siteproof.site import Site


class CanSite:
    def __init__(self, site: Site) -> None:
        self.site = site
        p = site.parameters
        self.spines = site.names("spine")
        self.dc_routers = site.names("dc-router")
        self.speakers = site.names("bgp-speaker")
        assert self.spines and self.dc_routers, f"site {site.name}: no spine or dc-router hosts in the inventory"
        self.policy = Policy(
            mfa_zones=("mfa", "mgmtvm"),
            can_services=tuple(services(str(p.get("can_services", "tcp/22,udp/53,tcp/53,udp/123")))),
            api_port=int(p.get("api_port", 443)),
        )

    # --- labels ---------------------------------------------------------------------
    def label(self, node: str, key: str, default: str = "") -> str:
        return str(self.site.labels[node].get(key, default))

    def router_id(self, node: str) -> str:
        return self.label(node, "router_id")

    def expected_neighbours(self, node: str) -> set[str]:
        """The design's adjacencies: every spine with every DC router (or, where the site has
        one uplink per spine, spine N with DC router N), the DC routers with each other."""
        return {self.router_id(n) for n in self.neighbours(node)}

    def neighbours(self, node: str) -> list[str]:
        one = self.site.parameters.get("spine_uplinks") == "one"
        if node in self.spines:
            i = self.spines.index(node)
            return [d for j, d in enumerate(self.dc_routers) if not one or i == j]
        i = self.dc_routers.index(node)
        return [s for j, s in enumerate(self.spines) if not one or i == j] + [d for d in self.dc_routers if d != node]

    # --- the traffic matrix -----------------------------------------------------------
    def cells(self) -> list[Cell]:
        labels = self.site.labels
        sources = sorted(n for n, lab in labels.items() if lab.get("zone") and lab.get("role") in ("user", "ncn", "dc-services"))
        targets = sorted(n for n, lab in labels.items() if lab.get("probe"))
        cells = []
        for src in sources:
            for dst in targets:
                if src == dst:
                    continue
                for service in services(labels[dst]["probe"]):
                    found = expectation(self.policy, labels[src]["zone"], labels[dst]["zone"], labels[dst].get("role", ""), service)
                    if found:
                        behaviour, reached, why = found
                        cells.append(Cell(Probe(src, dst, labels[dst]["address"], service), behaviour, reached, why))
        assert cells, f"site {self.site.name}: no traffic matrix (no zone and probe labels)"
        return cells

    def run_matrix(self, cells: list[Cell]) -> dict[Probe, str]:
        backend = self.site.require(SOCKETS)

        def socket_in(node: str) -> Any:
            return lambda family, kind: backend.socket(node, family, kind)

        return probe_all([c.probe for c in cells], socket_in, timeout=self.site.budget("reach_probe"))

    @staticmethod
    def reached(verdict: str) -> bool:
        return verdict in REACHED

    # --- routing ---------------------------------------------------------------------
    def routes(self, node: str) -> dict[str, list[dict[str, Any]]]:
        return routers.routes(self.site, node)

    def ospf(self, node: str) -> Any:
        return routers.vtysh_json(self.site, node, "show ip ospf json")


