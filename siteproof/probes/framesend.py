"""Crafted packets sent by a host (standard library only): Ethernet frames on one interface (an
AF_PACKET socket), or IP packets with whatever source they carry (a raw IP socket). Crafted on
the runner (scapy), sent by the host itself.

The same functions run in a lab node's namespace (Backend.call_in) and, shipped as a script
(siteproof.probes.remote.run_on), on a site host. They send packets and change nothing on the
host (a spoofed source is what a probe of the site's filters asks with): read-only.
"""

from __future__ import annotations

import socket
import time
from typing import Any

RATE_PPS = 10_000  # paced: a burst of thousands at once overflows the receivers' backlog on a busy host


def _paced(items: list[bytes], send_one: Any) -> int:
    next_at = time.monotonic()
    for item in items:
        send_one(item)
        next_at += 1 / RATE_PPS
        if (delay := next_at - time.monotonic()) > 0.001:
            time.sleep(delay)  # pacing the sender, not waiting for a state
    return len(items)


def send(ifname: str, frames: list[bytes]) -> int:
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
        sock.bind((ifname, 0))
        return _paced(frames, sock.send)


def send_ip(packets: list[bytes]) -> int:
    """IP packets as they are (header included), each to its own destination."""
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as sock:
        return _paced(packets, lambda packet: sock.sendto(packet, (socket.inet_ntoa(packet[16:20]), 0)))


def run_job(job: dict[str, Any]) -> list:
    """[how many sent]: job {"ifname": IF, "frames": [hex, ...]} or {"ip": [hex, ...]}."""
    if "ip" in job:
        return [send_ip([bytes.fromhex(p) for p in job["ip"]])]
    return [send(job["ifname"], [bytes.fromhex(f) for f in job["frames"]])]
