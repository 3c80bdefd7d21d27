"""The embedded backend: labs of network namespaces (namespaces, ownership and reaper, lab, hosts)."""

from __future__ import annotations

from collections.abc import Mapping

from siteproof.backends.netns.lab import Lab, ensure_root, preflight
from siteproof.budgets import Budgets
from siteproof.site import Site


def lab_site(lab: Lab, run_budgets: Mapping[str, float] | None = None) -> Site:
    """The site a lab presents to the suites."""
    topo = lab.topology
    configs = {n.name: {kind: str(lab.node_dir(n.name) / kind / f"{kind}.conf") for kind in n.daemons} for n in topo.hosts()}
    return Site(
        name=topo.name if not topo.variant else f"{topo.name}+{topo.variant}",
        labels={n.name: dict(n.labels) for n in topo.hosts()},
        parameters=dict(topo.parameters),
        budgets=Budgets(topo.parameters, topology=topo.budgets, run=run_budgets),
        backend=lab,
        configs=configs,
    )


__all__ = ["Lab", "ensure_root", "lab_site", "preflight"]
