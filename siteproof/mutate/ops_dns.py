"""Operators on DNS servers' configs: BIND (named), Knot and Unbound, one server at a time."""

from __future__ import annotations

import base64
import re
from dataclasses import replace

from siteproof.mutate.registry import Candidate, edits, enclosing, operator
from siteproof.topology.model import Topology


def _zone(match: re.Match[str], text: str) -> str:
    return enclosing(text, match.start(), "zone") or "options"


@operator("dns-transfer-acl-any", ["DNS-4"])
def transfer_any(topo: Topology) -> list[Candidate]:
    """One server (or one zone) that gives zone transfers to anyone."""
    return edits(topo, "named", r"(allow-transfer\s*)\{[^}]*\}", lambda m, _: f"{m[1]}{{ any; }}", _zone)


@operator("dns-update-acl-any", ["DNS-7"])
def update_any(topo: Topology) -> list[Candidate]:
    """One zone that accepts dynamic updates from anyone."""
    return edits(topo, "named", r"(allow-update\s*)\{[^}]*\}", lambda m, _: f"{m[1]}{{ any; }}", _zone)


@operator("dns-query-acl-any", ["DNS-5", "DNS-6"])
def query_any(topo: Topology) -> list[Candidate]:
    """One authoritative server that answers queries from anyone."""
    return edits(topo, "named", r"(allow-query\s*)\{[^}]*\}", lambda m, _: f"{m[1]}{{ any; }}", _zone)


@operator("dns-recursion-on", ["DNS-5"])
def recursion_on(topo: Topology) -> list[Candidate]:
    """An authoritative server that recurses for its clients."""
    return edits(topo, "named", r"recursion\s+no;", lambda m, _: "recursion yes;")


def _other_secret(match: re.Match[str], _: str) -> str:
    raw = base64.b64decode(match[2] + "=" * (-len(match[2]) % 4))
    flipped = bytes([raw[0] ^ 0x01]) + raw[1:] if raw else b"\x01"
    return f"{match[1]}{base64.b64encode(flipped).decode()}"


@operator("dns-tsig-secret-one-side", ["DNS-4", "DNS-7"])
def tsig_secret(topo: Topology) -> list[Candidate]:
    """A TSIG key's secret changed on one server only (one bit of it)."""
    found = [*edits(topo, "named", r'(secret\s+")([A-Za-z0-9+/=]+)', _other_secret, _key_named),
             *edits(topo, "knot", r"(secret:\s*)([A-Za-z0-9+/=]+)", _other_secret, _key_knot)]
    # The summary names the key, never its secret: it goes into the report.
    return [replace(c, summary=c.summary.split(":", 1)[0] + ": one bit of the secret flipped") for c in found]


def _key_named(match: re.Match[str], text: str) -> str:
    return f"key {enclosing(text, match.start(), 'key')}"


def _key_knot(match: re.Match[str], text: str) -> str:
    return "key " + (re.findall(r"(?m)^\s*-\s*id:\s*(\S+)", text[: match.start()]) or [""])[-1]


@operator("dns-tsig-algorithm-one-side", ["DNS-4", "DNS-7"])
def tsig_algorithm(topo: Topology) -> list[Candidate]:
    """A TSIG key's algorithm changed on one server only."""
    other = {"hmac-sha512": "hmac-sha256", "hmac-sha256": "hmac-sha512"}
    return [*edits(topo, "named", r"(algorithm\s+)(hmac-sha512|hmac-sha256)", lambda m, _: f"{m[1]}{other[m[2]]}"),
            *edits(topo, "knot", r"(algorithm:\s*)(hmac-sha512|hmac-sha256)", lambda m, _: f"{m[1]}{other[m[2]]}")]


@operator("dns-also-notify-dropped", ["DNS-4"])
def also_notify_dropped(topo: Topology) -> list[Candidate]:
    """A primary that no longer notifies a secondary (options or one zone)."""
    return edits(topo, "named", r"^\s*also-notify\s*\{[^}]*\};\s*\n", lambda m, _: "", _zone)


def _days_shorter(match: re.Match[str], _: str) -> str | None:
    """A policy whose signatures last days or weeks, made to last 6 days (refreshed after 5): a
    valid policy BIND loads, whose signatures expire inside a week."""
    block = match[0]
    if not re.search(r"signatures-validity\s+P\d+[DW]", block):
        return None
    block = re.sub(r"(signatures-validity(?:-dnskey)?\s+)P\w+", r"\g<1>P6D", block)
    return re.sub(r"(signatures-refresh\s+)P\w+", r"\g<1>P5D", block)


@operator("dns-signature-validity-shorter", ["DNS-3", "DNS-9"])
def validity_shorter(topo: Topology) -> list[Candidate]:
    """A DNSSEC policy's signature validity shortened to 6 days (its refresh to 5)."""
    return edits(topo, "named", r"^dnssec-policy\s+(\S+)\s*\{(?:[^{}]|\{[^{}]*\})*\}", _days_shorter,
                 lambda m, _: m[1])


@operator("dns-nsec3-iterations", ["DNS-1", "DNS-2"])
def nsec3_iterations(topo: Topology) -> list[Candidate]:
    """A DNSSEC policy with NSEC3 iterations above zero (RFC 9276: validators may treat it as insecure)."""
    return edits(topo, "named", r"(nsec3param\s+iterations\s+)0\b", lambda m, _: f"{m[1]}150",
                 lambda m, t: enclosing(t, m.start(), "dnssec-policy"))


@operator("dns-knot-acl-any", ["DNS-4", "DNS-5"])
def knot_acl_any(topo: Topology) -> list[Candidate]:
    """A Knot ACL or query ACL that admits any address of one family."""
    def widen(m: re.Match[str], _: str) -> str:
        return f"{m[1]}[ 0.0.0.0/0, ::/0 ]"
    return edits(topo, "knot", r"^(\s*address:\s*)\[[^\]]*\]", widen,
                 lambda m, t: (re.findall(r"(?m)^\s*-\s*id:\s*(\S+)", t[: m.start()]) or [""])[-1])


@operator("dns-resolver-access-widened", ["DNS-5", "DNS-6"])
def resolver_access(topo: Topology) -> list[Candidate]:
    """A resolver that answers a whole family (an open resolver)."""
    return edits(topo, "unbound", r"^(\s*access-control:\s*)(0\.0\.0\.0/0|::/0)\s+refuse",
                 lambda m, _: f"{m[1]}{m[2]} allow")


@operator("dns-resolver-validation-off", ["DNS-2", "DNS-9"])
def validation_off(topo: Topology) -> list[Candidate]:
    """A resolver that no longer validates DNSSEC (its validator module left out)."""
    return edits(topo, "unbound", r'module-config:\s*"validator iterator"', lambda m, _: 'module-config: "iterator"')


@operator("dns-secondary-zone-dropped", ["DNS-4", "DNS-6"])
def secondary_zone_dropped(topo: Topology) -> list[Candidate]:
    """A zone the primary serves missing from one secondary (Knot)."""
    return edits(topo, "knot", r"^\s*-\s*domain:\s*(\S+)\s*\n(?:[ \t]+(?!-)[^\n]*\n)*", lambda m, _: "",
                 lambda m, _: m[1])
