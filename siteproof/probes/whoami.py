"""Ask an outside "whoami" server (siteproof.areas.nat.whoami) whom it saw: the address and
port a connection from here arrived with, after whatever NAT lies between. Standard library
only: shipped to the asking host by siteproof.probes.remote.
"""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor


def ask(address: str, port: int, proto: str, timeout: float) -> str:
    """"ADDRESS:PORT" as the server saw this host, or "error: ..." (nothing answered, refused)."""
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((address, port))
            if proto == "udp":
                sock.send(b"whoami\n")
            line = sock.recv(256).decode(errors="replace").splitlines()[0]
        except (OSError, IndexError) as exc:
            return f"error: {exc.__class__.__name__}: {exc}"
    return line.removeprefix("seen ").strip() if line.startswith("seen ") else f"error: answer {line!r}"


def run_job(job: dict) -> list[str]:
    """The shipped entry point: every question at once from here."""
    questions = job["ask"]
    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(lambda q: ask(q[0], int(q[1]), q[2], job["timeout"]), questions))
