"""A ruleset read, not only probed: what an nftables filter does with one packet.

`verdict(ruleset, packet)` walks the base chains of one hook (all tables whose family sees
the packet: `ip` sees IPv4 only, `ip6` IPv6 only, `inet` both) in priority order, as the
kernel does: a drop or reject anywhere is final, an accept ends only its own chain. The input
is `nft -j list ruleset`, from a lab node or a site host alike.

Only what can be decided from the packet is decided. A match on something the packet does not
say (a rate limit, a socket, a fib lookup, an interface the caller did not name) makes any
rule that would end the walk "unknown", with the expression named: the static view then says
it cannot judge, and never guesses.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

PROTOCOL_NUMBERS = {"icmp": 1, "tcp": 6, "udp": 17, "ipv6-icmp": 58, "icmpv6": 58, "sctp": 132}
_FAMILIES = {"ip": {4}, "ip6": {6}, "inet": {4, 6}}
_NON_VERDICT = {"counter", "log", "comment", "notrack", "mangle", "meta", "ct", "set"}  # statements that do not end a walk
_MAX_DEPTH = 16
_NAT = ("dnat", "snat", "masquerade", "redirect")


@dataclass(frozen=True)
class Packet:
    """The first packet of a connection, as a filter on the receiving host sees it."""

    family: int  # 4 or 6
    saddr: str
    daddr: str
    protocol: str  # tcp, udp, icmp, ipv6-icmp
    dport: int | None = None
    sport: int | None = None
    iifname: str | None = None  # None: not known (but never lo); a rule on another name is then unknown
    oifname: str | None = None  # where a forwarded packet leaves; None: not known (a rule on it is unknown)
    ct_state: str = "new"
    tcp_flags: frozenset[str] = field(default_factory=lambda: frozenset({"syn"}))


@dataclass(frozen=True)
class Verdict:
    verdict: str  # accept, drop, reject, nat (a translation, on a nat hook) or unknown
    where: str  # the rule (or chain policy) that decided, readable
    reason: str = ""  # for unknown: what could not be decided

    @property
    def admits(self) -> bool | None:
        return None if self.verdict == "unknown" else self.verdict == "accept"


class _Unknown(Exception):
    """A match that cannot be decided for this packet."""


@dataclass
class Ruleset:
    chains: dict[tuple[str, str, str], dict[str, Any]]  # (family, table, chain) -> chain
    rules: dict[tuple[str, str, str], list[dict[str, Any]]]
    sets: dict[tuple[str, str, str], dict[str, Any]]

    @classmethod
    def parse(cls, document: dict[str, Any] | list[Any]) -> Ruleset:
        items = document.get("nftables", []) if isinstance(document, dict) else document
        chains, rules, sets = {}, {}, {}
        for item in items:
            for kind, body in item.items():
                if kind in ("chain", "rule", "set", "map"):
                    key = (body["family"], body["table"], body["chain"] if kind == "rule" else body["name"])
                    if kind == "chain":
                        chains[key] = body
                    elif kind == "rule":
                        rules.setdefault(key, []).append(body)
                    else:
                        sets[key] = {**body, "is_map": kind == "map"}
        return cls(chains, rules, sets)

    def base_chains(self, hook: str, family: int) -> list[tuple[str, str, str]]:
        found = [key for key, chain in self.chains.items()
                 if chain.get("hook") == hook and family in _FAMILIES.get(key[0], set())]
        return sorted(found, key=lambda key: self.chains[key].get("prio", 0))


def verdict(document: dict[str, Any] | list[Any] | Ruleset, packet: Packet, hook: str = "input") -> Verdict:
    """What the host's filters on `hook` do with `packet`."""
    ruleset = document if isinstance(document, Ruleset) else Ruleset.parse(document)
    accepted = []
    for key in ruleset.base_chains(hook, packet.family):
        ended = _walk(ruleset, key, packet, 0)
        if ended is None:  # fell off the end: the chain's policy
            policy = ruleset.chains[key].get("policy", "accept")
            ended = Verdict(policy, f"policy {policy} of {_chain_name(key)}")
        if ended.verdict != "accept":
            return ended
        accepted.append(ended.where)
    return Verdict("accept", "; then ".join(accepted) or f"no filter chain on hook {hook} for IPv{packet.family}")


def _chain_name(key: tuple[str, str, str]) -> str:
    return f"table {key[0]} {key[1]} chain {key[2]}"


def _walk(ruleset: Ruleset, key: tuple[str, str, str], packet: Packet, depth: int) -> Verdict | None:
    """A chain's verdict for the packet, or None where it returns (or falls off its end)."""
    if depth > _MAX_DEPTH:
        return Verdict("unknown", _chain_name(key), f"jumps nest deeper than {_MAX_DEPTH}")
    for rule in ruleset.rules.get(key, []):
        where = f"{_chain_name(key)}: {describe(rule['expr'])} (handle {rule.get('handle', '?')})"
        undecided = None
        for expr in rule["expr"]:
            kind = next(iter(expr))
            if kind == "match":
                try:
                    if not _match(ruleset, key, expr["match"], packet):
                        break
                except _Unknown as exc:
                    undecided = undecided or str(exc)
                continue
            if kind in ("limit", "quota"):
                undecided = undecided or f"{kind} (depends on the rate of packets)"
                continue
            if kind in _NON_VERDICT:
                continue
            # A statement that ends or redirects the walk: decided only if every match was.
            if undecided:
                return Verdict("unknown", where, undecided)
            if kind in ("accept", "drop"):
                return Verdict(kind, where)
            if kind == "reject":
                return Verdict("reject", where)
            if kind == "return":
                return None
            if kind in ("jump", "goto"):
                target = (key[0], key[1], expr[kind]["target"])
                inner = _walk(ruleset, target, packet, depth + 1)
                if inner is not None or kind == "goto":
                    return inner
                break  # the jump returned: on with the next rule
            if kind in _NAT:
                # A translation ends a nat chain's walk for this packet: what is asked is which
                # packets are translated, and to where.
                return Verdict("nat", where, f"{kind} {describe_value(expr[kind]) if expr[kind] else ''}".strip())
            if kind == "continue":
                break
            return Verdict("unknown", where, f"statement {kind!r} is not evaluated by siteproof")
    return None


def _match(ruleset: Ruleset, key: tuple[str, str, str], match: dict[str, Any], packet: Packet) -> bool:
    masked = _masked_tcp_flags(match["left"], packet)
    if masked is not None:
        if masked is _ABSENT:
            return False
        equal = masked == _flag_names(match["right"])
        if match["op"] in ("==", "!="):
            return equal if match["op"] == "==" else not equal
        raise _Unknown(f"tcp flags {match['op']}")
    left = _left(match["left"], packet, match["right"])
    if left is _ABSENT:
        return False  # the header is not in this packet (an `ip saddr` rule and an IPv6 packet)
    found = _compare(ruleset, key, left, match["right"], match["op"])
    return found if match["op"] != "!=" else not found


_ABSENT = object()


def _masked_tcp_flags(expr: Any, packet: Packet) -> Any:
    """`tcp flags & (syn | ack)`: the packet's flags within the mask (None: not this form)."""
    if not (isinstance(expr, dict) and isinstance(expr.get("&"), list) and len(expr["&"]) == 2):
        return None
    inner, mask = expr["&"]
    if not (isinstance(inner, dict) and inner.get("payload", {}).get("protocol") == "tcp"
            and inner["payload"].get("field") == "flags"):
        return None
    if packet.protocol != "tcp":
        return _ABSENT
    return packet.tcp_flags & _flag_names(mask)


def _flag_names(value: Any) -> frozenset[str]:
    """Flag names however nft's JSON writes them: "syn", ["syn", "ack"] or {"|": [...]}."""
    if isinstance(value, str):
        return frozenset({value})
    if isinstance(value, list):
        return frozenset(name for v in value for name in _flag_names(v))
    if isinstance(value, dict) and isinstance(value.get("|"), list):
        return _flag_names(value["|"])
    raise _Unknown(describe_value(value))


def _only_loopback(right: Any) -> bool:
    return right == "lo" or (isinstance(right, dict) and right.get("set") == ["lo"])


def _left(expr: Any, packet: Packet, match_right: Any = None) -> Any:
    if isinstance(expr, dict) and "payload" in expr:
        proto, name = expr["payload"].get("protocol"), expr["payload"].get("field")
        if proto in ("ip", "ip6"):
            if packet.family != (4 if proto == "ip" else 6):
                return _ABSENT
            if name in ("saddr", "daddr"):
                return ipaddress.ip_address(getattr(packet, name))
            if name in ("protocol", "nexthdr"):
                return PROTOCOL_NUMBERS.get(packet.protocol, packet.protocol)
        elif proto in ("tcp", "udp", "sctp", "th"):
            if (proto == "th" and packet.protocol not in ("tcp", "udp", "sctp")) or (proto != "th" and packet.protocol != proto):
                return _ABSENT
            if name in ("dport", "sport"):
                value = getattr(packet, name)
                if value is None:
                    raise _Unknown(f"{proto} {name}: the probe names no port")
                return value
            if name == "flags" and proto == "tcp":
                return packet.tcp_flags
        elif proto in ("icmp", "icmpv6") and packet.protocol != ("icmp" if proto == "icmp" else "ipv6-icmp"):
            return _ABSENT
        raise _Unknown(f"{proto} {name}")
    if isinstance(expr, dict) and "meta" in expr:
        name = expr["meta"]["key"]
        if name == "l4proto":
            return PROTOCOL_NUMBERS.get(packet.protocol, packet.protocol)
        if name == "nfproto":
            return "ipv4" if packet.family == 4 else "ipv6"
        if name == "protocol":
            return "ip" if packet.family == 4 else "ip6"
        if name in ("iifname", "iif"):
            if packet.iifname is None and _only_loopback(match_right):
                return "(another host)"  # a packet from another host never arrives on lo
            if packet.iifname is None:
                raise _Unknown(f"meta {name}: the interface the packet arrives on is not known")
            return packet.iifname
        if name in ("oifname", "oif"):
            if packet.oifname is None:
                raise _Unknown(f"meta {name}: the interface the packet leaves by is not known")
            return packet.oifname
        raise _Unknown(f"meta {name}")
    if isinstance(expr, dict) and "ct" in expr and expr["ct"].get("key") == "state":
        return frozenset({packet.ct_state})
    raise _Unknown(describe_value(expr))


def _compare(ruleset: Ruleset, key: tuple[str, str, str], left: Any, right: Any, op: str) -> bool:
    if isinstance(right, str) and right.startswith("@"):
        named = ruleset.sets.get((key[0], key[1], right[1:]))
        if named is None or named["is_map"]:
            raise _Unknown(f"set {right} (not found, or a map)")
        return any(_element(left, e) for e in named.get("elem", []))
    if isinstance(right, dict) and "set" in right:
        return any(_element(left, e) for e in right["set"])
    if isinstance(right, list):  # flags written as a list: ct state established,related
        return any(_element(left, e) for e in right)
    return _element(left, right)


def _element(left: Any, right: Any) -> bool:
    if isinstance(left, frozenset):  # flags (ct state, tcp flags): any of the right's
        wanted = {right} if isinstance(right, str) else set(right) if isinstance(right, list) else None
        if wanted is None:
            raise _Unknown(describe_value(right))
        return bool(left & wanted)
    if isinstance(right, dict) and "prefix" in right:
        if not isinstance(left, ipaddress.IPv4Address | ipaddress.IPv6Address):
            raise _Unknown(describe_value(right))
        network = ipaddress.ip_network(f"{right['prefix']['addr']}/{right['prefix']['len']}", strict=False)
        return left.version == network.version and left in network
    if isinstance(right, dict) and "range" in right:
        lo, hi = (_scalar(left, v) for v in right["range"])
        return lo <= left <= hi
    if isinstance(right, dict):
        raise _Unknown(describe_value(right))
    if isinstance(left, str):  # an interface name: nft's trailing * is a prefix match
        return fnmatch.fnmatchcase(left, str(right)) if str(right).endswith("*") else left == str(right)
    return left == _scalar(left, right)


def _scalar(left: Any, value: Any) -> Any:
    """The right side in the left's type: an address, a protocol number, a port."""
    if isinstance(left, ipaddress.IPv4Address | ipaddress.IPv6Address):
        address = ipaddress.ip_address(value)
        if address.version != left.version:
            raise _Unknown(f"{value} against an IPv{left.version} address")
        return address
    if isinstance(left, int) and isinstance(value, str):
        if value in PROTOCOL_NUMBERS:
            return PROTOCOL_NUMBERS[value]
        try:
            return socket.getservbyname(value)
        except OSError:
            raise _Unknown(f"{value!r} (not a port or protocol siteproof knows)") from None
    return value


def describe_value(value: Any) -> str:
    if isinstance(value, dict):
        kind, body = next(iter(value.items()))
        if kind == "payload":
            return f"{body.get('protocol')} {body.get('field')}"
        if kind in ("meta", "ct"):
            return f"{kind} {body.get('key')}"
        if kind == "prefix":
            return f"{body['addr']}/{body['len']}"
        if kind == "range":
            return f"{body[0]}-{body[1]}"
        if kind == "set":
            return "{ " + ", ".join(describe_value(v) for v in body) + " }"
        if kind in ("addr", "port"):  # a nat statement's target: {"addr": ..., "port": ...}
            return f"to {value.get('addr', '')}{':' if 'port' in value else ''}{value.get('port', '')}"
        return kind
    if isinstance(value, list):
        return ",".join(describe_value(v) for v in value)
    return str(value)


def describe(exprs: Iterable[dict[str, Any]]) -> str:
    """A rule as an operator would write it (near enough to find it in `nft list ruleset`)."""
    words = []
    for expr in exprs:
        kind, body = next(iter(expr.items()))
        if kind == "match":
            op = "" if body["op"] in ("==", "in") else f"{body['op']} "
            words.append(f"{describe_value(body['left'])} {op}{describe_value(body['right'])}")
        elif kind in ("jump", "goto"):
            words.append(f"{kind} {body['target']}")
        elif kind != "counter":
            words.append(kind)
    return " ".join(words)


def boundary_values(ruleset: Ruleset, field_names: set[str]) -> set[Any]:
    """Every value the ruleset compares one field with, and the values just outside each
    (a range's ends and their neighbours, a prefix's first and last address and the addresses
    around it). Between two of these, every value meets the same rules: judging these judges
    the whole space of that field (ports: 'tcp dport'; addresses: 'ip saddr')."""
    found: set[Any] = set()

    def add(value: Any) -> None:
        if isinstance(value, bool):
            return
        if isinstance(value, int):
            found.update(v for v in (value - 1, value, value + 1) if 0 <= v <= 65535)
        elif isinstance(value, str) and not value.startswith("@"):
            try:
                address = ipaddress.ip_address(value)
            except ValueError:
                return
            found.update(_around(address, address))
        elif isinstance(value, dict) and "prefix" in value:
            network = ipaddress.ip_network(f"{value['prefix']['addr']}/{value['prefix']['len']}", strict=False)
            found.update(_around(network.network_address, network.broadcast_address))
        elif isinstance(value, dict) and "range" in value:
            lo, hi = value["range"]
            if isinstance(lo, int):
                add(lo)
                add(hi)
            else:
                found.update(_around(ipaddress.ip_address(lo), ipaddress.ip_address(hi)))
        elif isinstance(value, dict) and "set" in value:
            for element in value["set"]:
                add(element)
        elif isinstance(value, list):
            for element in value:
                add(element)

    for rules in ruleset.rules.values():
        for rule in rules:
            for expr in rule["expr"]:
                match = expr.get("match")
                if match and describe_value(match["left"]) in field_names:
                    right = match["right"]
                    if isinstance(right, str) and right.startswith("@"):
                        named = next((v for k, v in ruleset.sets.items() if k[2] == right[1:]), None)
                        right = {"set": named.get("elem", [])} if named else None
                    add(right)
    return found


def _around(first: Any, last: Any) -> list[Any]:
    """first and last, and the addresses just outside them (where they exist)."""
    out = [first, last]
    with_neighbours = [(first, -1), (last, 1)]
    for address, step in with_neighbours:
        try:
            out.append(address + step)
        except ipaddress.AddressValueError:
            pass
    return [str(a) for a in out]
