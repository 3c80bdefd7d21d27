"""What suites test: a site of hosts by role, on a backend (a netns lab or real hosts over SSH).

Suites never ask which backend they have. They read through testinfra hosts and the
backend's common calls, and ask for a capability (`site.require("faults")`) where they need
more; a backend without it skips the test with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from testinfra.host import Host

from siteproof import readonly
from siteproof.backends.base import FAULTS, TRAFFIC_COUNTERS, Backend, MissingCapability, require
from siteproof.budgets import Budgets
from siteproof.errors import SiteproofError

CHANGES = {FAULTS: "faults (kill, stop, freeze daemons; pull cables; reconfigure)",
           TRAFFIC_COUNTERS: "traffic counters (rules added to the nodes' rulesets)"}


@dataclass
class Site:
    name: str
    labels: dict[str, dict[str, str]]  # node -> labels (role, VIPs, ...)
    parameters: dict[str, Any]
    budgets: Budgets
    backend: Backend
    configs: dict[str, dict[str, str]] = field(default_factory=dict)  # node -> daemon -> config path
    read_only: bool = False  # a real site without --allow-disruptive: every change is refused

    @property
    def kind(self) -> str:
        return self.backend.kind

    def names(self, role: str) -> list[str]:
        return sorted(n for n, labels in self.labels.items() if labels.get("role") == role)

    def first(self, role: str, area: str) -> str:
        """The (first) host of a role that an area cannot do without; one clear error if none."""
        names = self.names(role)
        if not names:
            raise SiteproofError(f"site {self.name}: the inventory has no host with role {role!r} (the {area} area needs one)")
        return names[0]

    def parameter(self, name: str, area: str) -> Any:
        """A site parameter an area cannot do without; one clear error if the inventory lacks it."""
        if name not in self.parameters:
            raise SiteproofError(f"site {self.name}: the inventory's parameters lack {name!r} (the {area} area needs it)")
        return self.parameters[name]

    def host(self, name: str) -> Host:
        if name not in self.labels:
            raise SiteproofError(f"site {self.name}: no host {name!r} (known: {', '.join(sorted(self.labels))})")
        return self.backend.host(name)

    def hosts(self, role: str) -> list[Host]:
        return [self.host(n) for n in self.names(role)]

    def budget(self, name: str) -> float:
        """A named budget (seconds) or threshold, with the topology's, the site's and the run's overrides."""
        return self.budgets(name)

    threshold = budget

    def can(self, capability: str) -> bool:
        try:
            require(self.backend, capability)
        except MissingCapability:
            return False
        return True

    def require(self, capability: str) -> Backend:
        """The backend, if it has the capability; else MissingCapability (the fixtures skip on it).
        Faults and counters change the site: refused where changes are (see siteproof.readonly)."""
        if capability in CHANGES:
            self.changing(f"use {CHANGES[capability]}")
        require(self.backend, capability)
        return self.backend

    def changing(self, what: str) -> None:
        """Called by every helper before it changes the site; raises where it may not."""
        readonly.check_change(self.name, self.read_only, what)

    def daemon_config(self, name: str, daemon: str) -> str:
        """The daemon's config file as the host has it (read through the backend)."""
        try:
            path = self.configs[name][daemon]
        except KeyError:
            raise SiteproofError(f"site {self.name}: no {daemon} config path known for {name}") from None
        return self.backend.read_file(name, path)
