"""Who reaches whom at layer 2: raw frames and ARP between member ports, built with scapy,
sent and captured on packet sockets inside each member's namespace (a backend with sockets
in nodes).

Every member sends one broadcast and one unicast frame to each other member (a local
experimental EtherType carrying the sender's name) and asks ARP for each other member's
address; what each member's own socket received says who reached it. IP plays no part in
the frames, so a partition boundary is tested as such, not through routing.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from siteproof.probes.arp import ETH_P_ALL, PACKET_OUTGOING, listener

ETH_P_PROBE = 0x88B5  # IEEE 802 local experimental EtherType 1
TOKEN = b"siteproof-l2 "

CallIn = Callable[[str, Callable[[], Any]], Any]


@dataclass(frozen=True)
class Member:
    name: str  # who (a node, or "node port")
    node: str  # the namespace it lives in
    ifname: str
    address: str  # its IPv4 address, for ARP (may be empty: then raw frames only)


@dataclass
class Reach:
    frames: set[tuple[str, str]] = field(default_factory=set)  # (sender, receiver): a probe frame arrived
    arp: set[tuple[str, str]] = field(default_factory=set)  # (asker, target): the target's ARP reply arrived
    macs: dict[str, str] = field(default_factory=dict)
    absent: dict[str, str] = field(default_factory=dict)  # member -> why it could not take part (no such port)

    def reached(self, a: str, b: str) -> list[str]:
        """How a reached b at layer 2 (empty: it did not)."""
        return [how for how, pairs in (("raw frames", self.frames), ("ARP answered", self.arp)) if (a, b) in pairs]


def _mac(node_call: CallIn, m: Member) -> str:
    def read() -> str:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)) as sock:
            sock.bind((m.ifname, ETH_P_ALL))
            return ":".join(f"{b:02x}" for b in sock.getsockname()[4])
    return node_call(m.node, read)


def probe(call_in: CallIn, members: list[Member], quiet: float) -> Reach:
    """Send every probe from every member; collect what each received until `quiet` s after the last."""
    from scapy.layers.l2 import ARP, Ether

    found = Reach()
    for m in members:
        try:
            found.macs[m.name] = _mac(call_in, m)
        except OSError as exc:  # its port is missing: it takes no part, and says why
            found.absent[m.name] = f"{m.node} has no {m.ifname} ({exc.strerror})"
    members = [m for m in members if m.name in found.macs]
    by_mac = {mac: name for name, mac in found.macs.items()}
    by_address = {m.address: m.name for m in members if m.address}
    sockets = {m.name: call_in(m.node, listener(m.ifname)) for m in members}
    try:
        for m in members:
            own = found.macs[m.name]
            frames = [Ether(src=own, dst="ff:ff:ff:ff:ff:ff", type=ETH_P_PROBE) / (TOKEN + m.name.encode())]
            for other in members:
                if other is m:
                    continue
                frames.append(Ether(src=own, dst=found.macs[other.name], type=ETH_P_PROBE) / (TOKEN + m.name.encode()))
                if other.address and m.address:
                    frames.append(Ether(src=own, dst="ff:ff:ff:ff:ff:ff") /
                                  ARP(op=1, hwsrc=own, psrc=m.address, pdst=other.address))
            raw = [bytes(f) for f in frames]

            def send(ifname: str = m.ifname, raw: list[bytes] = raw) -> None:
                with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
                    sock.bind((ifname, 0))
                    for frame in raw:
                        sock.send(frame)
            call_in(m.node, send)
        deadline = time.monotonic() + quiet
        while time.monotonic() < deadline:
            for name, sock in sockets.items():
                _drain(sock, name, found, by_mac, by_address)
            time.sleep(0.02)
        for name, sock in sockets.items():
            _drain(sock, name, found, by_mac, by_address)
    finally:
        for sock in sockets.values():
            sock.close()
    return found


def _drain(sock: socket.socket, receiver: str, found: Reach, by_mac: dict[str, str], by_address: dict[str, str]) -> None:
    from scapy.layers.l2 import ARP, Ether

    while True:
        try:
            data, address = sock.recvfrom(65535)
        except BlockingIOError:
            return
        if address[2] == PACKET_OUTGOING:
            continue
        if data[12:14] == ETH_P_PROBE.to_bytes(2, "big") and data[14:14 + len(TOKEN)] == TOKEN:
            sender = data[14 + len(TOKEN):].split(b"\0", 1)[0].decode(errors="replace")
            if sender != receiver:
                found.frames.add((sender, receiver))
        elif data[12:14] == b"\x08\x06":
            arp = Ether(data)[ARP]
            if arp.op == 2 and arp.psrc in by_address and by_mac.get(data[0:6].hex(":")) == receiver:
                found.arp.add((receiver, by_address[arp.psrc]))
