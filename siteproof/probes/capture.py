"""Packet captures in lab nodes: tcpdump writes a pcap in the lab's directory; scapy reads it.

One capture class for every use (RSTs of SSH sessions, the announcements of a VRRP takeover);
readers parse the pcap with scapy, never tcpdump's text. A tcpdump that dies on its own is
an error, not an empty capture.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siteproof.backends.netns.lab import Lab
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


@dataclass
class Capture:
    """tcpdump on one interface of a lab node, writing a pcap; use as a context manager."""

    lab: Lab
    node: str
    path: Path
    bpf: str
    ifname: str = "eth1"
    proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Capture:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        err = self.path.with_suffix(".stderr")
        with open(err, "wb") as fh:
            self.proc = self.lab.spawn(self.node, ["tcpdump", "-i", self.ifname, "-nn", "-U", "-w", str(self.path), self.bpf],
                                       cwd=self.path.parent, stdout=subprocess.DEVNULL, stderr=fh)
        wait_until(lambda: "listening on" in err.read_text(errors="replace") or self.proc.poll() is not None,  # type: ignore[union-attr]
                   "daemon_ready", expected="tcpdump listening")
        if self.proc.poll() is not None:
            raise RuntimeError(f"tcpdump on {self.node} exited: {err.read_text(errors='replace').strip()}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _died(self) -> str | None:
        if self.proc is not None and self.proc.poll() not in (None, 0):
            stderr = self.path.with_suffix(".stderr").read_text(errors="replace").strip()[-300:]
            return f"tcpdump on {self.node} died (exit {self.proc.returncode}): {stderr}"
        return None

    def stop(self) -> None:
        """Stop tcpdump; a capture that died on its own is an error, not an empty capture."""
        if self.proc is None:
            return
        if self.proc.poll() is not None:
            died = self._died()
            if died:
                raise RuntimeError(died)
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def checked_path(self) -> Path:
        died = self._died()
        if died:
            raise RuntimeError(f"{died}: the capture is incomplete")
        return self.path


class RstCapture(Capture):
    """Every TCP RST to or from the SSH port at a client node."""

    def __init__(self, lab: Lab, node: str, path: Path) -> None:
        super().__init__(lab, node, path, RST_FILTER)

    def resets(self) -> list[Segment]:
        return tcp_resets(self.checked_path())

    def resets_of(self, source: tuple[str, int], vip: str, port: int = SSH_PORT) -> int:
        """RSTs of exactly one connection: its full 4-tuple, either direction. A probe that once
        used the same source address and port towards another address is not counted."""
        mine = {(source[0], source[1], vip, port), (vip, port, source[0], source[1])}
        return sum(1 for segment in self.resets() if segment in mine)


class AnnouncementCapture(Capture):
    """Gratuitous ARPs and unsolicited NAs seen on a segment (a VRRP takeover's claims)."""

    def __init__(self, lab: Lab, node: str, path: Path, ifname: str = "eth1") -> None:
        super().__init__(lab, node, path, ANNOUNCE_FILTER, ifname)

    def announcements(self) -> list[Announcement]:
        return announcements(self.checked_path())
