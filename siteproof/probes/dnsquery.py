"""A DNS A query, asked from the host it runs on: the addresses of each answer, in order,
and whether it came truncated. EDNS with a payload size, as resolvers send (40 A records
do not fit in 512 bytes). Standard library only: shipped to the asking host by
siteproof.probes.remote, so that at a site the question starts where the test says.
"""

from __future__ import annotations

import random
import socket
import struct


def _query(name: str, payload: int) -> tuple[int, bytes]:
    qid = random.randrange(65536)  # noqa: S311 - a DNS id, not a secret
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 1)  # RD; one question, one OPT
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    opt = b"\0" + struct.pack("!HHIH", 41, payload, 0, 0)
    return qid, header + qname + struct.pack("!HH", 1, 1) + opt


def _skip_name(data: bytes, offset: int) -> int:
    while True:
        length = data[offset]
        if length & 0xC0 == 0xC0:
            return offset + 2
        if length == 0:
            return offset + 1
        offset += 1 + length


def parse(data: bytes) -> tuple[list[str], bool]:
    """(A addresses in answer order, truncated?) of a response."""
    _, flags, qd, an, _, _ = struct.unpack("!HHHHHH", data[:12])
    offset = 12
    for _ in range(qd):
        offset = _skip_name(data, offset) + 4
    found = []
    for _ in range(an):
        offset = _skip_name(data, offset)
        rtype, _, _, rdlen = struct.unpack("!HHIH", data[offset:offset + 10])
        offset += 10
        if rtype == 1 and rdlen == 4:
            found.append(socket.inet_ntoa(data[offset:offset + 4]))
        offset += rdlen
    return found, bool(flags & 0x0200)


def ask(server: str, name: str, payload: int, timeout: float) -> list:
    qid, query = _query(name, payload)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(query, (server, 53))
            while True:
                data, _ = sock.recvfrom(65535)
                if struct.unpack("!H", data[:2])[0] == qid:
                    addresses, truncated = parse(data)
                    return [addresses, truncated]
        except OSError as exc:
            return [f"error: {exc.__class__.__name__}: {exc}", False]


def run_job(job: dict) -> list:
    return [ask(job["server"], job["name"], int(job.get("payload", 1232)), job["timeout"]) for _ in range(job["count"])]
