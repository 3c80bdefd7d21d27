"""TCP ends run on the hosts themselves (standard library only, shipped as `python3 -c`):
`accept` takes every connection and closes it; `echo` takes one connection and sends back all it
gets; `stream` connects from a given source address and port, sends a record every interval
and stamps every record echoed back; `relay` connects from a given source address and port and
carries the connection's bytes over its stdin and stdout (one "+" first once connected), so the
runner can speak SSH from the host (siteproof.probes.relay); `hold` opens many connections to a
server, paced, and keeps them open (siteproof.probes.holding).

Output is JSON lines on stdout: {"ready": T} once bound or connected (T: the host's monotonic
clock), then {"n": N} (connections accepted so far) or {"a": T, "k": K} (K records echoed back
at T) and {"s": N} (records sent so far) every 20 ms, {"error": WHY, "t": T} if the connection broke,
and {"sent": N, "end": T} when interrupted (SIGINT) or after `seconds`. The runner reads the
lines as they come (siteproof.probes.remote_tcp). They only send and answer packets: read-only.
"""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import sys
import time
from typing import Any, TextIO

RECORD = struct.Struct("!Qd")
LINGER_RESET = struct.pack("ii", 1, 0)
TCP_RTO_MAX_MS = 44  # Linux 6.15+: cap on the TCP retransmission timeout (include/uapi/linux/tcp.h)


def _say(out: TextIO, **fields: Any) -> None:
    out.write(json.dumps(fields) + "\n")
    out.flush()


def _listener(job: dict[str, Any], backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in job["bind"] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((job["bind"], job["port"]))
    sock.listen(backlog)
    return sock


def accept(job: dict[str, Any], out: TextIO) -> None:
    server = _listener(job, 4096)
    _say(out, ready=time.monotonic())
    count, end = 0, time.monotonic() + job["seconds"]
    while time.monotonic() < end:
        if not select.select([server], [], [], 0.2)[0]:
            continue
        # A plain close (FIN): a reset could reach the client before its connect() returns.
        server.accept()[0].close()
        count += 1
        _say(out, n=count)


def echo(job: dict[str, Any], out: TextIO) -> None:
    server = _listener(job, 1)
    _say(out, ready=time.monotonic())
    end = time.monotonic() + job["seconds"]
    while not select.select([server], [], [], 0.2)[0]:
        if time.monotonic() > end:
            return
    conn = server.accept()[0]
    while time.monotonic() < end:
        if not select.select([conn], [], [], 0.2)[0]:
            continue
        try:
            data = conn.recv(65536)
            if not data:
                _say(out, error="server: connection closed by the client side", t=time.monotonic())
                return
            conn.sendall(data)
        except OSError as exc:
            _say(out, error=f"server: {exc}", t=time.monotonic())
            return


def stream(job: dict[str, Any], out: TextIO) -> None:
    family = socket.AF_INET6 if ":" in job["dst"] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    capped = False
    if job.get("rto_max_ms"):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, TCP_RTO_MAX_MS, job["rto_max_ms"])
            capped = True
        except OSError:
            pass  # older kernel: the gap includes TCP's backoff
    sock.bind((job["src"], job["sport"]))
    sock.settimeout(5)
    sock.connect((job["dst"], job["dport"]))
    sock.setblocking(False)
    start = next_at = flushed = time.monotonic()
    _say(out, ready=start, rto_capped=capped)
    sent, pending, outgoing = 0, 0, b""
    try:
        while time.monotonic() < start + job["seconds"]:
            now = time.monotonic()
            if now >= next_at:  # a record every interval; queued here while the path is down
                outgoing += RECORD.pack(sent, now)
                sent += 1
                next_at += job["interval"]
            writable = [sock] if outgoing else []
            readable, can_write, _ = select.select([sock], writable, [], max(0.0, next_at - time.monotonic()))
            try:
                if can_write:
                    outgoing = outgoing[sock.send(outgoing):]
                if readable:
                    data = sock.recv(65536)
                    if not data:
                        _say(out, error="client: connection closed by the server side", t=time.monotonic())
                        break
                    pending += len(data)
                    whole, pending = divmod(pending, RECORD.size)
                    if whole:
                        out.write(json.dumps({"a": time.monotonic(), "k": whole}) + "\n")
            except BlockingIOError:
                pass
            except OSError as exc:
                _say(out, error=f"client: {exc}", t=time.monotonic())
                break
            if time.monotonic() - flushed > 0.02:
                _say(out, s=sent)
                flushed = time.monotonic()
    except KeyboardInterrupt:
        pass
    _say(out, sent=sent, end=time.monotonic())


def hold(job: dict[str, Any], out: TextIO) -> None:
    """`count` connections to dst:dport, one every 1/rate s, each kept open after its first answer
    ({"i": K, "seen": FIRST LINE} or {"i": K, "error": WHY}); {"done": N} after the last; closed
    when interrupted or after `seconds`."""
    _say(out, ready=time.monotonic())
    family = socket.AF_INET6 if ":" in job["dst"] else socket.AF_INET
    held, next_at = [], time.monotonic()
    try:
        for k in range(job["count"]):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.settimeout(job["timeout"])
            try:
                sock.connect((job["dst"], job["dport"]))
                _say(out, i=k, seen=sock.recv(256).decode(errors="replace"))
                held.append(sock)
            except OSError as exc:
                _say(out, i=k, error=f"{exc.__class__.__name__}: {exc}")
                sock.close()
            next_at += 1 / job["rate"]
            if (delay := next_at - time.monotonic()) > 0:
                time.sleep(delay)  # pacing the connections
        _say(out, done=job["count"])
        time.sleep(job["seconds"])
    except KeyboardInterrupt:
        pass
    finally:
        for sock in held:
            sock.close()


def relay(job: dict[str, Any], out: TextIO) -> None:
    family = socket.AF_INET6 if ":" in job["dst"] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, TCP_RTO_MAX_MS, 1000)
    except OSError:
        pass  # older kernel: only recovery is slower
    sock.settimeout(job["timeout"])
    try:
        sock.bind((job["src"], job["sport"]))
        sock.connect((job["dst"], job["dport"]))
    except OSError as exc:
        sys.stderr.write(f"{exc.__class__.__name__}: {exc}\n")
        sys.exit(3)
    sock.setblocking(True)
    os.write(1, b"+")
    while True:
        readable = select.select([0, sock], [], [])[0]
        if 0 in readable:
            data = os.read(0, 65536)
            if not data:  # the runner closed its end: a plain close here (FIN)
                sock.close()
                return
            sock.sendall(data)
        if sock in readable:
            try:
                data = sock.recv(65536)
            except OSError as exc:
                sys.stderr.write(f"{exc.__class__.__name__}: {exc}\n")
                return
            if not data:
                return
            while data:
                data = data[os.write(1, data):]


if __name__ == "__main__":
    try:
        {"accept": accept, "echo": echo, "stream": stream, "relay": relay, "hold": hold}[sys.argv[1]](json.loads(sys.argv[2]), sys.stdout)
    except KeyboardInterrupt:
        pass
