"""The DC routers' ACL read as well as probed (SPEC CAN-1, CAN-2, CAN-3): every DC router's
ruleset (`nft -j list ruleset`, read-only) judged in its forward hook for every source the
design names (each host of every zone, not only those the probes send from; addresses just
outside each permitted prefix), every probed service of every CAN-crossing cell, and each
source port filters commonly special-case as well as an ephemeral one.

A router ACL is stateless: a UDP datagram from a CAN service port of the zone that service
lives in (a DNS or NTP reply) is let through whatever port it goes to. That is the design,
stated here and expected; a TCP segment from such a port must still carry an ACK.
"""

from __future__ import annotations

import ipaddress
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from siteproof.areas.can.policy import Policy, expectation
from siteproof.nftjson import Packet, Ruleset, Verdict, verdict
from siteproof.prefixes import FAR_OUTSIDE, prefixes_just_outside
from siteproof.probes.reach import Service, services
from siteproof.probes.ruleset import EPHEMERAL_SOURCE_PORT, SPECIAL_SOURCE_PORTS, arrival_interface, read_ruleset
from siteproof.site import Site
from siteproof.topology.render import host_address

# The zones whose prefixes the ACL permits by name: an address just outside each is asked too.
PERMITTED_PREFIXES = ("mfa_prefix", "mgmtvm_prefix")
# Every zone prefix of the design: a neighbour inside one of these is that zone, not foreign.
ZONE_PREFIXES = ("can_prefix", "mfa_prefix", "mgmtvm_prefix", "services_prefix", "users_prefix", "outside_prefix",
                 "extmgmt_prefix", "core_prefix", "nmn_prefix", "hmn_prefix")


@dataclass(frozen=True)
class Question:
    source: str  # a node, or "just outside 10.32.0.0/24"
    saddr: str
    zone: str
    destination: str
    daddr: str
    service: Service
    sport: int
    behaviour: str
    admitted: bool  # what the policy says the ACL does with the connection's first packet
    why: str


def reply_shaped(policy: Policy, src_zone: str, dst_zone: str, service: Service, sport: int) -> bool:
    """A UDP datagram from a CAN service port, from where that service answers the CAN (the
    data center's services) or the CAN answers (the MFA networks): a stateless ACL admits it."""
    if service.proto != "udp" or Service("udp", sport) not in policy.can_services:
        return False
    return (src_zone == "dc" and dst_zone == "can") or (src_zone == "can" and dst_zone in policy.mfa_zones)


def questions(site: Site, policy: Policy) -> list[Question]:
    """Every (source, service, source port) whose first packet crosses a DC router's ACL."""
    p = site.parameters
    can = ipaddress.ip_network(str(p["can_prefix"]))
    labels = site.labels
    sources = [(n, lab["address"], lab["zone"]) for n, lab in sorted(labels.items()) if lab.get("zone") and lab.get("address")]
    zones = [ipaddress.ip_network(str(p[k])) for k in ZONE_PREFIXES if p.get(k)]
    for key in PERMITTED_PREFIXES:
        for prefix in prefixes_just_outside(str(p[key])):
            net = ipaddress.ip_network(prefix)
            saddr = host_address(prefix, 10)
            if prefix != FAR_OUTSIDE and not any(net.overlaps(z) for z in zones) and saddr not in {s[1] for s in sources}:
                sources.append((f"just outside {p[key]}", saddr, "outside"))
    targets = [(n, lab["address"], lab.get("zone", ""), lab.get("role", ""), s) for n, lab in sorted(labels.items())
               if lab.get("probe") for s in services(lab["probe"])]
    sports = (EPHEMERAL_SOURCE_PORT, *SPECIAL_SOURCE_PORTS, *sorted({s.port for s in policy.can_services} - set(SPECIAL_SOURCE_PORTS)))
    found = []
    for src, saddr, zone in sources:
        for dst, daddr, dst_zone, role, service in targets:
            if src == dst or not (ipaddress.ip_address(saddr) in can or ipaddress.ip_address(daddr) in can):
                continue
            expected = expectation(policy, zone, dst_zone, role, service)
            if expected is None:
                continue
            behaviour, reached, why = expected
            for sport in sports:
                admitted, reason = reached, why
                if reply_shaped(policy, zone, dst_zone, service, sport):
                    admitted, reason = True, f"udp from port {sport}: a reply to the CAN's own service (a stateless ACL)"
                found.append(Question(src, saddr, zone, dst, daddr, service, sport, behaviour, admitted, reason))
    return found


def judge(site: Site, router: str, ruleset: Ruleset, asked: list[Question]) -> dict[Question, Verdict]:
    """What the router's forward hook does with each question's first packet (a TCP SYN)."""
    arrival = {saddr: arrival_interface(site.backend, router, saddr) for saddr in {q.saddr for q in asked}}
    return {q: verdict(ruleset, Packet(6 if ":" in q.saddr else 4, q.saddr, q.daddr, q.service.proto, dport=q.service.port, sport=q.sport,
                                       iifname=arrival[q.saddr]), "forward") for q in asked}


def judge_every_router(site: Site, routers: list[str], asked: list[Question]) -> dict[str, dict[Question, Verdict]]:
    def one(router: str) -> dict[Question, Verdict]:
        return judge(site, router, read_ruleset(site.backend, router), asked)

    with ThreadPoolExecutor(max_workers=max(1, len(routers))) as pool:
        return dict(zip(routers, pool.map(one, routers), strict=True))
