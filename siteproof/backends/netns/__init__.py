"""The embedded backend: labs of network namespaces (namespaces, ownership and reaper, lab, hosts)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from siteproof.backends.netns.lab import Lab
    from siteproof.site import Site


def __getattr__(name: str) -> Any:
    # Imported on first use: the lab's launcher runs as a module of this package, and must
    # not pay for netlink, testinfra and the topology code at every lab's start.
    if name in ("Lab", "ensure_root", "preflight"):
        from siteproof.backends.netns import lab

        return getattr(lab, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def lab_site(lab: Lab, run_budgets: Mapping[str, float] | None = None) -> Site:
    """The site a lab presents to the suites."""
    from siteproof.budgets import Budgets
    from siteproof.site import Site

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
