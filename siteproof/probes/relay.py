"""A TCP connection from a node's chosen source address and port, as a socket on the runner.

Where the backend opens sockets in nodes (a lab) it is one; elsewhere (a site over SSH) the host
makes the connection itself (siteproof.probes.tcphost's `relay`, under the host's `timeout`) and
its bytes travel over that command's stdin and stdout, so the runner can speak SSH to a login
VIP from a client host with the source port the load balancer hashes on (LOGIN-4/5/6). The
runner's end is one half of a socket pair; closing it closes the host's connection with a FIN.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import select
import shutil
import socket
import tempfile
import threading
from pathlib import Path

from siteproof.backends.background import Background
from siteproof.backends.base import SOCKETS, Backend, require_program
from siteproof.probes.hostscript import TTL_S
from siteproof.probes.remote_tcp import SCRIPT

SSH_DELIVERY_S = 15.0  # on top of the connect timeout: the ssh carrying the relay starting on its host


def connect_from(backend: Backend, node: str, source: tuple[str, int], target: tuple[str, int],
                 timeout: float) -> socket.socket:
    """A connected socket from node's source to target; OSError (with the host's words) if not."""
    family = socket.AF_INET6 if ipaddress.ip_address(target[0]).version == 6 else socket.AF_INET
    if SOCKETS in backend.capabilities:
        sock = backend.socket(node, family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.settimeout(timeout)
            sock.bind(source)
            sock.connect(target)
        except BaseException:
            sock.close()
            raise
        return sock
    require_program(backend, node, "python3", "python3")
    scratch = Path(tempfile.mkdtemp(prefix="siteproof-relay-"))
    job = {"src": source[0], "sport": source[1], "dst": target[0], "dport": target[1], "timeout": timeout}
    proc = backend.start_piped(node, ["python3", "-c", SCRIPT, "relay", json.dumps(job)], scratch / "relay.err", TTL_S)
    assert proc.proc.stdout is not None and proc.proc.stdin is not None
    out = proc.proc.stdout.fileno()
    first = os.read(out, 1) if select.select([out], [], [], timeout + SSH_DELIVERY_S)[0] else b""
    if first != b"+":
        proc.stop()
        why = proc.errors().strip()[-300:] or "no answer"
        shutil.rmtree(scratch, ignore_errors=True)
        raise OSError(f"from {node} {source[0]}:{source[1]} to {target[0]}:{target[1]}: {why}")
    here, there = socket.socketpair()
    threading.Thread(target=_up, args=(there, proc), daemon=True, name=f"relay-up-{node}").start()
    threading.Thread(target=_down, args=(there, proc, scratch), daemon=True, name=f"relay-down-{node}").start()
    return here


def _up(there: socket.socket, proc: Background) -> None:
    """The runner's bytes to the host's connection, until the runner closes its end."""
    stdin = proc.proc.stdin
    assert stdin is not None
    with contextlib.suppress(OSError):
        while data := there.recv(65536):
            stdin.write(data)
            stdin.flush()
    with contextlib.suppress(OSError):
        stdin.close()  # the host closes its connection


def _down(there: socket.socket, proc: Background, scratch: Path) -> None:
    """The host's bytes to the runner until its connection ends; then the relay is gone."""
    stdout = proc.proc.stdout
    assert stdout is not None
    with contextlib.suppress(OSError):
        while data := os.read(stdout.fileno(), 65536):
            there.sendall(data)
    with contextlib.suppress(OSError):
        there.shutdown(socket.SHUT_WR)  # the runner's end reads the end of the connection
    proc.stop()
    shutil.rmtree(scratch, ignore_errors=True)
