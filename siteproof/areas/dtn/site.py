"""The DTN site: the DTN host, its containers by attachment, the peer DTN, another host."""

from __future__ import annotations

from siteproof.site import Site


class DtnSite:
    def __init__(self, site: Site) -> None:
        self.site = site
        hosts, peers = site.names("dtn-host"), site.names("dtn-peer")
        assert hosts and peers, f"site {site.name}: the inventory needs a dtn-host and a dtn-peer"
        self.host, self.peer = hosts[0], peers[0]
        self.others = site.names("data-net-host")
        self.by_attachment = {self.label(n, "attachment"): n for n in [*hosts, *site.names("dtn-container")]}
        self.services = [n for n in site.names("dtn-container") if self.label(n, "ctrl_ports")]

    def label(self, node: str, key: str) -> str:
        return str(self.site.labels[node].get(key, ""))

    def address(self, node: str) -> str:
        return self.label(node, "address")

    def ranges(self, node: str) -> dict[str, tuple[int, int]]:
        found = {}
        for key in ("ctrl_ports", "data_ports"):
            lo, _, hi = self.label(node, key).partition("-")
            found[key] = (int(lo), int(hi or lo))
        return found
