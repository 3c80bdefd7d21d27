"""Who answers ARP for an address: requests sent from hosts on a segment, replies seen
leaving each candidate responder.

Two routers answering for one gateway address with one MAC (an anycast first-hop gateway)
look like one responder to the asker; only a capture on each responder's own interface shows
that both answered. Raw AF_PACKET sockets, frames built and parsed by hand (a dozen bytes of
ARP need no packet library).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from siteproof.backends.base import Backend

ETH_P_ARP = 0x0806
ETH_P_ALL = 0x0003  # a socket sees frames its host sends only when it listens to every protocol
PACKET_OUTGOING = 4
BROADCAST = b"\xff" * 6
_ARP = struct.Struct("!HHBBH6s4s6s4s")


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def request_frame(sender_mac: bytes, sender_ip: str, target_ip: str) -> bytes:
    arp = _ARP.pack(1, 0x0800, 6, 4, 1, sender_mac, socket.inet_aton(sender_ip), b"\0" * 6, socket.inet_aton(target_ip))
    return BROADCAST + sender_mac + struct.pack("!H", ETH_P_ARP) + arp


def parse_reply(frame: bytes) -> tuple[str, str, str] | None:
    """(answered address, its MAC, the asker's address) of an ARP reply frame, else None."""
    if len(frame) < 14 + _ARP.size or struct.unpack("!H", frame[12:14])[0] != ETH_P_ARP:
        return None
    _, ptype, _, _, op, sha, spa, _, tpa = _ARP.unpack(frame[14:14 + _ARP.size])
    if op != 2 or ptype != 0x0800:
        return None
    return socket.inet_ntoa(spa), mac_text(sha), socket.inet_ntoa(tpa)


def listener(ifname: str) -> Callable[[], socket.socket]:
    """A maker of a non-blocking packet socket on `ifname` that sees every frame, sent and
    received (call it inside the node's namespace)."""
    def make() -> socket.socket:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        sock.bind((ifname, ETH_P_ALL))
        sock.setblocking(False)
        return sock
    return make


@dataclass
class Answers:
    """Per responder: the askers it answered for the address, and with which MACs."""

    address: str
    answered: dict[str, set[str]] = field(default_factory=dict)  # responder -> askers' addresses
    macs: dict[str, set[str]] = field(default_factory=dict)  # responder -> MACs it answered with


def who_answers(backend: Backend, address: str, askers: dict[str, tuple[str, str]], responders: dict[str, str],
                wait: float = 0.5) -> Answers:
    """Ask for `address` from each asker (node -> (interface, its address)); tap what each
    responder (node -> interface) sends, until each has answered each asker or `wait` seconds
    after the last request. Frames go through the backend (siteproof.probes.frames: sockets in a
    lab's nodes, a shipped sender and tcpdump on a site's hosts)."""
    from siteproof.probes.frames import frame_tap, send_frames  # built on this module's packet socket

    found = Answers(address, {r: set() for r in responders}, {r: set() for r in responders})
    with contextlib.ExitStack() as stack:
        taps = {node: stack.enter_context(frame_tap(backend, node, ifname, "arp", direction="out"))
                for node, ifname in responders.items()}
        for node, (ifname, own) in askers.items():
            mac = backend.run(node, "cat", f"/sys/class/net/{ifname}/address").stdout.strip()
            send_frames(backend, node, ifname, [request_frame(bytes.fromhex(mac.replace(":", "")), own, address)])
        deadline = time.monotonic() + wait
        while True:
            for node, tap in taps.items():
                for frame in tap.frames():
                    reply = parse_reply(frame)
                    if reply and reply[0] == address:
                        found.answered[node].add(reply[2])
                        found.macs[node].add(reply[1])
            # Until every responder has answered every asker, or the budget is spent.
            if time.monotonic() >= deadline or all(len(a) == len(askers) for a in found.answered.values()):
                return found
            time.sleep(0.05)
