"""Packet captures in lab nodes: tcpdump writes a pcap in the lab's directory; reading it back."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from siteproof.backends.netns.lab import Lab
from siteproof.probes.ssh import SSH_PORT
from siteproof.wait import wait_until

Segment = tuple[str, int, str, int]  # (source, source port, destination, destination port)


def tcp_resets(path: Path) -> list[Segment]:
    """Every TCP RST in a pcap, IPv4 and IPv6, parsed by scapy (a capture still being written
    may end in half a record: what is complete is read)."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.inet6 import IPv6
    from scapy.utils import PcapReader

    found: list[Segment] = []
    if not path.exists() or path.stat().st_size == 0:
        return found
    with PcapReader(str(path)) as reader:
        while True:
            try:
                packet = reader.read_packet()
            except EOFError:
                break
            except Exception:  # noqa: BLE001 - a truncated last record while tcpdump writes
                break
            if packet is None:
                break
            if TCP not in packet or not packet[TCP].flags & 0x04:
                continue
            for layer in (IP, IPv6):
                if layer in packet:
                    ip = packet[layer]
                    found.append((str(ip.src), int(packet[TCP].sport), str(ip.dst), int(packet[TCP].dport)))
                    break
    return found


@dataclass
class RstCapture:
    """tcpdump of every TCP RST to or from port 22 at a client namespace, in the lab's directory."""

    lab: Lab
    node: str
    path: Path
    proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> RstCapture:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        err = self.path.with_suffix(".stderr")
        with open(err, "wb") as fh:
            self.proc = self.lab.spawn(
                self.node, ["tcpdump", "-i", "eth1", "-nn", "-U", "-w", str(self.path),
                            # BPF reads TCP flags of IPv4 only: IPv6 segments are all kept, scapy sorts them.
                            f"tcp port {SSH_PORT} and (ip6 or tcp[tcpflags] & tcp-rst != 0)"],
                cwd=self.path.parent, stdout=subprocess.DEVNULL, stderr=fh,
            )
        wait_until(lambda: "listening on" in err.read_text(errors="replace") or self.proc.poll() is not None,  # type: ignore[union-attr]
                   "daemon_ready", expected="tcpdump listening")
        if self.proc.poll() is not None:
            raise RuntimeError(f"tcpdump exited: {err.read_text(errors='replace')}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop tcpdump; a capture that died on its own is an error, not an empty capture."""
        if self.proc is None:
            return
        if self.proc.poll() is not None:
            if self.proc.returncode != 0:
                raise RuntimeError(f"tcpdump on {self.node} died (exit {self.proc.returncode}): "
                                   f"{self.path.with_suffix('.stderr').read_text(errors='replace').strip()[-300:]}")
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def resets(self) -> list[Segment]:
        """Every RST captured so far."""
        if self.proc is not None and self.proc.poll() not in (None, 0):
            raise RuntimeError(f"tcpdump on {self.node} died (exit {self.proc.returncode}): the capture is incomplete")
        return tcp_resets(self.path)

    def resets_of(self, source: tuple[str, int], vip: str, port: int = SSH_PORT) -> int:
        """RSTs of exactly one connection: its full 4-tuple, either direction. A probe that once
        used the same source address and port towards another address is not counted."""
        mine = {(source[0], source[1], vip, port), (vip, port, source[0], source[1])}
        return sum(1 for segment in self.resets() if segment in mine)
