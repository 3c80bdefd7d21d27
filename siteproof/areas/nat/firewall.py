"""NAT-6 read from a gateway's ruleset: which new packets from outside it would forward to a
compute, or translate toward one. The crafted-packet probe sends a sample; this judges every
source, port and protocol the rules can tell apart (nftjson.boundary_values)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from siteproof.nftjson import Packet, Ruleset, boundary_values, verdict
from siteproof.probes.ruleset import ports_to_ask


@dataclass
class InboundJudgement:
    """What one gateway's ruleset does with new packets from outside."""

    gateway: str
    asked: int = 0
    admitted: list[str] = field(default_factory=list)  # forwarded to a compute
    translated: list[str] = field(default_factory=list)  # translated toward the inside
    undecided: list[str] = field(default_factory=list)


def inside_targets(rules: Ruleset, computes: list[str], inside: str) -> list[str]:
    """The computes to ask about: the first and the last, and every inside address the rules
    name (with its neighbours)."""
    network = ipaddress.ip_network(inside, strict=False)
    named = {str(a) for a in boundary_values(rules, {"ip daddr", "ip6 daddr"})
             if ipaddress.ip_address(a).version == network.version and ipaddress.ip_address(a) in network}
    return sorted({computes[0], computes[-1], *named}, key=ipaddress.ip_address)


def judge_inbound(gateway: str, rules: Ruleset, sources: dict[str, str], targets: list[str], pool: list[str],
                  outside_if: str, inside_if: str) -> InboundJudgement:
    """Every new TCP, UDP and ICMP echo packet from each outside source to each target through
    the forward hook, and to each pool address through prerouting (a translation there is a
    port forward: unsolicited traffic let in)."""
    found = InboundJudgement(gateway)
    sports, dports = ports_to_ask(rules)

    def ask(packet: Packet, hook: str, name: str) -> None:
        found.asked += 1
        result = verdict(rules, packet, hook=hook)
        what = (f"{packet.protocol}{'/' + str(packet.dport) if packet.dport is not None else ''} from {packet.saddr} "
                f"({name}{f', source port {packet.sport}' if packet.sport is not None else ''}) to {packet.daddr}: ")
        if result.verdict == "unknown":
            found.undecided.append(what + result.reason)
        elif hook == "forward" and result.admits:
            found.admitted.append(what + result.where)
        elif hook == "prerouting" and result.verdict == "nat":
            found.translated.append(what + f"{result.reason} ({result.where})")

    for source, name in sources.items():
        family = ipaddress.ip_address(source).version
        for target in targets:
            ask(Packet(family, source, target, "icmp" if family == 4 else "ipv6-icmp", iifname=outside_if,
                       oifname=inside_if, tcp_flags=frozenset()), "forward", name)
        for target, hook, oif in [(t, "forward", inside_if) for t in targets] + [(p, "prerouting", None) for p in pool]:
            if ipaddress.ip_address(target).version != family:
                continue
            for proto in ("tcp", "udp"):
                flags = frozenset({"syn"}) if proto == "tcp" else frozenset()
                for sport in sports:
                    for dport in dports:
                        ask(Packet(family, source, target, proto, dport=dport, sport=sport, iifname=outside_if,
                                   oifname=oif, tcp_flags=flags), hook, name)
    return found
