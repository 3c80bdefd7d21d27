"""Packet captures on nodes: tcpdump on the node writes a pcap to its stdout, kept here; scapy reads it.

One capture class for every use (RSTs of SSH sessions, the announcements of a VRRP takeover);
readers parse the pcap with scapy, never tcpdump's text. A tcpdump that dies on its own is
an error, not an empty capture.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siteproof.backends.background import Background
from siteproof.backends.base import Backend, require_program
from siteproof.probes.ssh import SSH_PORT
from siteproof.wait import wait_until

Segment = tuple[str, int, str, int]  # (source, source port, destination, destination port)
# BPF reads TCP flags of IPv4 only: IPv6 segments are all kept, scapy sorts them.
RST_FILTER = f"tcp port {SSH_PORT} and (ip6 or tcp[tcpflags] & tcp-rst != 0)"
# Gratuitous ARP and unsolicited neighbour advertisements (ICMPv6 type 136).
ANNOUNCE_FILTER = "arp or (icmp6 and ip6[40] == 136)"


def packets(path: Path) -> Iterator[Any]:
    """The packets of a pcap (a capture still being written may end in half a record: what is
    complete is read)."""
    from scapy.utils import PcapReader

    if not path.exists() or path.stat().st_size == 0:
        return
    with PcapReader(str(path)) as reader:
        while True:
            try:
                packet = reader.read_packet()
            except EOFError:
                return
            except Exception:  # noqa: BLE001 - a truncated last record while tcpdump writes
                return
            if packet is None:
                return
            yield packet


def tcp_resets(path: Path) -> list[Segment]:
    """Every TCP RST in a pcap, IPv4 and IPv6."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.inet6 import IPv6

    found: list[Segment] = []
    for packet in packets(path):
        if TCP not in packet or not packet[TCP].flags & 0x04:
            continue
        for layer in (IP, IPv6):
            if layer in packet:
                ip = packet[layer]
                found.append((str(ip.src), int(packet[TCP].sport), str(ip.dst), int(packet[TCP].dport)))
                break
    return found


@dataclass(frozen=True)
class Announcement:
    address: str  # the IPv4 or IPv6 address announced
    mac: str  # the link-layer address it is announced at
    kind: str  # "gratuitous ARP" or "unsolicited NA"
    time: float


def announcements(path: Path) -> list[Announcement]:
    """Gratuitous ARPs (sender address = target address) and unsolicited neighbour
    advertisements (solicited flag clear) in a pcap: how a new VRRP master claims a VIP."""
    from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr
    from scapy.layers.l2 import ARP, Ether

    found = []
    for packet in packets(path):
        if ARP in packet and packet[ARP].psrc == packet[ARP].pdst:
            found.append(Announcement(str(packet[ARP].psrc), str(packet[ARP].hwsrc).lower(), "gratuitous ARP", float(packet.time)))
        elif ICMPv6ND_NA in packet and not packet[ICMPv6ND_NA].S:
            mac = packet[ICMPv6NDOptDstLLAddr].lladdr if ICMPv6NDOptDstLLAddr in packet else packet[Ether].src
            found.append(Announcement(str(packet[ICMPv6ND_NA].tgt), str(mac).lower(), "unsolicited NA", float(packet.time)))
    return found


CAPTURE_TTL_S = 900.0  # a capture left by a runner that died ends on its host after this


@dataclass
class Capture:
    """tcpdump on one interface of a node, its pcap written here (`-w -` over the backend);
    use as a context manager. At a site it runs on the host over SSH."""

    backend: Backend
    node: str
    path: Path
    bpf: str
    ifname: str = "eth1"
    ttl: float = CAPTURE_TTL_S
    proc: Background | None = None
    direction: str | None = None  # "in" or "out": only frames the node receives, or sends (tcpdump -Q)

    def __enter__(self) -> Capture:
        require_program(self.backend, self.node, "tcpdump", "tcpdump")
        only = ["-Q", self.direction] if self.direction else []
        self.proc = self.backend.start(self.node, ["tcpdump", "-i", self.ifname, *only, "-nn", "--immediate-mode", "-U", "-w", "-", self.bpf],
                                       self.path, self.path.with_suffix(".stderr"), self.ttl)
        proc = self.proc
        wait_until(lambda: "listening on" in proc.errors() or not proc.running(), "daemon_ready", expected="tcpdump listening")
        if not proc.running():
            raise RuntimeError(f"tcpdump on {self.node} exited: {proc.errors().strip()[-300:]}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _died(self) -> str | None:
        if self.proc is not None and self.proc.returncode() not in (None, 0):
            return f"tcpdump on {self.node} died (exit {self.proc.returncode()}): {self.proc.errors().strip()[-300:]}"
        return None

    def stop(self) -> None:
        """Stop tcpdump; a capture that died on its own is an error, not an empty capture."""
        if self.proc is None:
            return
        if not self.proc.running():
            died = self._died()
            if died:
                raise RuntimeError(died)
            return
        self.proc.stop()

    def checked_path(self) -> Path:
        died = self._died()
        if died:
            raise RuntimeError(f"{died}: the capture is incomplete")
        return self.path


class RstCapture(Capture):
    """Every TCP RST to or from the SSH port at a client node."""

    def __init__(self, backend: Backend, node: str, path: Path) -> None:
        super().__init__(backend, node, path, RST_FILTER)

    def resets(self) -> list[Segment]:
        return tcp_resets(self.checked_path())

    def resets_of(self, source: tuple[str, int], vip: str, port: int = SSH_PORT) -> int:
        """RSTs of exactly one connection: its full 4-tuple, either direction. A probe that once
        used the same source address and port towards another address is not counted."""
        mine = {(source[0], source[1], vip, port), (vip, port, source[0], source[1])}
        return sum(1 for segment in self.resets() if segment in mine)


class AnnouncementCapture(Capture):
    """Gratuitous ARPs and unsolicited NAs seen on a segment (a VRRP takeover's claims)."""

    def __init__(self, backend: Backend, node: str, path: Path, ifname: str = "eth1") -> None:
        super().__init__(backend, node, path, ANNOUNCE_FILTER, ifname)

    def announcements(self) -> list[Announcement]:
        return announcements(self.checked_path())
