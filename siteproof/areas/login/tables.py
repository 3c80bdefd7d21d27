"""The login hashing tables: which server each hash bucket goes to, given server health.

It mirrors IPVS's source-hashing scheduler (`sh` with `sh-port`): 256 buckets filled
round-robin from the real servers in one fixed order, so every node computes the same
table. A connection's bucket is jhash(client address . client port) on every node.

Per bucket there is a primary (never changes) and a fallback (the first available server
in a per-bucket order). What a bucket steers to:
- a new connection (SYN without ACK): the primary, unless it is draining or down;
- any other packet: the primary, unless it is down.
A primary that receives a non-SYN packet of a connection it does not have passes it on
to the bucket's fallback (a second chance, as in Beamer's daisy chaining), so sessions
opened on the fallback while the primary was drained or away survive its return.

Pure functions only: the agent applies them, the tests read them back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

BUCKETS = 256
HASHED = 0x1000  # mark bit set by the hashing rule: a mark of 0 was never hashed
NEW = 0x100  # mark bit: the connection's first packet (SYN without ACK)

UP, DRAIN, DOWN = "up", "drain", "down"


@dataclass(frozen=True)
class Plan:
    """Everything the tables hold: mark -> server address."""

    steer: dict[int, str]  # HASHED|b (established) and HASHED|NEW|b (new connections)
    fallback: dict[int, str]  # HASHED|b -> where the bucket's primary passes strays

    def local_marks(self, address: str) -> list[int]:
        return sorted(m for m, a in self.steer.items() if a == address)


def primary(servers: list[str], bucket: int) -> str:
    return servers[bucket % len(servers)]


def fallback_order(servers: list[str], bucket: int) -> list[str]:
    """The other servers, rotated per bucket so one server's buckets spread over many."""
    n = len(servers)
    p = bucket % n
    others = servers[p + 1 :] + servers[:p]
    if not others:
        return []
    start = (bucket // n) % len(others)
    return others[start:] + others[:start]


def primary_marks(servers: list[str], address: str, buckets: int = BUCKETS) -> list[int]:
    """The established-packet marks of the buckets whose primary is this server."""
    return [HASHED | b for b in range(buckets) if primary(servers, b) == address]


def plan(servers: list[str], states: dict[str, str], mode: str = "weight0", buckets: int = BUCKETS) -> Plan:
    """The tables for these server states ("up", "drain" or "down"; missing means up).

    mode "weight0" is the reference (IPVS weight 0). mode "delete" is the known-bad way to
    drain: the server is deleted from the list, and IPVS refills every bucket round-robin
    over the remaining servers, so most buckets change server.
    """
    if mode == "delete":
        remaining = [s for s in servers if states.get(s, UP) == UP] or servers
        table = {b: remaining[b % len(remaining)] for b in range(buckets)}
        steer = {HASHED | b: table[b] for b in range(buckets)} | {HASHED | NEW | b: table[b] for b in range(buckets)}
        return Plan(steer, {})

    def first(candidates: list[str], usable: set[str]) -> str | None:
        return next((s for s in candidates if s in usable), None)

    live = {s for s in servers if states.get(s, UP) != DOWN}
    accepting = {s for s in servers if states.get(s, UP) == UP}
    steer: dict[int, str] = {}
    fallback: dict[int, str] = {}
    for b in range(buckets):
        p = primary(servers, b)
        order = fallback_order(servers, b)
        alt = first(order, accepting) or first(order, live) or p
        fallback[HASHED | b] = alt
        steer[HASHED | b] = p if p in live else alt
        steer[HASHED | NEW | b] = p if p in accepting else alt
    return Plan(steer, fallback)


def nft_elements(mapping: dict[int, str]) -> str:
    return ", ".join(f"{mark:#x} : {addr}" for mark, addr in sorted(mapping.items()))


def ruleset(*, ifname: str, vip_range: str, port: int, seed: int, address: str, servers: list[str], buckets: int = BUCKETS) -> str:
    """The node's two tables, without their dynamic contents (the agent fills those).

    netdev ingress (before the IP stack, like IPVS-DR): hash, then deliver here or `fwd`
    to the chosen server's own address with the VIP untouched. ip prerouting: the second
    chance for strays at a bucket's primary.
    """
    primaries = ", ".join(f"{m:#x}" for m in primary_marks(servers, address, buckets)) or ""
    here = f"elements = {{ {primaries} }}" if primaries else ""
    return f"""\
table netdev login_lb {{
    set vips {{ type ipv4_addr; flags interval; elements = {{ {vip_range} }} }}
    set peers {{ type ether_addr; }}
    set local {{ type mark; }}
    map steer {{ type mark : ipv4_addr; }}
    chain ingress {{
        type filter hook ingress device "{ifname}" priority 0; policy accept;
        ip daddr != @vips accept
        tcp dport != {port} accept
        meta mark set jhash ip saddr . tcp sport mod {buckets} seed {seed:#x} offset {HASHED:#x}
        tcp flags & (syn | ack) == syn meta mark set meta mark | {NEW:#x}
        ether saddr @peers accept comment "steered here by a peer: served on this node"
        meta mark @local accept
        fwd ip to meta mark map @steer device "{ifname}"
    }}
}}
table ip login_dr {{
    set primary_here {{ type mark; {here} }}
    map fallback {{ type mark : ipv4_addr; }}
    chain prerouting {{
        type filter hook prerouting priority -150; policy accept;
        meta mark @primary_here socket wildcard 1 dup to meta mark map @fallback device "{ifname}" drop \
            comment "only the listener knows it: second chance at the fallback"
    }}
}}
"""


def update(plan_: Plan, address: str, peers: list[str]) -> str:
    """One atomic nft transaction that replaces the dynamic contents."""
    lines = [
        "flush map netdev login_lb steer",
        f"add element netdev login_lb steer {{ {nft_elements(plan_.steer)} }}",
        "flush set netdev login_lb local",
        "flush map ip login_dr fallback",
        "flush set netdev login_lb peers",
    ]
    local = plan_.local_marks(address)
    if local:
        lines.append(f"add element netdev login_lb local {{ {', '.join(f'{m:#x}' for m in local)} }}")
    if plan_.fallback:
        lines.append(f"add element ip login_dr fallback {{ {nft_elements(plan_.fallback)} }}")
    if peers:
        lines.append(f"add element netdev login_lb peers {{ {', '.join(sorted(peers))} }}")
    return "\n".join(lines) + "\n"


def digest(plan_: Plan) -> str:
    """A short fingerprint of the tables: equal on two nodes means equal tables."""
    text = nft_elements(plan_.steer) + "|" + nft_elements(plan_.fallback)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
