"""A TCP SYN sweep from one node (scapy builds the segments; a packet socket in the node
sees the answers): which ports of which targets answer with SYN-ACK (open), with RST
(closed), or not at all (filtered). A port that gave no answer is probed again (`rounds`
in all, as nmap retransmits): a probe or its answer lost in a burst is not a filtered port.
Needs a backend with sockets in nodes.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from siteproof.probes.arp import PACKET_OUTGOING, listener

SWEEP_SPORT = 31338  # the sweep's source port: how its answers are told from other traffic


@dataclass
class Swept:
    open: dict[str, set[int]] = field(default_factory=dict)
    closed: dict[str, set[int]] = field(default_factory=dict)
    sent: int = 0


def sweep(call_in: Callable[[str, Callable[[], Any]], Any], node: str, ifname: str, source: str,
          targets: list[str], ports: list[int], quiet: float, rounds: int = 2) -> Swept:
    from scapy.layers.inet import IP, TCP

    found = Swept({t: set() for t in targets}, {t: set() for t in targets})
    pending = [(t, p) for t in targets for p in ports]
    tap = call_in(node, listener(ifname))
    try:
        for _ in range(rounds):
            segments = [(t, bytes(IP(src=source, dst=t) / TCP(sport=SWEEP_SPORT, dport=p, flags="S", seq=1000 + p)))
                        for t, p in pending]
            found.sent += len(segments)

            def send(segments: list[tuple[str, bytes]] = segments) -> None:
                with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as sock:
                    for target, raw in segments:
                        sock.sendto(raw, (target, 0))
                        _drain(tap, found)
            call_in(node, send)
            deadline = time.monotonic() + quiet
            while time.monotonic() < deadline:
                _drain(tap, found)
                time.sleep(0.02)
            _drain(tap, found)
            pending = [(t, p) for t, p in pending if p not in found.open[t] and p not in found.closed[t]]
            if not pending:
                break
    finally:
        tap.close()
    return found


def _drain(tap: socket.socket, found: Swept) -> None:
    while True:
        try:
            data, address = tap.recvfrom(65535)
        except BlockingIOError:
            return
        if address[2] == PACKET_OUTGOING or data[12:14] != b"\x08\x00" or data[23] != 6:
            continue
        header = (data[14] & 0x0F) * 4
        tcp = data[14 + header:]
        src = socket.inet_ntoa(data[26:30])
        if len(tcp) < 14 or int.from_bytes(tcp[2:4], "big") != SWEEP_SPORT or src not in found.open:
            continue
        port, flags = int.from_bytes(tcp[0:2], "big"), tcp[13]
        if flags & 0x12 == 0x12:
            found.open[src].add(port)
        elif flags & 0x04:
            found.closed[src].add(port)
