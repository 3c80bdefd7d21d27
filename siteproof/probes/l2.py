"""Who reaches whom at layer 2: raw frames and ARP between member ports, built with scapy on
the runner, sent and tapped on each member's port through the backend (packet sockets in a lab
node's namespace; a shipped sender and tcpdump on a site host: siteproof.probes.frames).

Every member sends one broadcast and one unicast frame to each other member (a local
experimental EtherType carrying the sender's name) and asks ARP for each other member's
address; what each member's own socket received says who reached it. IP plays no part in
the frames, so a partition boundary is tested as such, not through routing.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from siteproof.backends.base import Backend
from siteproof.probes.frames import frame_tap, quiet_frames_of, send_frames

ETH_P_PROBE = 0x88B5  # IEEE 802 local experimental EtherType 1
TOKEN = b"siteproof-l2 "
TAP_FILTER = f"ether proto {ETH_P_PROBE:#x} or arp"
ARPHRD_ETHER = "1"  # /sys/class/net/IF/type of an Ethernet port (IPoIB is 32: no Ethernet frames)


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


def _mac(backend: Backend, m: Member) -> str:
    """The port's MAC; OSError (its reason) when the port is missing or not Ethernet."""
    found = backend.run(m.node, "cat", f"/sys/class/net/{m.ifname}/type", f"/sys/class/net/{m.ifname}/address",
                        check=False)
    words = found.stdout.split()
    if found.returncode != 0 or len(words) != 2:
        raise OSError(f"{m.node} has no {m.ifname}")
    if words[0] != ARPHRD_ETHER:
        raise OSError(f"{m.node} {m.ifname} is not an Ethernet port (link type {words[0]}): no Ethernet frames to send")
    return words[1].lower()


def probe(backend: Backend, members: list[Member], quiet: float, scratch: Path) -> Reach:
    """Send every probe from every member; collect what each received until `quiet` s after the last."""
    from scapy.layers.l2 import ARP, Ether

    found = Reach()
    for m in members:
        try:
            found.macs[m.name] = _mac(backend, m)
        except OSError as exc:  # its port is missing: it takes no part, and says why
            found.absent[m.name] = str(exc)
    members = [m for m in members if m.name in found.macs]
    by_mac = {mac: name for name, mac in found.macs.items()}
    by_address = {m.address: m.name for m in members if m.address}
    with contextlib.ExitStack() as stack:
        taps = {m.name: stack.enter_context(frame_tap(backend, m.node, m.ifname, TAP_FILTER, scratch)) for m in members}
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
            send_frames(backend, m.node, m.ifname, [bytes(f) for f in frames])
        # Proving an absence takes a wait: the frames' flight time, a named budget.
        for name, seen in quiet_frames_of(taps, quiet).items():
            for data in seen:
                _judge(data, name, found, by_mac, by_address)
    return found


def _judge(data: bytes, receiver: str, found: Reach, by_mac: dict[str, str], by_address: dict[str, str]) -> None:
    """One frame seen on the receiver's port: a probe frame or an ARP reply from another member."""
    from scapy.layers.l2 import ARP, Ether

    if len(data) < 14 or by_mac.get(data[6:12].hex(":")) == receiver:
        return  # what the receiver itself sent (a tap sees both directions)
    if data[12:14] == ETH_P_PROBE.to_bytes(2, "big") and data[14:14 + len(TOKEN)] == TOKEN:
        sender = data[14 + len(TOKEN):].split(b"\0", 1)[0].decode(errors="replace")
        if sender != receiver:
            found.frames.add((sender, receiver))
    elif data[12:14] == b"\x08\x06":
        arp = Ether(data)[ARP]
        if arp.op == 2 and arp.psrc in by_address and by_mac.get(data[0:6].hex(":")) == receiver:
            found.arp.add((receiver, by_address[arp.psrc]))
