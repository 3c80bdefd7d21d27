"""DNS messages sent from the host this runs on: each exchange is a message built and signed
by the test host (dnspython), sent here as wire bytes over UDP or TCP, and every response
message returned as wire bytes for the test host to parse and verify (TSIG included).

Standard library only: shipped by siteproof.probes.remote, so at a site the question leaves
from the node the test names and the host needs nothing but python3. A zone transfer reads
messages until the closing SOA (the second SOA of the answer stream) or an error rcode.
"""

from __future__ import annotations

import socket
import struct
import time

SOA = 6


def _skip_name(data: bytes, offset: int) -> int:
    while True:
        length = data[offset]
        if length & 0xC0 == 0xC0:
            return offset + 2
        if length == 0:
            return offset + 1
        offset += 1 + length


def soa_count(data: bytes) -> tuple[int, int]:
    """(rcode, number of SOA records in the answer section) of one message."""
    _, flags, qd, an, _, _ = struct.unpack("!HHHHHH", data[:12])
    offset = 12
    for _ in range(qd):
        offset = _skip_name(data, offset) + 4
    soas = 0
    for _ in range(an):
        offset = _skip_name(data, offset)
        rtype, _, _, rdlen = struct.unpack("!HHIH", data[offset:offset + 10])
        soas += rtype == SOA
        offset += 10 + rdlen
    return flags & 0x000F, soas


def _read(sock: socket.socket, n: int, deadline: float) -> bytes:
    data = b""
    while len(data) < n:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("the server closed the connection")
        data += chunk
    return data


def _tcp(server: str, port: int, wire: bytes, xfr: bool, timeout: float) -> list[bytes]:
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    deadline = time.monotonic() + (timeout * 2 if xfr else timeout)
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect((server, port))
        sock.sendall(struct.pack("!H", len(wire)) + wire)
        found, soas = [], 0
        while True:
            length = struct.unpack("!H", _read(sock, 2, deadline))[0]
            found.append(_read(sock, length, deadline))
            if not xfr:
                return found
            rcode, n = soa_count(found[-1])
            soas += n
            if rcode != 0 or soas >= 2 or (len(found) == 1 and n == 0):
                return found


def _udp(server: str, port: int, wire: bytes, timeout: float) -> list[bytes]:
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    deadline = time.monotonic() + timeout
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.sendto(wire, (server, port))
        while True:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            data, _ = sock.recvfrom(65535)
            if data[:2] == wire[:2]:  # the answer to this question (same id)
                return [data]


def exchange(job: dict) -> dict:
    wire = bytes.fromhex(job["wire"])
    try:
        if job["tcp"]:
            wires = _tcp(job["server"], job.get("port", 53), wire, job.get("xfr", False), job["timeout"])
        else:
            wires = _udp(job["server"], job.get("port", 53), wire, job["timeout"])
    except socket.timeout:  # noqa: UP041 - TimeoutError only from Python 3.10; a site host may be older
        return {"error": "timeout"}
    except EOFError as exc:
        return {"error": "eof", "text": str(exc)}
    except OSError as exc:
        return {"error": "os", "errno": exc.errno or 0, "text": exc.strerror or str(exc)}
    return {"wires": [w.hex() for w in wires]}


def run_job(job: dict) -> list:
    return [exchange(e) for e in job["exchanges"]]
