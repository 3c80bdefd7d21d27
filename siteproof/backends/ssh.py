"""Real sites: hosts from an inventory file, reached by testinfra over SSH.

Read-only twice over: this backend offers no capability that changes a host (faults, counters),
so tests that need one are skipped with that reason; and the site is opened read-only unless
the run allows changes, so a change helper refuses (siteproof.readonly) whatever it asks.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import testinfra
from testinfra.host import Host

from siteproof.backends.base import MissingCapability
from siteproof.budgets import Budgets, check_names
from siteproof.errors import SiteproofError, TopologyError
from siteproof.site import Site
from siteproof.topology import schema
from siteproof.topology.yamlfile import load_yaml_text
from siteproof.vrrp.config import host_addresses

T = TypeVar("T")


class SshBackend:
    kind = "ssh"
    capabilities: frozenset[str] = frozenset()
    shared_dir: Path | None = None

    def __init__(self, hosts: dict[str, Host], dirs: dict[str, dict[str, str]]) -> None:
        self._hosts = hosts
        self._dirs = dirs

    def nodes(self) -> list[str]:
        return sorted(self._hosts)

    def host(self, node: str) -> Host:
        return self._hosts[node]

    def target(self, node: str) -> str:
        """The host name or address siteproof reaches the node by (its SSH target)."""
        return str(self._hosts[node].backend.host.name)

    def run(self, node: str, *argv: str, check: bool = True, timeout: float = 30,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        command = shlex.join(argv)
        if stdin is not None:
            command = f"printf '%s' {shlex.quote(stdin)} | {command}"
        result = self._hosts[node].run(command)
        proc = subprocess.CompletedProcess(list(argv), result.rc, result.stdout, result.stderr)
        if check:
            proc.check_returncode()
        return proc

    def read_file(self, node: str, path: str) -> str:
        return self._hosts[node].file(path).content_string

    def addresses(self, nodes: list[str]) -> dict[str, set[str]]:
        with ThreadPoolExecutor(max_workers=8) as pool:
            return dict(zip(nodes, pool.map(lambda n: host_addresses(self._hosts[n]), nodes), strict=True))

    def daemon_dir(self, node: str, kind: str) -> Path | None:
        found = self._dirs.get(node, {}).get(kind)
        return Path(found) if found else None

    def socket(self, node: str, family: int, kind: int) -> object:
        raise MissingCapability("the ssh backend cannot open sockets inside a site host")

    def call_in(self, node: str, fn: Callable[[], T]) -> T:
        raise MissingCapability("the ssh backend cannot run code inside a site host")


def inventory_site(path: str | Path, run_budgets: Mapping[str, float] | None = None, connect_timeout: int = 10,
                   allow_changes: bool = False) -> Site:
    """A real site from an inventory file; every host is checked reachable first. Read-only
    unless changes are allowed (--allow-disruptive): every change helper then refuses."""
    path = Path(path)
    if not path.is_file():
        raise TopologyError(str(path), "", "inventory file not found")
    doc = load_yaml_text(path.read_text(), str(path))
    schema.validate(doc, schema.INVENTORY, str(path))
    inventory_budgets = check_names(doc.get("budgets") or {}, f"{path}: budgets")
    options = {"ssh_config": doc["ssh_config"]} if doc.get("ssh_config") else {}
    hosts = {name: testinfra.get_host(f"ssh://{spec['ssh']}", **options,
                                      ssh_extra_args=f"-o ConnectTimeout={connect_timeout} -o BatchMode=yes")
             for name, spec in doc["hosts"].items()}

    def reachable(name: str) -> str:
        try:
            result = hosts[name].run("true")
        except RuntimeError as exc:  # testinfra raises on ssh's own failure (exit 255)
            found = getattr(exc.args[0], "stderr", "") if exc.args else ""
            return str(found or exc).strip()
        return "" if result.rc == 0 else (result.stderr or result.stdout).strip() or f"exit {result.rc}"

    with ThreadPoolExecutor(max_workers=16) as pool:  # every host at once: one slow host costs one timeout
        problems = dict(zip(hosts, pool.map(reachable, hosts), strict=True))
    down = {n: why for n, why in problems.items() if why}
    if down:
        raise SiteproofError(f"{path}: {len(down)} site host(s) unreachable: " + "; ".join(
            f"hosts.{n} (ssh://{doc['hosts'][n]['ssh']}): {why}" for n, why in sorted(down.items())))
    parameters = dict(doc.get("parameters") or {})
    return Site(
        name=doc["name"],
        labels={n: dict(s["labels"]) for n, s in doc["hosts"].items()},
        parameters=parameters,
        budgets=Budgets(parameters, inventory=inventory_budgets, run=run_budgets),
        backend=SshBackend(hosts, {n: dict(s.get("dirs") or {}) for n, s in doc["hosts"].items()}),
        configs={n: dict(s.get("configs") or {}) for n, s in doc["hosts"].items()},
        read_only=not allow_changes,
    )
