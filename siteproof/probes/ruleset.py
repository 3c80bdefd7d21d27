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


def _proc(backend: Any, node: str, key: str) -> str:
    out = backend.run(node, "cat", "/proc/sys/" + key.replace(".", "/"), check=False)
    return out.stdout.strip() if out.returncode == 0 else ""


def ipv6_unfiltered(backend: Any, node: str, rules: Ruleset, hook: str) -> str:
    """Why IPv6 packets reach `hook` on the node while no base chain of its ruleset sees IPv6
    (every filter table `ip`, none `inet` or `ip6`); '' when IPv6 is filtered there or cannot
    arrive (disabled; for forward: not routed; for input: no global IPv6 address)."""
    if rules.base_chains(hook, 6) or _proc(backend, node, "net.ipv6.conf.all.disable_ipv6") == "1":
        return ""
    if hook == "forward":
        if _proc(backend, node, "net.ipv6.conf.all.forwarding") != "1":
            return ""
        why = "it routes IPv6 (net.ipv6.conf.all.forwarding = 1)"
    else:
        out = backend.run(node, "ip", "-j", "-6", "addr", "show", "scope", "global", check=False)
        try:
            found = [a["local"] for link in json.loads(out.stdout or "[]") for a in link.get("addr_info", [])]
        except (ValueError, KeyError):
            found = []
        if not found:
            return ""
        why = f"it has the global IPv6 address{'es' if len(found) > 1 else ''} {', '.join(found[:3])}"
    tables = sorted({f"{c[0]} {c[1]}" for c in rules.chains if c[0] in ("ip", "inet", "ip6")}) or ["no table"]
    return f"{why}, and no {hook} chain of its ruleset sees IPv6 ({', '.join(tables)}): IPv6 passes unfiltered"


def ipv6_gaps(backend: Any, nodes: list[str], hook: str) -> tuple[list[list[str]], list[str]]:
    """For each node: a report row (node, the families its `hook` chains see, IPv6's state) and,
    where IPv6 arrives unfiltered, a problem naming the node and why."""
    rows, problems = [], []
    for node in nodes:
        rules = read_ruleset(backend, node)
        families = sorted({key[0] for key, chain in rules.chains.items() if chain.get("hook") == hook})
        gap = ipv6_unfiltered(backend, node, rules, hook)
        rows.append([node, ", ".join(families) or "none", gap or "IPv6 filtered, or cannot arrive"])
        if gap:
            problems.append(f"{node}: {gap}")
    return rows, problems
