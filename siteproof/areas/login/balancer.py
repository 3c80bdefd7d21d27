"""The login load balancer of a site, as the login suite drives it: VIPs, clients, health
controls (drain file, filesystem marker) and the health agents' view of every server.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testinfra.host import Host

from siteproof.areas.login.daemons import FS_MARKER
from siteproof.backends.base import DAEMON_FILES, SOCKETS, MissingCapability
from siteproof.cmdline import command_line
from siteproof.daemons import sshd
from siteproof.errors import SiteproofError
from siteproof.probes.ssh import Client
from siteproof.site import Site
from siteproof.vrrp import VrrpCluster
from siteproof.wait import WaitResult, wait_until

AGENT = "loginlb"
DRAIN_FILE = "nologin"


class LoginBalancer:
    def __init__(self, site: Site, nodes: VrrpCluster) -> None:
        self.site = site
        self.nodes = nodes
        self.names = nodes.names
        self.hashing = str(site.parameters.get("hashing", "nft"))
        self.vip = {n: site.labels[n]["vip"] for n in self.names}
        self.address = {n: site.labels[n]["address"] for n in self.names}
        self.name_of = {a: n for n, a in self.address.items()}
        self._undo: list[Callable[[], None]] = []
        # Client nodes send from their own addresses: through sockets opened in them where the
        # backend has that, else by probes shipped to them (siteproof.probes.remote).
        self.clients = len(site.names("client")) or 1

    # --- clients --------------------------------------------------------------------
    def client(self, index: int = 1) -> Client:
        names = self.site.names("client")
        if not names:  # no client host in the inventory: the test host itself
            return Client(None, None, ["0.0.0.0"])  # noqa: S104 - the test host's own address, any port
        node = names[index - 1]
        if self.site.labels[node].get("addresses"):
            found = set(self.site.labels[node]["addresses"].split(","))
        else:
            # Every address of the client but the one siteproof reaches it by (its management one).
            found = self.site.backend.addresses([node])[node] - {getattr(self.site.backend, "target", lambda n: "")(node)}
        addresses = sorted((a for a in found if ipaddress.ip_address(a).version == 4 and not ipaddress.ip_address(a).is_loopback),
                           key=lambda a: int(ipaddress.ip_address(a)))
        if self.site.can(SOCKETS):
            return Client(self.site.backend, node, addresses)
        return Client(self.site.backend, node, addresses, run=self.site.backend.run)

    @property
    def user(self) -> str:
        """The user the sessions log in as (the inventory's `login_user`; root in a lab)."""
        return str(self.site.parameters.get("login_user") or "root")

    @property
    def user_key(self) -> Path:
        """The private key the sessions log in with: the inventory's `login_user_key` (a file on
        the runner), else the lab user's (the lab's sshd trusts it)."""
        given = self.site.parameters.get("login_user_key")
        if given:
            key = Path(str(given)).expanduser()
            if not key.is_file():
                raise SiteproofError(f"parameters.login_user_key: {key} is not a file on this runner")
            return key
        if not self.site.can(DAEMON_FILES):
            raise MissingCapability("SSH sessions to the login VIPs need parameters.login_user_key in the inventory "
                                    "(the private key the sessions log in with)")
        shared = self.site.require(DAEMON_FILES).shared_dir
        assert shared is not None
        return shared / sshd.KEY_DIR / sshd.USER_KEY

    # --- health controls --------------------------------------------------------------
    def _agent_path(self, node: str, relative: str) -> str:
        where = self.site.backend.daemon_dir(node, AGENT) or Path(self.site.parameters.get("agent_dir", "/run/siteproof-loginlb"))
        return str(where / relative)

    def set_drain(self, node: str, drained: bool) -> None:
        if drained:
            self.site.changing(f"drain {node} (its health agent's drain file)")
        path = self._agent_path(node, DRAIN_FILE)
        self.site.host(node).run(command_line("touch", str(path)) if drained else command_line("rm", "-f", str(path)))
        if drained:
            self._undo.append(lambda: self.set_drain(node, False))

    def set_filesystem(self, node: str, mounted: bool) -> None:
        if not mounted:
            self.site.changing(f"fail {node}'s filesystem check (its health agent's marker file)")
        path = self._agent_path(node, FS_MARKER)
        self.site.host(node).run(command_line("touch", str(path)) if mounted else command_line("rm", "-f", str(path)))
        if not mounted:
            self._undo.append(lambda: self.set_filesystem(node, True))

    def restore_health(self) -> None:
        while self._undo:
            self._undo.pop()()

    # --- what the agents believe ---------------------------------------------------------
    def statuses(self) -> dict[str, dict[str, Any]]:
        """Each node's agent status (its view of every server and its tables' fingerprint)."""
        out = {}
        for node in self.names:
            path = self._agent_path(node, "status.json")
            try:
                text = self.site.backend.read_file(node, path)
                out[node] = json.loads(text)
            except (OSError, ValueError):
                out[node] = {}
        return out

    @staticmethod
    def agreed(statuses: dict[str, dict[str, Any]], nodes: list[str]) -> bool:
        seen = {statuses.get(n, {}).get("tables") for n in nodes}
        return len(seen) == 1 and None not in seen

    def all_up(self, statuses: dict[str, dict[str, Any]], live: list[str] | None = None) -> bool:
        live = live or self.names
        return self.agreed(statuses, live) and all(
            set(statuses[n].get("states", {}).values()) == {"up"} for n in live
        )

    def server_state(self, statuses: dict[str, dict[str, Any]], server: str, state: str, live: list[str]) -> bool:
        """Every live node agrees on its tables and sees server in this state."""
        return self.agreed(statuses, live) and all(statuses[n].get("states", {}).get(server) == state for n in live)

    def wait_tables(self, check: Callable[[dict[str, dict[str, Any]]], bool], expected: str,
                    budget: str = "lb_tables") -> WaitResult:
        return wait_until(self.statuses, budget, seconds=self.site.budget(budget), expected=expected,
                          accept=check, interval=0.2)

    def tables(self, nodes: list[str] | None = None) -> dict[str, NodeTables]:
        """Every node's loaded nftables tables, read through testinfra."""
        nodes = nodes or self.names
        with ThreadPoolExecutor(max_workers=4) as pool:
            return dict(zip(nodes, pool.map(lambda n: read_tables(n, self.site.host(n)), nodes), strict=True))


# --- the hashing tables, as each node has loaded them ------------------------------------
@dataclass(frozen=True)
class NodeTables:
    node: str
    seed: int | None
    steer: dict[int, str]
    fallback: dict[int, str]

    def summary(self) -> tuple[int | None, tuple[tuple[int, str], ...], tuple[tuple[int, str], ...]]:
        return self.seed, tuple(sorted(self.steer.items())), tuple(sorted(self.fallback.items()))


def _elements(obj: dict) -> dict[int, str]:
    out = {}
    for key, value in obj.get("elem", []):
        out[int(key)] = value
    return out


def read_tables(node: str, host: Host) -> NodeTables:
    """The node's bucket tables and hash seed, read with `nft -j` through testinfra."""
    result = host.run("nft -j list table netdev login_lb; echo '--'; nft -j list table ip login_dr")
    if result.rc != 0:
        return NodeTables(node, None, {}, {})
    seed, steer, fallback = None, {}, {}
    for part in result.stdout.split("--\n"):
        if not part.strip():
            continue
        for item in json.loads(part).get("nftables", []):
            if "map" in item and item["map"]["name"] == "steer":
                steer = _elements(item["map"])
            elif "map" in item and item["map"]["name"] == "fallback":
                fallback = _elements(item["map"])
            elif "rule" in item:
                for expr in item["rule"]["expr"]:
                    jhash = expr.get("mangle", {}).get("value", {}).get("jhash") if isinstance(expr, dict) else None
                    if jhash:
                        seed = int(jhash["seed"])
    return NodeTables(node, seed, steer, fallback)
