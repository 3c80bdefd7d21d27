"""The DNS view of a site: which host plays which part (primary, secondary, resolver, root,
upstream, inside and outside clients), its zones, and the TSIG keys its configs define.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zone

from siteproof.areas.dns.checks import TsigKey, key_ring, tsig_keys
from siteproof.areas.dns.nsec3 import authoritative_names, hashed_owner
from siteproof.backends.base import DAEMON_FILES
from siteproof.errors import SiteproofError
from siteproof.probes.dnsask import From
from siteproof.site import Site
from siteproof.topology.render import reverse_zone


class DnsSite:
    def __init__(self, site: Site) -> None:
        self.site = site

        def label(role: str, key: str = "address") -> str:
            node = site.first(role, "DNS")
            if key not in site.labels[node]:
                raise SiteproofError(f"site {site.name}: host {node} ({role}) has no label {key!r} (the DNS area needs it)")
            return site.labels[node][key]

        self.primary, self.primary6 = label("primary"), label("primary", "address6")
        self.secondary, self.secondary6 = label("secondary"), label("secondary", "address6")
        self.resolver, self.resolver6 = label("resolver"), label("resolver", "address6")
        self.root = label("root")
        self.upstream = label("upstream")
        self.domain: str = site.parameter("domain", "DNS")
        self.zones = [self.domain, reverse_zone(site.parameter("system_prefix", "DNS")),
                      reverse_zone(site.parameter("system_prefix6", "DNS"))]
        self.keys = tsig_keys(site.daemon_config(site.first("primary", "DNS"), "named"))
        self.upstream_keys = tsig_keys(site.daemon_config(site.first("upstream", "DNS"), "named"))
        # The TSIG key names the configs use for transfers and updates: labels, these by default.
        primary_labels = site.labels[site.names("primary")[0]]
        self.transfer_key_name = primary_labels.get("transfer_key", "xfr-key")
        self.update_key_name = primary_labels.get("update_key", "update-key")
        self.upstream_update_key_name = site.labels[site.names("upstream")[0]].get("update_key", "update-key")
        # DNS-9's zone of short signatures, where a whole ZSK rollover fits in a test.
        self.rollover_zone = primary_labels.get("rollover_zone", f"rollover.{self.domain}")
        clients = {site.labels[n].get("side"): n for n in site.names("client")}
        self.inside = From(site, clients.get("inside"))
        self.outside = From(site, clients["outside"]) if "outside" in clients else None
        self.secondary_node = From(site, site.first("secondary", "DNS"))
        self.edge = From(site, site.names("edge")[0]) if site.names("edge") else None
        # Every authoritative server, by node: the primary first, then each secondary.
        self.primary_name = site.names("primary")[0]
        self.authoritative = {n: site.labels[n]["address"] for n in [self.primary_name, *site.names("secondary")]}
        # Their IPv6 service addresses, where the inventory names one (address6).
        self.authoritative6 = {n: site.labels[n]["address6"] for n in self.authoritative if site.labels[n].get("address6")}

    def daemon_log(self, node: str, kind: str) -> str | None:
        """The daemon's log (KIND.log in its directory) where the backend reads its daemons' files
        (a lab), else None."""
        directory = self.site.backend.daemon_dir(node, kind) if self.site.can(DAEMON_FILES) else None
        return self.site.backend.read_file(node, str(directory / f"{kind}.log")) if directory else None

    def xfr_ring(self) -> Any:
        return key_ring(self._key(self.keys, self.transfer_key_name, "transfer_key"))

    def update_ring(self) -> Any:
        return key_ring(self.update_key())

    def update_key(self) -> TsigKey:
        return self._key(self.keys, self.update_key_name, "update_key")

    def upstream_update_ring(self) -> Any:
        return key_ring(self._key(self.upstream_keys, self.upstream_update_key_name, "update_key"))

    def _key(self, keys: dict[str, TsigKey], name: str, label: str) -> TsigKey:
        if name not in keys:
            raise SiteproofError(f"site {self.site.name}: no TSIG key {name!r} in the named.conf read "
                                 f"(it defines {', '.join(sorted(keys)) or 'none'}; label {label!r} names another)")
        return keys[name]

    def axfr_copy(self, zone: str) -> dns.zone.Zone:
        """The zone as the secondary gets it: AXFR from the primary with the transfer key."""
        return self.secondary_node.axfr(self.primary, zone, self.xfr_ring())

    def system_host(self, family: int) -> str:
        """An address of the system's range that the zones name (nid001)."""
        prefix = self.site.parameters["system_prefix" if family == 4 else "system_prefix6"]
        return str(ipaddress.ip_network(prefix).network_address + 11)

    def serial(self, where: From, server: str, zone: str) -> int | None:
        try:
            answer = where.query(server, zone, "SOA").answer
            return answer[0][0].serial if answer else None
        except Exception:  # noqa: BLE001 - no answer is a missing serial
            return None

    def serials(self, zone: str) -> dict[str, int | None]:
        """The zone's SOA serial on every authoritative server (None: no answer)."""
        return {node: self.serial(self.inside, address, zone) for node, address in self.authoritative.items()}

    @staticmethod
    def agree(serials: dict[str, int | None]) -> bool:
        return None not in serials.values() and len(set(serials.values())) == 1

    def served_copy(self, node: str, zone: str, reference: dns.zone.Zone) -> dns.zone.Zone:
        """What one server serves of the zone, read by queries (a secondary refuses AXFR, as it
        should): every owner name and type of the reference copy, asked with DNSSEC records.
        Missing answers stay missing, so validate_zone reports them."""
        server = self.authoritative[node]
        served = dns.zone.Zone(reference.origin, relativize=False)
        wanted = {(name, rds.rdtype) for name, n in reference.nodes.items() for rds in n.rdatasets
                  if rds.rdtype not in (dns.rdatatype.RRSIG, dns.rdatatype.NSEC3)}
        delegations = {name for name, n in reference.nodes.items()
                       if name != reference.origin and n.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NS) is not None}
        asked = []
        for name, rdtype in sorted(wanted):
            if name in delegations and rdtype == dns.rdatatype.NSEC:
                # A query at a delegation gets a referral, never its NSEC: the primary's copy stands in.
                for covered in (rdtype, dns.rdatatype.RRSIG):
                    found = reference.get_rdataset(name, covered, dns.rdatatype.NSEC if covered == dns.rdatatype.RRSIG else 0)
                    if found is not None:
                        served.find_rdataset(name, found.rdtype, found.covers, create=True).update(found)
                continue
            asked.append((name, rdtype))
        # Every question in one go: at a site, one shipped sender on the asking node.
        responses = self.inside.queries([self.inside.message(server, name.to_text(), dns.rdatatype.to_text(rdtype),
                                                             dnssec=True, tcp=True) for name, rdtype in asked])
        for (name, rdtype), response in zip(asked, responses, strict=True):
            for rrset in response.answer + response.authority:
                if rrset.name != name or rrset.rdtype not in (rdtype, dns.rdatatype.RRSIG):
                    continue
                if rrset.rdtype == dns.rdatatype.RRSIG and rrset.covers != rdtype:
                    continue
                served.find_rdataset(name, rrset.rdtype, rrset.covers, create=True).update(rrset)
        if reference.get_rdataset(reference.origin, dns.rdatatype.NSEC3PARAM) is not None:
            self._served_nsec3(server, reference, served, delegations)
        return served

    def _served_nsec3(self, server: str, reference: dns.zone.Zone, served: dns.zone.Zone,
                      delegations: set[dns.name.Name]) -> None:
        """NSEC3 records live at hashed names that cannot be asked for; a question for a type a
        name lacks is answered with the name's own NSEC3 (RFC 5155 section 7.2.3), so each
        authoritative name and empty non-terminal is asked for a private type."""
        names, _ = authoritative_names(reference)
        asked = []
        for name in sorted(names):
            if name in delegations:
                # A referral carries no NSEC3 of a signed delegation: the primary's copy stands in.
                owner = hashed_owner(reference, name)
                for rdtype, covers in ((dns.rdatatype.NSEC3, dns.rdatatype.NONE), (dns.rdatatype.RRSIG, dns.rdatatype.NSEC3)):
                    found = reference.get_rdataset(owner, rdtype, covers)
                    if found is not None:
                        served.find_rdataset(owner, rdtype, covers, create=True).update(found)
                continue
            asked.append(self.inside.message(server, name.to_text(), "TYPE65280", dnssec=True, tcp=True))
        for response in self.inside.queries(asked):
            for rrset in response.authority:
                if rrset.rdtype == dns.rdatatype.NSEC3 or (rrset.rdtype == dns.rdatatype.RRSIG and rrset.covers == dns.rdatatype.NSEC3):
                    served.find_rdataset(rrset.name, rrset.rdtype, rrset.covers, create=True).update(rrset)
