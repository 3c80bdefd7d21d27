"""The CE site: the computing element, its ingress, central services, worker nodes, the
outside, and what the CE's MonALISA receiver counted."""

from __future__ import annotations

import json
from pathlib import Path

from siteproof.areas.ce.daemons import COUNTS_FILE
from siteproof.site import Site


class CeSite:
    def __init__(self, site: Site) -> None:
        self.site = site
        one = {role: site.names(role) for role in ("computing-element", "ingress", "central-services", "outside-scanner",
                                                   "outside-server")}
        missing = [role for role, names in one.items() if not names]
        assert not missing, f"site {site.name}: the inventory has no host with role {', '.join(missing)}"
        self.ce, self.ingress, self.cs = one["computing-element"][0], one["ingress"][0], one["central-services"][0]
        self.scanner, self.server = one["outside-scanner"][0], one["outside-server"][0]
        self.workers = site.names("worker-node")
        assert self.workers, f"site {site.name}: the inventory has no worker-node hosts"

    def label(self, node: str, key: str) -> str:
        return str(self.site.labels[node].get(key, ""))

    def address(self, node: str) -> str:
        return self.label(node, "address")

    def port(self, service: str) -> int:
        return int(self.label(self.ce, service))

    def counts(self) -> dict[str, int] | None:
        """Datagrams per source the CE's MonALISA receiver counted (None: not readable here)."""
        where = self.site.backend.daemon_dir(self.ce, "monalisa")
        if where is None:
            return None
        try:
            return json.loads(self.site.backend.read_file(self.ce, str(Path(where) / COUNTS_FILE)))
        except FileNotFoundError:
            return {}

    def listening(self) -> set[int]:
        """The TCP ports the CE listens on (ss), the sweep covers them all."""
        out = self.site.host(self.ce).check_output("ss -Hltn")
        return {int(line.split()[3].rpartition(":")[2]) for line in out.splitlines() if line.strip()}
