"""IB-6 read from the IB-ETH gateway's ruleset: which sources it would route out from the
partition. The spoofing probe sends a handful of addresses; this judges every source the rules
can tell apart (each address and prefix they name, with its neighbours, and the edges of the
partition's own prefix), with every port and protocol the rules distinguish."""

from __future__ import annotations

import ipaddress

from siteproof.nftjson import Packet, Ruleset, boundary_values, verdict
from siteproof.prefixes import prefixes_just_outside
from siteproof.probes.ruleset import ports_to_ask


def sources_to_ask(rules: Ruleset, partition: ipaddress.IPv4Network | ipaddress.IPv6Network,
                   known: dict[str, str]) -> dict[str, str]:
    """Each source with why it is asked: the hosts' own addresses, the partition's first and
    last and the addresses just outside it, each prefix just outside it, and every address the
    rules name with its neighbours."""
    field = {"ip saddr"} if partition.version == 4 else {"ip6 saddr"}
    asked = dict(known)
    for address in (partition.network_address, partition.broadcast_address, partition.network_address - 1,
                    partition.broadcast_address + 1):
        asked.setdefault(str(address), "the partition's edge")
    for prefix in prefixes_just_outside(str(partition)):
        asked.setdefault(str(ipaddress.ip_network(prefix).network_address + 1), f"in {prefix}, just outside")
    for address in boundary_values(rules, field):
        asked.setdefault(str(address), "named by a rule")
    return {a: why for a, why in asked.items() if ipaddress.ip_address(a).version == partition.version}


def routed_out(rules: Ruleset, sources: dict[str, str], target: str, in_if: str, out_if: str) -> dict[str, str]:
    """For each source the ruleset would forward from `in_if` to `out_if` (a new TCP, UDP or
    ICMP packet to `target`, any port the rules tell apart), the rule that lets it out; and for
    sources it cannot decide, 'undecided: why'."""
    sports, dports = ports_to_ask(rules)
    family = ipaddress.ip_address(target).version
    found: dict[str, str] = {}
    for source in sources:
        packets = [Packet(family, source, target, "icmp" if family == 4 else "ipv6-icmp", iifname=in_if, oifname=out_if,
                          tcp_flags=frozenset())]
        packets += [Packet(family, source, target, proto, dport=d, sport=s, iifname=in_if, oifname=out_if,
                           tcp_flags=frozenset({"syn"}) if proto == "tcp" else frozenset())
                    for proto in ("tcp", "udp") for s in sports for d in dports]
        for packet in packets:
            result = verdict(rules, packet, hook="forward")
            if result.admits:
                port = f"/{packet.dport}" if packet.dport is not None else ""
                found[source] = f"{packet.protocol}{port}: {result.where}"
                break
            if result.verdict == "unknown":
                found.setdefault(source, f"undecided: {result.reason}")
    return found
