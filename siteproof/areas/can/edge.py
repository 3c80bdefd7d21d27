"""The HSN edge (SPEC HSN-1, HSN-2): which edge router and which edge-DC link each flow from
the HSN took, read from per-flow counters on the routers themselves."""

from __future__ import annotations

import math
from dataclasses import dataclass

from siteproof.areas.can.site import CanSite
from siteproof.probes.flowcount import Flow, FlowCounters, where

Link = tuple[str, str]  # (edge router, DC router)


@dataclass
class Spread:
    """Where each flow went: its edge-DC link, or None when no edge (or no DC router) counted it."""

    links: dict[Flow, Link | None]

    def per_link(self, designed: list[Link]) -> dict[Link, int]:
        counts = dict.fromkeys(designed, 0)
        for link in self.links.values():
            if link is not None:
                counts[link] = counts.get(link, 0) + 1
        return counts

    def per_edge(self, edges: list[str]) -> dict[str, int]:
        counts = dict.fromkeys(edges, 0)
        for link in self.links.values():
            if link is not None:
                counts[link[0]] += 1
        return counts

    def unseen(self) -> list[Flow]:
        return [f for f, link in self.links.items() if link is None]


def designed_links(can: CanSite) -> list[Link]:
    """Every edge-DC link of the design, in the edge routers' order."""
    return [(e, d) for e in can.edges for d in can.neighbours(e)]


def counters(can: CanSite) -> FlowCounters:
    """Per-flow counters in the forward hook of every edge and DC router (a context manager)."""
    return FlowCounters({n: can.site.host(n) for n in can.edges + can.dc_routers})


def spread(can: CanSite, counted: FlowCounters, flows: list[Flow]) -> Spread:
    counts = counted.read()
    found: dict[Flow, Link | None] = {}
    for flow in flows:
        seen = where(counts, flow)
        edge = [n for n in seen if n in can.edges]
        dc = [n for n in seen if n in can.dc_routers]
        found[flow] = (edge[0], dc[0]) if len(edge) == 1 and len(dc) == 1 else None
    return Spread(found)


def fair_tail(count: int, total: int, links: int) -> float:
    """P(X <= count) for X ~ Binomial(total, 1/links): how likely a hash that spreads flows
    evenly over `links` links would put this few of `total` flows on one of them."""
    p = 1.0 / links
    return min(1.0, sum(math.comb(total, k) * p ** k * (1 - p) ** (total - k) for k in range(count + 1)))
