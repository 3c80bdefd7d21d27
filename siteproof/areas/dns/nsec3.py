"""NSEC3 denial of existence checked on a zone copy: RFC 5155 (one chain, in hash order,
closed, one record per authoritative name and empty non-terminal, type bitmaps that match)
and RFC 9276 (SHA-1, no extra iterations, no salt, no opt-out in a zone without unsigned
delegations to skip).

Pure functions of a dnspython zone: the same check runs on a lab secondary and a real one.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

import dns.dnssec
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zone

OPT_OUT = 0x01
SHA1 = 1


def _hash_of(owner: dns.name.Name) -> str:
    return owner.labels[0].decode().upper()


def _b32hex(raw: bytes) -> str:
    return base64.b32hexencode(raw).decode().rstrip("=")


def hashed_owner(zone: dns.zone.Zone, name: dns.name.Name) -> dns.name.Name:
    """Where name's NSEC3 lives in the zone, by its NSEC3PARAM (which must exist)."""
    param = next(iter(zone.get_rdataset(zone.origin, dns.rdatatype.NSEC3PARAM)))
    digest = dns.dnssec.nsec3_hash(name, param.salt or b"", param.iterations, param.algorithm)
    return dns.name.Name((digest.lower().encode(),)).concatenate(zone.origin)


def bitmap_types(windows: Iterable[tuple[int, bytes]]) -> set[int]:
    """The RR types an NSEC/NSEC3 type bitmap lists."""
    types = set()
    for window, bitmap in windows:
        for i, byte in enumerate(bitmap):
            for bit in range(8):
                if byte & (0x80 >> bit):
                    types.add(window * 256 + i * 8 + bit)
    return types


def authoritative_names(zone: dns.zone.Zone) -> tuple[set[dns.name.Name], set[dns.name.Name]]:
    """(names that need an NSEC3: every authoritative owner, delegation points and empty
    non-terminals, but nothing below a delegation), (the delegation points)."""
    origin = zone.origin
    delegations = {n for n, node in zone.nodes.items()
                   if n != origin and node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NS) is not None}
    names: set[dns.name.Name] = set()
    for name, node in zone.nodes.items():
        if node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NSEC3) is not None:
            continue  # the hashed owners themselves
        if not any(r.rdtype != dns.rdatatype.RRSIG for r in node.rdatasets):
            continue
        if any(name != d and name.is_subdomain(d) for d in delegations):
            continue  # glue: not authoritative
        walk = name
        while walk != origin and walk not in names:
            names.add(walk)
            walk = walk.parent()
        names.add(origin)
    return names, delegations


def nsec3_problems(zone: dns.zone.Zone) -> tuple[str, list[str]]:
    """(a one-line summary, every problem found) for a zone denied by NSEC3."""
    origin = zone.origin
    apex = zone.get_node(origin)
    param_rds = apex.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NSEC3PARAM) if apex else None
    records = {}
    for name, node in zone.nodes.items():
        rds = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NSEC3)
        if rds is not None:
            records[_hash_of(name)] = (name, rds)
    problems: list[str] = []
    if param_rds is None:
        problems.append("NSEC3 records but no NSEC3PARAM at the apex")
        return "NSEC3, no NSEC3PARAM", problems
    param = next(iter(param_rds))
    salt = param.salt or b""
    # RFC 9276 section 3.1: SHA-1, 0 additional iterations, empty salt.
    if param.algorithm != SHA1:
        problems.append(f"NSEC3PARAM hash algorithm {param.algorithm} (RFC 5155 defines only 1, SHA-1)")
    if param.iterations != 0:
        problems.append(f"NSEC3PARAM iterations {param.iterations}: RFC 9276 requires 0 additional iterations")
    if salt:
        problems.append(f"NSEC3PARAM salt {salt.hex()}: RFC 9276 requires an empty salt")
    if param.flags != 0:
        problems.append(f"NSEC3PARAM flags {param.flags}: must be 0 (RFC 5155 section 4.1.2)")
    names, delegations = authoritative_names(zone)
    opt_out = sorted(h for h, (_, rds) in records.items() if any(r.flags & OPT_OUT for r in rds))
    unsigned = [d for d in delegations if zone.get_node(d).get_rdataset(dns.rdataclass.IN, dns.rdatatype.DS) is None]
    if opt_out:
        problems.append(f"{len(opt_out)} NSEC3 records set opt-out" + (
            "" if unsigned else " in a zone with no unsigned delegation to skip (RFC 9276 section 3.1: do not use opt-out)"))
    mismatched = [h for h, (_, rds) in records.items()
                  if any(r.algorithm != param.algorithm or r.iterations != param.iterations or (r.salt or b"") != salt
                         for r in rds)]
    if mismatched:
        problems.append(f"{len(mismatched)} NSEC3 records disagree with NSEC3PARAM on algorithm, iterations or salt")
    # RFC 5155 section 7.1: one chain in hash order, each record pointing at the next, closed.
    order = sorted(records)
    for i, owner_hash in enumerate(order):
        want = order[(i + 1) % len(order)]
        got = _b32hex(next(iter(records[owner_hash][1])).next)
        if got != want:
            problems.append(f"NSEC3 chain broken at {owner_hash}: next {got}, expected {want}")
            break
    # Coverage: every authoritative name and empty non-terminal has its own NSEC3 record (an
    # insecure delegation may be skipped by opt-out), with a type bitmap that lists its types.
    missing, wrong_types = [], []
    for name in sorted(names):
        digest = dns.dnssec.nsec3_hash(name, salt, param.iterations, param.algorithm)
        if digest not in records:
            if not (name in unsigned and opt_out):
                missing.append(name.to_text())
            continue
        node = zone.get_node(name)
        present = {r.rdtype for r in node.rdatasets} if node else set()
        if name in delegations:
            present &= {dns.rdatatype.NS, dns.rdatatype.DS, dns.rdatatype.RRSIG}
        listed = set().union(*(bitmap_types(r.windows) for r in records[digest][1]))
        if listed != present:
            diff = sorted(dns.rdatatype.to_text(t) for t in listed ^ present)
            wrong_types.append(f"{name.to_text()} ({', '.join(diff)})")
    if missing:
        problems.append(f"{len(missing)} names without an NSEC3 record: {', '.join(missing[:4])}")
    if wrong_types:
        problems.append(f"NSEC3 type bitmaps that differ from the name's types: {'; '.join(wrong_types[:3])}")
    summary = (f"NSEC3 (SHA-1, {param.iterations} iterations, salt {salt.hex() or '-'}, "
               f"opt-out {'yes' if opt_out else 'no'}), {len(records)} records for {len(names)} names")
    return summary, problems
