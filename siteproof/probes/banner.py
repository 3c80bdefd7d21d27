"""Which server a connection lands on, read from its SSH banner (sshd's VersionAddendum
names the node), each connection from a chosen source address and port. Standard library
only: shipped to the client host by siteproof.probes.remote, so that at a site the
connections start on the client the test names, as in a lab.
"""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor


def server_of(banner: str) -> str:
    """The node name sshd appends to its identification string (VersionAddendum)."""
    parts = banner.strip().split()
    return parts[-1] if len(parts) > 1 else "?"


def read_server(sock: socket.socket) -> str:
    """The node name in the banner an open connection's server sends (or "error: ...")."""
    data = b""
    while not data.endswith(b"\n") and len(data) < 256:
        chunk = sock.recv(256)
        if not chunk:
            break
        data += chunk
    return server_of(data.decode(errors="replace")) if data else "error: no banner"


def land(source: str, sport: int, address: str, port: int, timeout: float) -> str:
    """The node name in the banner of a fresh connection, or "error: ..."."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.settimeout(timeout)
        try:
            sock.bind((source, sport))
            sock.connect((address, port))
            return read_server(sock)
        except OSError as exc:
            return f"error: {exc.__class__.__name__}"


def run_job(job: dict) -> list[str]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda c: land(c[0], int(c[1]), c[2], int(c[3]), job["timeout"]), job["connect"]))
