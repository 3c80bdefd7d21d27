"""Watch a namespace's addresses and links over rtnetlink, every event, from start to stop.

"The host never sees a public address, even briefly" (IB-4) is a claim about events, not
about a state: an address added and then moved away with its interface leaves no trace in
`ip addr` a moment later. This monitor subscribes to the kernel's address and link
notifications before the first container starts and writes each event as one JSON line:
{"at", "event": "add"|"del"|"link-new"|"link-del", "index", "ifname", "address"}. A lost
event (the socket's buffer overran) is written as {"event": "overrun"}: the verdict cannot
rely on a monitor that missed something. Standard library only.

Run: python -m siteproof.probes.addrwatch CONFIG   (KEY=VALUE lines: events, the file to write)
"""

from __future__ import annotations

import errno
import ipaddress
import json
import socket
import struct
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RTMGRP_LINK, RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR = 0x1, 0x10, 0x100
RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_DELADDR = 16, 17, 20, 21
NLMSG_DONE, NLM_F_REQUEST, NLM_F_DUMP = 3, 0x1, 0x300
IFA_ADDRESS, IFA_LOCAL, IFLA_IFNAME = 1, 2, 3
_NLMSGHDR = struct.Struct("=IHHII")
_IFADDRMSG = struct.Struct("=BBBBI")
_IFINFOMSG = struct.Struct("=BxHiII")
_RTATTR = struct.Struct("=HH")


def _attributes(data: bytes) -> dict[int, bytes]:
    found, offset = {}, 0
    while offset + _RTATTR.size <= len(data):
        length, kind = _RTATTR.unpack_from(data, offset)
        if length < _RTATTR.size:
            break
        found[kind] = data[offset + _RTATTR.size:offset + length]
        offset += (length + 3) & ~3
    return found


def parse(buffer: bytes) -> Iterator[dict[str, Any]]:
    """The address and link events in one netlink read."""
    offset = 0
    while offset + _NLMSGHDR.size <= len(buffer):
        length, kind, _, _, _ = _NLMSGHDR.unpack_from(buffer, offset)
        if length < _NLMSGHDR.size:
            return
        body = buffer[offset + _NLMSGHDR.size:offset + length]
        offset += (length + 3) & ~3
        if kind in (RTM_NEWADDR, RTM_DELADDR) and len(body) >= _IFADDRMSG.size:
            family, prefixlen, _, _, index = _IFADDRMSG.unpack_from(body)
            attrs = _attributes(body[_IFADDRMSG.size:])
            raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
            if raw is None:
                continue
            address = str(ipaddress.ip_address(raw))
            yield {"event": "add" if kind == RTM_NEWADDR else "del", "index": index, "address": f"{address}/{prefixlen}",
                   "family": 4 if family == socket.AF_INET else 6}
        elif kind in (RTM_NEWLINK, RTM_DELLINK) and len(body) >= _IFINFOMSG.size:
            _, _, index, _, _ = _IFINFOMSG.unpack_from(body)
            name = _attributes(body[_IFINFOMSG.size:]).get(IFLA_IFNAME, b"").rstrip(b"\0").decode(errors="replace")
            yield {"event": "link-new" if kind == RTM_NEWLINK else "link-del", "index": index, "ifname": name}


def _dump_request(kind: int, family: int, seq: int) -> bytes:
    body = _IFADDRMSG.pack(family, 0, 0, 0, 0) if kind == 22 else _IFINFOMSG.pack(family, 0, 0, 0, 0)
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body


def watch(events: Path) -> None:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((0, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR))
    names: dict[int, str] = {}
    with open(events, "a", buffering=1) as out:
        def write(event: dict[str, Any]) -> None:
            if event.get("event", "").startswith("link"):
                names[event["index"]] = event["ifname"]
            else:
                event.setdefault("ifname", names.get(event.get("index", -1), "?"))
            out.write(json.dumps({"at": round(time.time(), 6), **event}) + "\n")

        # What is there already (subscribed first, so nothing falls between dump and events).
        for seq, kind in ((1, 18), (2, 22)):  # RTM_GETLINK, RTM_GETADDR
            sock.send(_dump_request(kind, socket.AF_UNSPEC, seq))
            done = False
            while not done:
                data = sock.recv(1 << 16)
                done = _has_done(data)
                for event in parse(data):
                    event["event"] = "present" if event["event"] == "add" else event["event"]
                    write(event)
        print(f"{time.time():.3f} ready: watching addresses and links, events to {events}", flush=True)
        while True:
            try:
                data = sock.recv(1 << 16)
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    write({"event": "overrun"})
                    continue
                raise
            for event in parse(data):
                write(event)


def _has_done(buffer: bytes) -> bool:
    offset = 0
    while offset + _NLMSGHDR.size <= len(buffer):
        length, kind, _, _, _ = _NLMSGHDR.unpack_from(buffer, offset)
        if kind == NLMSG_DONE:
            return True
        if length < _NLMSGHDR.size:
            return False
        offset += (length + 3) & ~3
    return False


def read_events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    settings = dict(line.strip().split("=", 1) for line in Path(argv[1]).read_text().splitlines() if "=" in line)
    watch(Path(settings["events"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
