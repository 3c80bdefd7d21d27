"""The IB grid site: EPN hosts, their grid containers, the IB-ETH gateway, the subnet
manager, and what each says of its addresses, pkeys and partitions."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

from siteproof.areas.ib import fabric, pkeys
from siteproof.areas.ib.daemons import EVENTS_FILE
from siteproof.probes import addrwatch
from siteproof.probes.l2 import Member
from siteproof.site import Site

SM_CONF_AT_SITE = "/etc/opensm/partitions.conf"


class IbSite:
    def __init__(self, site: Site) -> None:
        self.site = site
        self.hosts = site.names("epn")
        self.containers = site.names("grid-container")
        gateways, servers = site.names("ib-gateway"), site.names("outside-server")
        assert self.hosts and gateways, f"site {site.name}: the inventory needs epn hosts and an ib-gateway"
        self.gateway = gateways[0]
        self.server = servers[0] if servers else ""
        self.sms = site.names("subnet-manager")
        self.gpn_routers = site.names("gpn-router")
        self.public = ipaddress.ip_network(str(site.parameters.get("public_prefix", "198.51.100.0/24")))

    def label(self, node: str, key: str) -> str:
        return str(self.site.labels[node].get(key, ""))

    def address(self, node: str) -> str:
        return self.label(node, "address")

    def containers_of(self, host: str) -> list[str]:
        return [c for c in self.containers if self.label(c, "host") == host]

    def is_public(self, address: str) -> bool:
        return ipaddress.ip_interface(address).ip in self.public

    # --- addresses -------------------------------------------------------------------
    def addresses(self, node: str) -> list[dict[str, Any]]:
        """(ifname, address/len) of every IPv4 and IPv6 address on a node, from `ip -j addr`."""
        found = json.loads(self.site.host(node).check_output("ip -j addr show"))
        return [{"ifname": link["ifname"], "address": f"{a['local']}/{a['prefixlen']}"}
                for link in found for a in link.get("addr_info", [])]

    def events(self, host: str) -> list[dict[str, Any]] | None:
        """The address monitor's events on a host (None: no monitor runs there)."""
        where = self.site.backend.daemon_dir(host, "addrwatch")
        if where is None:
            return None
        return addrwatch.read_events(self.site.backend.read_file(host, str(Path(where) / EVENTS_FILE)))

    def container_steps(self, container: str) -> dict[str, Any] | None:
        where = self.site.backend.daemon_dir(container, "container")
        if where is None:
            return None
        try:
            return json.loads(self.site.backend.read_file(container, str(Path(where) / "steps.json")))
        except (OSError, ValueError):
            return None

    # --- layer 2 --------------------------------------------------------------------
    def members(self) -> list[tuple[Member, str, bool]]:
        """Every port on the IB fabric: (member, partition pkey it should be in, full?)."""
        found = []
        for c in self.containers:
            found.append((Member(c, c, "ib0", self.address(c)), "grid", False))
        for h in self.hosts:
            found.append((Member(f"{h} ib0", h, "ib0", self.label(h, "ib_address")), "default", True))
        found.append((Member(self.gateway, self.gateway, "ib0", self.address(self.gateway)), "grid", True))
        return found

    # --- IB-8: what the fabric states ---------------------------------------------------
    def sysfs_root(self, node: str) -> str:
        where = self.site.backend.daemon_dir(node, fabric.SYSFS_DIR)
        return str(where) if where is not None else "/"

    def ports(self, node: str) -> dict[str, pkeys.Port]:
        out = self.site.backend.run(node, *pkeys.sysfs_argv(self.sysfs_root(node)), check=False).stdout
        return pkeys.parse_sysfs(out.splitlines())

    def partitions_conf(self) -> tuple[str, str]:
        """(where, text) of the subnet manager's partitions.conf."""
        sm = self.sms[0]
        where = self.site.backend.daemon_dir(sm, fabric.SM_DIR)
        path = str(Path(where) / fabric.SM_CONF) if where is not None else (self.label(sm, "partitions_conf") or SM_CONF_AT_SITE)
        return f"{sm}:{path}", self.site.backend.read_file(sm, path)
