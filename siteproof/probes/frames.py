"""Raw frames sent from a node and the frames a node's interface sees, on any backend.

Sent: in the node's namespace where the backend opens sockets there (a lab), else by the host
itself (siteproof.probes.framesend shipped over SSH). Seen: an AF_PACKET socket in the node, or
tcpdump on the host (siteproof.probes.capture) with a BPF filter, its pcap read here. Either way
a test gets the frames as bytes and judges them the same.
"""

from __future__ import annotations

import contextlib
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from siteproof import budgets
from siteproof.backends.base import SOCKETS, Backend, require_program
from siteproof.probes import framesend, remote
from siteproof.probes.arp import PACKET_OUTGOING, listener
from siteproof.probes.capture import Capture, packets
from siteproof.wait import wait_until

# A shipped job travels as one word of the host's command line, which Linux caps at 128 KiB
# (MAX_ARG_STRLEN): frames go in jobs of at most this much hex.
JOB_HEX_CHARS = 64_000
TAP_BUFFER_BYTES = 64 << 20
TAP_CATCH_UP_S = 10.0  # the most a tap waits past `quiet` for frames still arriving
budgets.register("tap_catch_up", TAP_CATCH_UP_S, "a tap's frames, relayed over SSH from a site host, catch up with "
                 "a marker sent last", owner="probes")
SO_RCVBUFFORCE = 33  # Linux (asm-generic/socket.h); Python names only SO_RCVBUF


def _jobs(frames: list[bytes]) -> list[list[str]]:
    jobs: list[list[str]] = [[]]
    size = 0
    for frame in frames:
        text = frame.hex()
        if jobs[-1] and size + len(text) > JOB_HEX_CHARS:
            jobs.append([])
            size = 0
        jobs[-1].append(text)
        size += len(text) + 4
    return [j for j in jobs if j]


def send_frames(backend: Backend, node: str, ifname: str, frames: list[bytes]) -> int:
    """Send every frame on the node's interface; how many were sent."""
    if SOCKETS in backend.capabilities:
        return backend.call_in(node, lambda: framesend.send(ifname, frames))
    require_program(backend, node, "python3", "python3")
    return sum(int(remote.run_on(backend.run, node, framesend, {"ifname": ifname, "frames": job}, 1, timeout=60)[0])
               for job in _jobs(frames))


def send_ip_packets(backend: Backend, node: str, packets: list[bytes]) -> int:
    """Send IPv4 packets as crafted (any source address) from the node; how many were sent."""
    if SOCKETS in backend.capabilities:
        return backend.call_in(node, lambda: framesend.send_ip(packets))
    require_program(backend, node, "python3", "python3")
    return sum(int(remote.run_on(backend.run, node, framesend, {"ip": job}, 1, timeout=60)[0]) for job in _jobs(packets))


class FrameTap:
    """What crosses one interface of a node, from entry on; `frames()` reads what came so far."""

    def __init__(self, sock: socket.socket | None, capture: Capture | None, direction: str | None = None) -> None:
        self._sock, self._capture, self._direction = sock, capture, direction
        self._seen: list[bytes] = []

    def frames(self) -> list[bytes]:
        if self._sock is not None:
            while True:
                try:
                    frame, where = self._sock.recvfrom(65536)
                except BlockingIOError:
                    break
                outgoing = where[2] == PACKET_OUTGOING
                if self._direction is None or (self._direction == "out") == outgoing:
                    self._seen.append(frame)
            return list(self._seen)
        assert self._capture is not None
        return [bytes(p) for p in packets(self._capture.checked_path())]

    def frames_through(self, is_marker: Callable[[bytes], bool]) -> list[bytes]:
        """The frames up to a marker the caller sent last (a capture writes in order: once the
        marker is in, so is everything the tap saw before it), waiting for it at most TAP_CATCH_UP_S."""
        found = wait_until(self.frames, "tap_catch_up", seconds=TAP_CATCH_UP_S, interval=0.1,
                           expected="the tap's marker frame", accept=lambda seen: any(map(is_marker, seen)))
        return found.value

    def _size(self) -> int:
        """How much the tap holds: a capture's pcap grows as its frames come over SSH; a socket in a
        lab node has every frame the moment it is sent (and sees all traffic), so it counts as still."""
        if self._sock is not None:
            return 0
        assert self._capture is not None
        path = self._capture.checked_path()
        return path.stat().st_size if path.exists() else 0

    def quiet_frames(self, quiet: float) -> list[bytes]:
        """The frames once `quiet` seconds have passed with nothing new arriving (quiet_frames_of)."""
        return quiet_frames_of({"": self}, quiet)[""]


def quiet_frames_of(taps: dict[str, FrameTap], quiet: float) -> dict[str, list[bytes]]:
    """Each tap's frames once `quiet` seconds have passed with nothing new arriving at any (proving
    an absence takes a wait: the caller's named budget). At a site the frames come over SSH: one
    delayed by a loaded runner or link still arrives and restarts the wait, for at most
    TAP_CATCH_UP_S more."""
    def size() -> int:
        return sum(tap._size() for tap in taps.values())

    start = last = time.monotonic()
    seen = size()
    while (now := time.monotonic()) - last < quiet and now - start < quiet + TAP_CATCH_UP_S:
        time.sleep(0.05)  # polling the taps' growth, within the bounds above
        if (grown := size()) != seen:
            seen, last = grown, time.monotonic()
    return {name: tap.frames() for name, tap in taps.items()}


@contextlib.contextmanager
def frame_tap(backend: Backend, node: str, ifname: str, bpf: str, scratch: Path | None = None,
              direction: str | None = None) -> Iterator[FrameTap]:
    """A tap on the node's interface for the block: a packet socket in the node (every frame; the
    reader filters), or tcpdump on the host keeping what `bpf` matches (its pcap in `scratch`, or
    in a folder of its own removed after the block). direction "in" or "out": only what the node
    receives, or sends, there."""
    if SOCKETS in backend.capabilities:
        sock = backend.call_in(node, listener(ifname))
        # Read only at the end: room for a sweep's thousands of frames (as root, past rmem_max).
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, TAP_BUFFER_BYTES)
        try:
            yield FrameTap(sock, None, direction)
        finally:
            sock.close()
        return
    with contextlib.ExitStack() as stack:
        folder = scratch or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="siteproof-tap-")))
        capture = stack.enter_context(Capture(backend, node, folder / f"tap-{node}-{ifname}.pcap", bpf, ifname=ifname,
                                              direction=direction))
        yield FrameTap(None, capture)
