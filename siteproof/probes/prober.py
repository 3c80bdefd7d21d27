"""A sequenced UDP echo prober: the longest traffic gap and the loss, at ms resolution.

The sender stamps each datagram with a sequence number; the reflector on the far node
sends it straight back; the receiver notes when every echo arrives. A gap is the time
between two consecutive echoes received, so it covers both directions of the path.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from siteproof.probes.gap import longest_gap

_FMT = "!Qd"


@dataclass
class ProbeResult:
    sent: int
    received: int
    interval_ms: float
    max_gap_ms: float
    gap_start: float | None  # monotonic time the longest gap began (last echo before it)
    gaps_over_ms: list[tuple[float, float]] = field(default_factory=list)  # (start, ms) of gaps > 3x interval

    @property
    def lost(self) -> int:
        return self.sent - self.received

    def as_dict(self) -> dict[str, float | int]:
        return {
            "sent": self.sent,
            "received": self.received,
            "lost": self.lost,
            "interval_ms": self.interval_ms,
            "max_gap_ms": round(self.max_gap_ms, 1),
        }


class UdpProber:
    """Run with start()/stop(); sockets come ready-made in each node's namespace."""

    def __init__(
        self,
        client: socket.socket,
        reflector: socket.socket,
        target: tuple[str, int],
        interval: float = 0.005,
    ) -> None:
        self.client = client
        self.reflector = reflector
        self.target = target
        self.interval = interval
        self.sent = 0
        self.arrivals: list[float] = []
        self.started = 0.0
        self.stopped = 0.0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> UdpProber:
        self.started = time.monotonic()
        self.reflector.settimeout(0.1)
        self.client.settimeout(0.1)
        for fn in (self._reflect, self._receive, self._send):
            thread = threading.Thread(target=fn, daemon=True, name=f"prober-{fn.__name__}")
            thread.start()
            self._threads.append(thread)
        return self

    def _send(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.client.sendto(struct.pack(_FMT, self.sent, time.monotonic()), self.target)
            except OSError:
                pass  # no route or neighbour for a moment: that is a gap, not an error
            self.sent += 1
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def _reflect(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.reflector.recvfrom(64)
                self.reflector.sendto(data, peer)
            except (TimeoutError, OSError):
                continue

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                self.client.recvfrom(64)
                self.arrivals.append(time.monotonic())
            except (TimeoutError, OSError):
                continue

    def received_since(self, since: float) -> int:
        return sum(1 for t in self.arrivals if t >= since)

    def stop(self) -> ProbeResult:
        self.stopped = time.monotonic()
        time.sleep(self.interval * 4)  # let the echoes in flight arrive
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=1)
        self.client.close()
        self.reflector.close()
        return self.result()

    def result(self) -> ProbeResult:
        gap = longest_gap(self.arrivals, self.started, self.stopped, over=self.interval * 3)
        return ProbeResult(self.sent, len(self.arrivals), self.interval * 1000, gap.seconds * 1000, gap.start,
                           [(start, seconds * 1000) for start, seconds in gap.long_ones])
