"""What suites test: a site of hosts by role, as a lab or as real hosts over SSH.

Suites never ask which one they have, except to skip what only a lab can do
(`site.lab is None` at a real site).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import testinfra
from testinfra.host import Host

from siteproof.errors import SiteproofError, TopologyError
from siteproof.hosts import netns_host
from siteproof.lab import Lab
from siteproof.topology import schema
from siteproof.topology.yamlfile import load_yaml_text
from siteproof.wait import budget_seconds


@dataclass
class Site:
    name: str
    kind: str  # "lab" or "ssh"
    labels: dict[str, dict[str, str]]  # node -> labels (role, VIPs, ...)
    parameters: dict[str, Any]
    budgets: dict[str, float]
    configs: dict[str, dict[str, str]] = field(default_factory=dict)  # node -> daemon -> config path
    lab: Lab | None = None
    _hosts: dict[str, Host] = field(default_factory=dict)

    def names(self, role: str) -> list[str]:
        return sorted(n for n, labels in self.labels.items() if labels.get("role") == role)

    def host(self, name: str) -> Host:
        if name not in self._hosts:
            raise SiteproofError(f"site {self.name}: no host {name!r} (known: {', '.join(sorted(self._hosts))})")
        return self._hosts[name]

    def hosts(self, role: str) -> list[Host]:
        return [self._hosts[n] for n in self.names(role)]

    def budget(self, name: str) -> float:
        """A named wait budget in seconds, with this site's and this run's overrides."""
        return budget_seconds(name, self.budgets)

    def daemon_config(self, name: str, daemon: str) -> str:
        """The daemon's config file as the host has it (read through testinfra)."""
        try:
            path = self.configs[name][daemon]
        except KeyError:
            raise SiteproofError(f"site {self.name}: no {daemon} config path known for {name}") from None
        return self.host(name).file(path).content_string


def lab_site(lab: Lab) -> Site:
    topo = lab.topology
    hosts = {n.name: netns_host(lab.ns(n.name), n.name) for n in topo.hosts()}
    configs = {
        n.name: {kind: str(lab.node_dir(n.name) / kind / f"{kind}.conf") for kind in n.daemons} for n in topo.hosts()
    }
    return Site(
        name=topo.name if not topo.variant else f"{topo.name}+{topo.variant}",
        kind="lab",
        labels={n.name: dict(n.labels) for n in topo.hosts()},
        parameters=dict(topo.parameters),
        budgets=dict(topo.budgets),
        configs=configs,
        lab=lab,
        _hosts=hosts,
    )


INVENTORY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "hosts"],
    "properties": {
        "name": {"type": "string"},
        "parameters": {"type": "object"},
        "budgets": {"type": "object", "additionalProperties": {"type": "number"}},
        "hosts": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["ssh", "labels"],
                "properties": {
                    "ssh": {"type": "string"},
                    "labels": schema.STRING_MAP,
                    "configs": schema.STRING_MAP,
                },
            },
        },
    },
}


def inventory_site(path: str | Path, connect_timeout: int = 10) -> Site:
    """A real site from an inventory file; every host is checked reachable first."""
    path = Path(path)
    if not path.is_file():
        raise TopologyError(str(path), "", "inventory file not found")
    doc = load_yaml_text(path.read_text(), str(path))
    schema.validate(doc, INVENTORY, str(path))
    hosts: dict[str, Host] = {}
    for name, spec in doc["hosts"].items():
        host = testinfra.get_host(f"ssh://{spec['ssh']}", ssh_extra_args=f"-o ConnectTimeout={connect_timeout} -o BatchMode=yes")
        result = host.run("true")
        if result.rc != 0:
            raise SiteproofError(
                f"{path}: hosts.{name}: site host unreachable over ssh://{spec['ssh']}: "
                f"{(result.stderr or result.stdout).strip() or f'exit {result.rc}'}"
            )
        hosts[name] = host
    return Site(
        name=doc["name"],
        kind="ssh",
        labels={n: dict(s["labels"]) for n, s in doc["hosts"].items()},
        parameters=dict(doc.get("parameters") or {}),
        budgets={k: float(v) for k, v in (doc.get("budgets") or {}).items()},
        configs={n: dict(s.get("configs") or {}) for n, s in doc["hosts"].items()},
        _hosts=hosts,
    )
