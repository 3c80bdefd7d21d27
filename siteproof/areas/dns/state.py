"""The DNS part of a site's pre/post snapshot (siteproof.snapshot): every zone's records, as the
secondary transfers them from the primary, and every server's SOA serial.

Signing records are left out: BIND re-signs, adds CDS/CDNSKEY and rolls keys by itself, and
a test's own changes show in the records they sign. Serials are informational: every update
moves them, even one that a test undid.
"""

from __future__ import annotations

import dns.rdatatype

from siteproof import snapshot
from siteproof.areas.dns.site import DnsSite
from siteproof.site import Site

SIGNING = frozenset({dns.rdatatype.RRSIG, dns.rdatatype.NSEC, dns.rdatatype.NSEC3, dns.rdatatype.NSEC3PARAM,
                     dns.rdatatype.DNSKEY, dns.rdatatype.CDS, dns.rdatatype.CDNSKEY, dns.rdatatype.SOA,
                     dns.rdatatype.RdataType.make(65534)})  # BIND's private signing-state records


def read(site: Site) -> snapshot.Sections:
    d = DnsSite(site)
    records, serials = [], []
    for zone in d.zones:
        try:
            copy = d.axfr_copy(zone)
        except Exception as exc:  # noqa: BLE001 - an unreadable zone is a line of the snapshot
            records.append(f"{zone}: unreadable ({exc.__class__.__name__})")
            continue
        records += [f"{name} {ttl} {dns.rdatatype.to_text(rdata.rdtype)} {rdata}"
                    for name, ttl, rdata in copy.iterate_rdatas() if rdata.rdtype not in SIGNING]
        serials += [f"{zone} {node} {serial}" for node, serial in d.serials(zone).items()]
    return {"records": sorted(records), "serials": sorted(serials)}


snapshot.register_area(snapshot.Area("dns", read, applies=lambda site: bool(site.names("primary")),
                                     informational=frozenset({"serials"})))
