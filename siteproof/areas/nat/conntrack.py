"""Reading a NAT gateway's connection tracking table (`conntrack -L -n`, conntrack-tools):
which compute each translated connection is from, and which pool address and port it took.

A line is the original tuple then the reply tuple:
  tcp 6 431999 ESTABLISHED src=10.128.0.101 dst=203.0.113.200 sport=40000 dport=7
      src=203.0.113.200 dst=203.0.113.11 sport=7 dport=20001 [ASSURED] mark=0 use=1
With source NAT the reply's destination is the pool address and port.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    proto: str
    compute: str  # the original source address
    pool: str  # the reply's destination: the pool address it was translated to
    port: int  # and the pool port


def parse(lines: Iterable[str]) -> list[Entry]:
    """Translated (source-NAT) entries only; anything else, and lines of other output, skipped."""
    found = []
    for line in lines:
        words = line.split()
        if not words or words[0] not in ("tcp", "udp", "icmp"):
            continue
        fields: dict[str, list[str]] = {}
        for word in words:
            key, sep, value = word.partition("=")
            if sep:
                fields.setdefault(key, []).append(value)
        src, dst, dport = fields.get("src", []), fields.get("dst", []), fields.get("dport", [])
        if len(src) < 2 or len(dst) < 2 or dst[1] == src[0]:
            continue  # not translated
        port = int(dport[1]) if len(dport) > 1 and dport[1].isdigit() else 0
        found.append(Entry(words[0], src[0], dst[1], port))
    return found


def original_sources(lines: Iterable[str]) -> set[tuple[str, str]]:
    """(protocol, original source address) of every entry, translated or not: what conntrackd's
    external cache (`conntrackd -e`) lists, the original tuple alone."""
    found = set()
    for line in lines:
        words = line.split()
        src = next((w[4:] for w in words if w.startswith("src=")), None)
        if words and words[0] in ("tcp", "udp", "icmp") and src:
            found.add((words[0], src))
    return found


def slots(entries: Iterable[Entry]) -> Counter[tuple[str, str]]:
    """Entries per (pool address, protocol): each has its own port space."""
    return Counter((e.pool, e.proto) for e in entries)


def per_compute(entries: Iterable[Entry]) -> dict[str, int]:
    return dict(Counter(e.compute for e in entries))
