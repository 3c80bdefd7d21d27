"""Reading a NAT gateway's connection tracking table as conntrack-tools write it in XML
(`conntrack -L -n -o xml`; conntrackd's caches with `-x`): which compute each translated
connection is from, and which pool address and port it took.

Each <flow> has the original tuple and the reply tuple (<meta direction="original|reply">, each
with <layer3> src/dst and <layer4> sport/dport) and <meta direction="independent"> with the
state. With source NAT the reply's destination is the pool address and port. The XML comes from
a site host: defusedxml parses it (no entities, no external references), and anything malformed
is one ValueError naming what was read.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET


@dataclass(frozen=True)
class Flow:
    proto: str
    src: str  # the original tuple
    dst: str
    sport: int  # 0 where the protocol has no ports (ICMP)
    dport: int
    reply_src: str  # the reply tuple
    reply_dst: str
    reply_dport: int
    state: str  # TCP's state; "" for the others

    @property
    def translated(self) -> bool:
        """Source-NAT: the reply goes back to an address that is not the original source."""
        return bool(self.reply_dst) and self.reply_dst != self.src


@dataclass(frozen=True)
class Entry:
    proto: str
    compute: str  # the original source address
    pool: str  # the reply's destination: the pool address it was translated to
    port: int  # and the pool port


def flows(text: str) -> list[Flow]:
    """Every flow of a listing: a whole document (`conntrack -o xml`) or the bare <flow>
    elements conntrackd prints with -x. An empty listing is no flow."""
    body = text.strip()
    if not body:
        return []
    if not body.startswith("<?xml"):
        body = f"<conntrack>{body}</conntrack>"
    try:
        root = SafeET.fromstring(body)
    except (ET.ParseError, DefusedXmlException) as exc:
        raise ValueError(f"conntrack XML unreadable ({exc}): {body[:120]!r}") from None
    return [_flow(element) for element in root.iter("flow")]


def _flow(element: ET.Element) -> Flow:
    tuples: dict[str, tuple[str, str, str, int, int]] = {}
    state = ""
    for meta in element.findall("meta"):
        direction = meta.get("direction", "")
        if direction == "independent":
            state = meta.findtext("state", "")
            continue
        layer4 = meta.find("layer4")
        tuples[direction] = (layer4.get("protoname", "") if layer4 is not None else "", meta.findtext("layer3/src", ""),
                             meta.findtext("layer3/dst", ""), _port(meta, "sport"), _port(meta, "dport"))
    proto, src, dst, sport, dport = tuples.get("original", ("", "", "", 0, 0))
    _, reply_src, reply_dst, _, reply_dport = tuples.get("reply", ("", "", "", 0, 0))
    return Flow(proto, src, dst, sport, dport, reply_src, reply_dst, reply_dport, state)


def _port(meta: ET.Element, name: str) -> int:
    text = meta.findtext(f"layer4/{name}", "")
    return int(text) if text.isdigit() else 0


def parse(text: str) -> list[Entry]:
    """Translated (source-NAT) TCP, UDP and ICMP flows, each as its compute, pool address and port."""
    return [Entry(f.proto, f.src, f.reply_dst, f.reply_dport) for f in flows(text)
            if f.translated and f.proto in ("tcp", "udp", "icmp")]


def parse_lines(lines: Iterable[str]) -> list[Entry]:
    """The same entries from conntrack's default text listing (`conntrack -L -n`), for the lab's
    own tracker daemon, whose rounds must not change with this module's probes (the probes read
    XML): translated entries only; anything else, and lines of other output, skipped."""
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


def original_sources(text: str) -> set[tuple[str, str]]:
    """(protocol, original source address) of every flow, translated or not: what conntrackd's
    external cache (`conntrackd -e -x`) holds."""
    return {(f.proto, f.src) for f in flows(text) if f.proto in ("tcp", "udp", "icmp") and f.src}


def slots(entries: Iterable[Entry]) -> Counter[tuple[str, str]]:
    """Entries per (pool address, protocol): each has its own port space."""
    return Counter((e.pool, e.proto) for e in entries)


def per_compute(entries: Iterable[Entry]) -> dict[str, int]:
    return dict(Counter(e.compute for e in entries))
