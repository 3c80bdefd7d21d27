"""A host's nftables ruleset read through the backend (`nft -j list ruleset`, read-only), and
the interface a packet from a given source would arrive on: what the static view needs to
judge a packet the way the host's kernel would."""

from __future__ import annotations

import json
from typing import Any

from siteproof.errors import SiteproofError
from siteproof.nftjson import Packet, Ruleset, Verdict, boundary_values, verdict

# Source ports that filters commonly special-case (DNS, BOOTP/DHCP, NTP, FTP data, Kerberos),
# asked as well as an ephemeral one: a rule admitting `sport 53` opens every port to a scanner
# that sends from 53.
SPECIAL_SOURCE_PORTS = (53, 67, 123, 20, 88)
EPHEMERAL_SOURCE_PORT = 45678
# Destination ports asked beside those a ruleset names: the well-known, the edges of the
# privileged range, the top.
USUAL_PORTS = frozenset({1, 7, 22, 53, 1023, 1024, 2049, 65535})
PORT_FIELDS = ({"tcp sport", "udp sport", "th sport"}, {"tcp dport", "udp dport", "th dport"})


def ports_to_ask(rules: Ruleset) -> tuple[list[int], list[int]]:
    """The source and destination ports that judge a ruleset's whole port space: the usual ones
    and every one its rules name, with its neighbours."""
    sports = boundary_values(rules, PORT_FIELDS[0]) | {EPHEMERAL_SOURCE_PORT, *SPECIAL_SOURCE_PORTS}
    dports = boundary_values(rules, PORT_FIELDS[1]) | USUAL_PORTS
    return sorted(sports), sorted(dports)


def read_ruleset(backend: Any, node: str) -> Ruleset:
    out = backend.run(node, "nft", "-j", "list", "ruleset", check=False)
    if out.returncode != 0:
        raise SiteproofError(f"{node}: nft -j list ruleset failed: {(out.stderr or out.stdout).strip()[:200]}")
    try:
        return Ruleset.parse(json.loads(out.stdout or '{"nftables": []}'))
    except (ValueError, KeyError) as exc:
        raise SiteproofError(f"{node}: nft -j list ruleset printed what siteproof cannot read: {exc}") from None


def arrival_interface(backend: Any, node: str, source: str) -> str | None:
    """The interface `node` routes `source` through: where that source's packets arrive
    (symmetric routing; None if the node has no route)."""
    out = backend.run(node, "ip", "-j", "route", "get", source, check=False)
    try:
        return json.loads(out.stdout)[0].get("dev") if out.returncode == 0 else None
    except (ValueError, IndexError):
        return None


def tcp_verdicts(ruleset: Ruleset, source: str, target: str, ports: list[int], iifname: str | None,
                 sport: int = EPHEMERAL_SOURCE_PORT) -> dict[int, Verdict]:
    family = 6 if ":" in target else 4
    return {p: verdict(ruleset, Packet(family, source, target, "tcp", dport=p, sport=sport, iifname=iifname)) for p in ports}
