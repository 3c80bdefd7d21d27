"""The login load balancer of a site, as the login suite drives it: VIPs, clients, health
controls (drain file, filesystem marker) and the health agents' view of every server.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from siteproof.gateways import Gateways
from siteproof.login import Client, NodeTables, read_tables
from siteproof.site import Site
from siteproof.wait import WaitResult, wait_until

AGENT = "loginlb"
DRAIN_FILE = "nologin"
FS_MARKER = "global/homes/.mounted"


class LoginBalancer:
    def __init__(self, site: Site, nodes: Gateways) -> None:
        self.site = site
        self.nodes = nodes
        self.names = nodes.names
        self.hashing = str(site.parameters.get("hashing", "nft"))
        self.vip = {n: site.labels[n]["vip"] for n in self.names}
        self.address = {n: site.labels[n]["address"] for n in self.names}
        self.name_of = {a: n for n, a in self.address.items()}
        self._undo: list[Callable[[], None]] = []
        self.clients = len(site.names("client")) if site.lab is not None else 1

    # --- clients --------------------------------------------------------------------
    def client(self, index: int = 1) -> Client:
        lab = self.site.lab
        if lab is None:
            return Client(None, None, ["0.0.0.0"])  # noqa: S104 - the test host's own address, any port
        node = f"client{index}"
        return Client(lab, node, [str(a.ip) for a in lab.topology.nodes[node].interfaces["eth1"].addresses])

    @property
    def user_key(self) -> Path:
        assert self.site.lab is not None
        return self.site.lab.dir / "ssh" / "id_ed25519"

    # --- health controls --------------------------------------------------------------
    def _agent_path(self, node: str, relative: str) -> str:
        lab = self.site.lab
        if lab is not None:
            return str(lab.daemon(node, AGENT).rundir / relative)
        return str(Path(self.site.parameters.get("agent_dir", "/run/siteproof-loginlb")) / relative)

    def set_drain(self, node: str, drained: bool) -> None:
        path = self._agent_path(node, DRAIN_FILE)
        self.site.host(node).run(f"touch {path}" if drained else f"rm -f {path}")
        if drained:
            self._undo.append(lambda: self.set_drain(node, False))

    def set_filesystem(self, node: str, mounted: bool) -> None:
        path = self._agent_path(node, FS_MARKER)
        self.site.host(node).run(f"touch {path}" if mounted else f"rm -f {path}")
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
                text = Path(path).read_text() if self.site.lab else self.site.host(node).file(path).content_string
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
