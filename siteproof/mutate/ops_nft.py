"""Operators on nftables rulesets: a rule gone, a range one port wider, a drop turned into
an accept, a table for one family only, a source prefix one bit wider, NAT for one protocol."""

from __future__ import annotations

import ipaddress
import re

from siteproof.mutate.registry import Candidate, edits, enclosing, operator
from siteproof.topology.model import Topology

FILTERED = ["CAN", "MGMT", "NAT", "IB", "CE", "DTN", "DNS"]
# A rule line: not a comment, a brace, a chain's type/policy line, a set's definition.
_RULE = r"^[ \t]+(?!#|type |policy |flags |elements |\}|chain |set |map )[^\n]*[^\s{][ \t]*\n"


# What a reject may say: gone with it when the rule accepts instead.
_REJECT_WITH = r"(?:\s+with\s+tcp\s+reset|\s+with\s+(?:icmpx|icmp|icmpv6)\s+(?:type\s+)?\S+)?"


def _chain(match: re.Match[str], text: str) -> str:
    return enclosing(text, match.start(), "chain")


@operator("nft-rule-deleted", FILTERED)
def rule_deleted(topo: Topology) -> list[Candidate]:
    """One rule of one chain gone on one node."""
    return edits(topo, "nftables", _RULE, lambda m, _: "", _chain)


@operator("nft-drop-to-accept", FILTERED)
def drop_to_accept(topo: Topology) -> list[Candidate]:
    """One rule that drops or rejects now accepts."""
    return edits(topo, "nftables", r"^(?![^\n]*\bpolicy\b)([ \t]+[^#\n]*?)\b(drop|reject)\b" + _REJECT_WITH,
                 lambda m, _: f"{m[1]}accept", _chain)


@operator("nft-policy-accept", FILTERED)
def policy_accept(topo: Topology) -> list[Candidate]:
    """A filter chain whose policy is drop now accepts what no rule matched."""
    return edits(topo, "nftables", r"policy drop;", lambda m, _: "policy accept;", _chain)


def _wider(match: re.Match[str], _: str) -> str | None:
    low, high = int(match[2]), int(match[3] or match[2])
    return f"{match[1]}{low}-{high + 1}"


@operator("nft-port-range-wider", FILTERED)
def port_range_wider(topo: Topology) -> list[Candidate]:
    """A destination port or range one port wider at its top (1094 -> 1094-1095)."""
    return edits(topo, "nftables", r"(dport\s+)(\d+)(?:-(\d+))?\b(?![.:\d])", _wider, _chain)


@operator("nft-port-range-lower", FILTERED)
def port_range_lower(topo: Topology) -> list[Candidate]:
    """A destination port range one port wider at its bottom (12000-12019 -> 11999-12019)."""
    return edits(topo, "nftables", r"(dport\s+)(\d+)-(\d+)\b",
                 lambda m, _: f"{m[1]}{int(m[2]) - 1}-{m[3]}" if int(m[2]) > 1 else None, _chain)


@operator("nft-set-port-added", FILTERED)
def set_port_added(topo: Topology) -> list[Candidate]:
    """An anonymous port set in a rule with one more port, the one after its last."""
    def add(m: re.Match[str], _: str) -> str | None:
        ports = [int(p) for p in re.findall(r"\d+", m[2])]
        return f"{m[1]}{{ {m[2].strip()}, {max(ports) + 1} }}" if ports else None
    return edits(topo, "nftables", r"((?:dport|sport)\s+)\{([\d,\s-]+)\}", add, _chain)


@operator("nft-table-family", ["CAN", "MGMT", "NAT", "IB", "CE", "DTN", "DNS"])
def table_family(topo: Topology) -> list[Candidate]:
    """A table declared for one family only (inet -> ip: IPv6 unfiltered), or for the other."""
    other = {"inet": "ip", "ip": "ip6", "ip6": "ip"}
    return edits(topo, "nftables", r"^table\s+(inet|ip6|ip)\b", lambda m, _: f"table {other[m[1]]}")


def _prefix_wider(match: re.Match[str], _: str) -> str | None:
    net = ipaddress.ip_network(match[2], strict=False)
    if net.prefixlen == 0:
        return None
    return f"{match[1]}{net.supernet(1)}"


@operator("nft-source-prefix-wider", ["CAN", "MGMT", "NAT", "IB", "DTN", "CE"])
def source_prefix_wider(topo: Topology) -> list[Candidate]:
    """A source network in a rule one bit wider (a /24 -> its /23): a neighbour admitted."""
    return edits(topo, "nftables", r"((?:ip|ip6) saddr\s+)([0-9a-fA-F:.]+/\d+)", _prefix_wider, _chain)


@operator("nat-snat-one-protocol", ["NAT", "CE"])
def snat_one_protocol(topo: Topology) -> list[Candidate]:
    """A source-NAT rule that translates TCP only: UDP and ICMP leave untranslated or not at all."""
    return edits(topo, "nftables", r"^([ \t]+)(?![^\n]*l4proto)([^#\n]*?)\b(snat to|masquerade)\b",
                 lambda m, _: f"{m[1]}{m[2]}meta l4proto tcp {m[3]}", _chain)


@operator("nat-pool-ports-overlap", ["NAT"])
def pool_ports_overlap(topo: Topology) -> list[Candidate]:
    """A gateway's source-port range for NAT eight ports wider at its top (into a neighbour's)."""
    return edits(topo, "nftables", r"(snat to [0-9.-]+:)(\d+)-(\d+)",
                 lambda m, _: f"{m[1]}{m[2]}-{int(m[3]) + 8}" if int(m[3]) + 8 <= 65535 else None, _chain)
