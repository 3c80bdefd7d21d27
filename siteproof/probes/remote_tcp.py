"""TCP ends where the runner cannot open sockets in the nodes (a site over SSH): the listener, the
echo server and the long stream's client run on the hosts themselves (siteproof.probes.tcphost,
left running with Backend.start), read here as they report. Same interfaces as the in-node
ones of siteproof.probes.flows; times are mapped as in siteproof.probes.hostscript.
"""

from __future__ import annotations

import contextlib
import inspect
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from siteproof.backends.base import Backend
from siteproof.probes import tcphost
from siteproof.probes.flowcount import Flow
from siteproof.probes.flows import Accepted, StreamResult
from siteproof.probes.gap import longest_gap
from siteproof.probes.hostscript import TTL_S, HostScript, HostScriptPair

SCRIPT = inspect.getsource(tcphost)


class _HostAccepted(Accepted):
    def __init__(self, script: HostScript) -> None:
        super().__init__()
        self._script = script

    @property
    def count(self) -> int:
        for item in self._script.lines():
            self._count = int(item.get("n", self._count))
        return self._count


@contextlib.contextmanager
def remote_listener(backend: Backend, node: str, address: str, port: int) -> Iterator[Accepted]:
    """A listener on the host that accepts and closes every connection."""
    scratch = Path(tempfile.mkdtemp(prefix="siteproof-accept-"))
    script = HostScript(backend, node, SCRIPT, "accept", {"bind": address, "port": port, "seconds": TTL_S}, scratch,
                        f"the TCP listener on {node} {address}:{port}")
    try:
        script.start()
        yield _HostAccepted(script)
    finally:
        script.stop()
        shutil.rmtree(scratch, ignore_errors=True)


class RemoteTcpStream(HostScriptPair):
    """start()/stop(), received_since, started, flow and error as siteproof.probes.flows.TcpStream:
    a record every interval from the client host, echoed back by the server host."""

    def __init__(self, backend: Backend, client: str, server: str, src: str, dst: str, sport: int, dport: int,
                 interval: float = 0.005, rto_max_ms: int | None = 1000) -> None:
        super().__init__("siteproof-stream-")
        self.backend, self.client, self.server = backend, client, server
        self.flow = Flow(src, dst, "tcp", sport, dport)
        self.interval, self.rto_max_ms = interval, rto_max_ms
        self.sent = 0
        self._error: str | None = None

    def start(self) -> RemoteTcpStream:
        flow = self.flow
        self.answerer = HostScript(self.backend, self.server, SCRIPT, "echo",
                                {"bind": flow.dst, "port": flow.dport, "seconds": TTL_S}, self._scratch,
                                f"the TCP echo server on {self.server} {flow.dst}:{flow.dport}").start()
        self.sender = HostScript(self.backend, self.client, SCRIPT, "stream",
                                  {"src": flow.src, "sport": flow.sport, "dst": flow.dst, "dport": flow.dport,
                                   "interval": self.interval, "rto_max_ms": self.rto_max_ms or 0, "seconds": TTL_S},
                                  self._scratch, f"the TCP stream from {self.client} ({flow})")
        try:
            self.sender.start()
        except Exception:
            self.answerer.stop()
            raise
        self.started = time.monotonic()
        return self

    @property
    def rto_capped(self) -> bool:
        return bool(self.sender and self.sender.ready.get("rto_capped"))

    def _read(self) -> None:
        if self.sender is None:
            return
        for item in self.sender.lines():
            if "a" in item:
                self._arrivals.extend([self.sender.local(float(item["a"]))] * int(item["k"]))
            elif "s" in item:
                self.sent = int(item["s"])
            elif "error" in item:
                self._broke(self.sender, item)
            elif "sent" in item:
                self._end, self.sent = item, int(item["sent"])
        if self.answerer is not None:
            for item in self.answerer.lines():
                if "error" in item:
                    self._broke(self.answerer, item)

    def _broke(self, script: HostScript, item: dict) -> None:
        """The first break before stop(): stopping one end (its socket closes with a reset) breaks
        the other, which is the end of the stream, not a failure of it."""
        at = script.local(float(item.get("t", 0.0)))
        if self._error is None and not (self.stopped and at >= self.stopped):
            self._error = str(item["error"])

    @property
    def error(self) -> str | None:
        """What ended the stream early (a reset), if anything."""
        self._read()
        return self._error

    def stop(self) -> StreamResult:
        self.stopped = time.monotonic()
        self._finish(f"the TCP stream from {self.client}")
        gap = longest_gap(self._arrivals, self.started, self.stopped).seconds * 1000
        return StreamResult(self.sent, len(self._arrivals), gap, self._error, self.rto_capped)

    def __enter__(self) -> RemoteTcpStream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if not self.stopped:
            self.stop()
