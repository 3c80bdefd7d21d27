"""A sequenced UDP echo pair run on the hosts themselves (standard library only, shipped as
`python3 -c`): `reflect` sends every datagram straight back; `probe` sends one every interval
from a given source address and port and prints the time each echo arrives.

Output is JSON lines on stdout: {"ready": T} once the socket is bound (T: the host's monotonic
clock), then {"a": T} per echo and {"s": N} (sent so far) every 20 ms, and {"sent": N, "end": T}
when interrupted (SIGINT) or after
`seconds`. The runner reads the lines as they come (siteproof.probes.remote_prober). It only
sends and answers datagrams: read-only.
"""

from __future__ import annotations

import json
import select
import signal
import socket
import struct
import sys
import time
from typing import Any, TextIO

_FMT = "!Qd"


def _socket(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((address, port))
    sock.setblocking(False)
    return sock


def _say(out: TextIO, **fields: float) -> None:
    out.write(json.dumps(fields) + "\n")


def reflect(job: dict[str, Any], out: TextIO) -> None:
    sock = _socket(job["bind"], job["port"])
    _say(out, ready=time.monotonic())
    out.flush()
    end = time.monotonic() + job["seconds"]
    while time.monotonic() < end:
        if select.select([sock], [], [], 0.2)[0]:
            try:
                data, peer = sock.recvfrom(64)
                sock.sendto(data, peer)
            except OSError:
                continue


def probe(job: dict[str, Any], out: TextIO) -> None:
    sock = _socket(job["bind"], job["sport"])
    target, interval = (job["target"], job["port"]), job["interval"]
    start = next_at = time.monotonic()
    _say(out, ready=start)
    out.flush()
    sent, flushed = 0, start
    # The stop (SIGINT) ends the loop between two datagrams: as KeyboardInterrupt it could land
    # after a sendto and before its count, and the gateways would count one packet more than
    # the final count says (seen once at a site: 426 sent, 427 counted).
    stopping: list[int] = []
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    try:
        while not stopping and time.monotonic() < start + job["seconds"]:
            now = time.monotonic()
            if now >= next_at:
                try:
                    sock.sendto(struct.pack(_FMT, sent, now), target)
                except OSError:
                    pass  # no route or neighbour for a moment: a gap, not an error
                sent += 1
                next_at += interval
            if select.select([sock], [], [], max(0.0, next_at - time.monotonic()))[0]:
                while True:
                    try:
                        sock.recv(64)
                    except OSError:
                        break
                    _say(out, a=time.monotonic())
            if time.monotonic() - flushed > 0.02:
                _say(out, s=sent)
                out.flush()
                flushed = time.monotonic()
    except KeyboardInterrupt:
        pass
    _say(out, sent=sent, end=time.monotonic())
    out.flush()


if __name__ == "__main__":
    mode, job_text = sys.argv[1], sys.argv[2]
    try:
        {"reflect": reflect, "probe": probe}[mode](json.loads(job_text), sys.stdout)
    except KeyboardInterrupt:
        pass
