"""The CAN site: routers by role, the traffic matrix, and what the routers' tables say."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from siteproof.areas.can import routers
from siteproof.areas.can.policy import Cell, Policy, expectation
from siteproof.probes.reach import REACHED, Probe, services
from siteproof.probes.remote import probe_from
from siteproof.site import Site


class CanSite:
    def __init__(self, site: Site) -> None:
        self.site = site
        p = site.parameters
        self.spines = site.names("spine")
        self.dc_routers = site.names("dc-router")
        self.speakers = site.names("bgp-speaker")
        self.edges = site.names("edge-router")  # the HSN edge (none: a site without the HSN edge in its inventory)
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
        """The routers `node` has a designed OSPF adjacency with: spines and edge routers with
        every DC router (or, with one uplink each, router N with DC router N), the DC routers
        with each other."""
        one = {"spine": self.site.parameters.get("spine_uplinks") == "one",
               "edge": self.site.parameters.get("edge_uplinks") == "one"}
        for kind, group in (("spine", self.spines), ("edge", self.edges)):
            if node in group:
                i = group.index(node)
                return [d for j, d in enumerate(self.dc_routers) if not one[kind] or i == j]
        i = self.dc_routers.index(node)
        return ([s for j, s in enumerate(self.spines) if not one["spine"] or i == j]
                + [e for j, e in enumerate(self.edges) if not one["edge"] or i == j]
                + [d for d in self.dc_routers if d != node])

    # --- the traffic matrix -----------------------------------------------------------
    def cells(self) -> list[Cell]:
        labels = self.site.labels
        sources = sorted(n for n, lab in labels.items() if lab.get("zone"))  # every host of every zone
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
        """Every cell probed from its source host itself (all sources at once): the same path
        in a lab and at a real site (`siteproof.probes.remote`)."""
        by_source: dict[str, list[Probe]] = {}
        for cell in cells:
            by_source.setdefault(cell.probe.source, []).append(cell.probe)
        timeout = self.site.budget("reach_probe")

        def one(source: str) -> dict[Probe, str]:
            probes = by_source[source]
            verdicts = probe_from(self.site.backend.run, source, [(p.address, p.service) for p in probes], timeout)
            return dict(zip(probes, verdicts, strict=True))

        with ThreadPoolExecutor(max_workers=16) as pool:
            return {k: v for found in pool.map(one, sorted(by_source)) for k, v in found.items()}

    @staticmethod
    def reached(verdict: str) -> bool:
        return verdict in REACHED

    # --- routing ---------------------------------------------------------------------
    def routes(self, node: str) -> dict[str, list[dict[str, Any]]]:
        return routers.routes(self.site, node)

    def ospf(self, node: str) -> Any:
        return routers.vtysh_json(self.site, node, "show ip ospf json")


