"""A MonALISA-style UDP receiver: counts the datagrams each source sends to it.

The CE's MonALISA service takes monitoring datagrams from the worker nodes on udp/8884;
this receiver stands in for its listening end and keeps, per source address, how many
datagrams arrived, in counts.json (rewritten at most every 50 ms) and its log.

Run: python -m siteproof.areas.ce.monalisa CONFIG   (KEY=VALUE lines: bind, port, counts)
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

# What a worker node runs to send monitoring datagrams (`python3 -c SENDER ADDRESS PORT COUNT`):
# fixed text, its inputs as arguments, the standard library only (a site's worker has python3).
SENDER = ("import socket, sys\n"
          "address, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])\n"
          "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
          "for i in range(count):\n"
          "    s.sendto(b'monalisa %d' % i, (address, port))\n")


def sender_argv(address: str, port: int, count: int) -> list[str]:
    return ["python3", "-c", SENDER, address, str(port), str(count)]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    settings = dict(line.strip().split("=", 1) for line in Path(argv[1]).read_text().splitlines()
                    if "=" in line and not line.startswith("#"))
    counts_file = Path(settings["counts"])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((settings["bind"], int(settings["port"])))
    sock.settimeout(0.05)
    counts: dict[str, int] = {}
    dirty = True
    print(f"{time.time():.3f} ready: udp {settings['bind']}:{settings['port']}", flush=True)
    while True:
        try:
            _, peer = sock.recvfrom(65535)
            counts[peer[0]] = counts.get(peer[0], 0) + 1
            dirty = True
        except TimeoutError:
            pass
        if dirty:
            temp = counts_file.with_suffix(".tmp")
            temp.write_text(json.dumps(counts))
            os.replace(temp, counts_file)
            dirty = False


if __name__ == "__main__":
    sys.exit(main())
