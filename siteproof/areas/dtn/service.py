"""A DTN service: a TCP listener on each port of its profile's ranges (and its agent's), that
answers each connection with one line naming the service and the port.

Run: python -m siteproof.areas.dtn.service CONFIG   (KEY=VALUE lines: bind, ports "lo-hi,lo-hi,port")
"""

from __future__ import annotations

import selectors
import socket
import sys
import time
from pathlib import Path


def port_list(spec: str) -> list[int]:
    ports: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.strip().partition("-")
        ports += range(int(lo), int(hi or lo) + 1)
    return ports


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    settings = dict(line.strip().split("=", 1) for line in Path(argv[1]).read_text().splitlines()
                    if "=" in line and not line.startswith("#"))
    selector = selectors.DefaultSelector()
    ports = port_list(settings["ports"])
    for port in ports:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((settings["bind"], port))
        sock.listen(64)
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, port)
    print(f"{time.time():.3f} ready: {len(ports)} ports ({settings['ports']})", flush=True)
    while True:
        for key, _ in selector.select():
            try:
                conn, _peer = key.fileobj.accept()  # type: ignore[union-attr]
            except BlockingIOError:
                continue
            with conn:
                conn.sendall(f"dtn service port {key.data}\n".encode())


if __name__ == "__main__":
    sys.exit(main())
