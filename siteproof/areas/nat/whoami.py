"""An outside server that says whom it saw: TCP and UDP echo, and HTTP, on one address.

Each TCP connection is answered first with one line, "seen ADDRESS:PORT", then echoed; each
UDP datagram comes back prefixed the same way; an HTTP GET gets the line as its body. So a
compute behind NAT reads the pool address and port it was translated to from the server's
own mouth, and the server logs every peer it saw (one line each, to its log).

Run: python -m siteproof.areas.nat.whoami CONFIG   (KEY=VALUE lines: bind, tcp, udp, http)
"""

from __future__ import annotations

import http.server
import socket
import socketserver
import sys
import threading
import time


def log(message: str) -> None:
    print(f"{time.time():.3f} {message}", flush=True)


def seen(peer: tuple[str, int]) -> bytes:
    return f"seen {peer[0]}:{peer[1]}\n".encode()


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        log(f"tcp from {self.client_address[0]}:{self.client_address[1]}")
        self.request.sendall(seen(self.client_address))
        while data := self.request.recv(4096):
            self.request.sendall(data)


class WhoamiHttp(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = seen(self.client_address)
        log(f"http from {self.client_address[0]}:{self.client_address[1]}")
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass  # one line per peer is logged above


class Threaded(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 1024


def udp_echo(address: str, port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, port))
    while True:
        data, peer = sock.recvfrom(4096)
        sock.sendto(seen(peer) + data, peer)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    with open(argv[1]) as fh:
        settings = dict(line.strip().split("=", 1) for line in fh if "=" in line and not line.startswith("#"))
    bind = settings["bind"]
    servers = [Threaded((bind, int(settings["tcp"])), EchoHandler), Threaded((bind, int(settings["http"])), WhoamiHttp)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Thread(target=udp_echo, args=(bind, int(settings["udp"])), daemon=True).start()
    log(f"ready: tcp {bind}:{settings['tcp']}, udp {bind}:{settings['udp']}, http {bind}:{settings['http']}")
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
