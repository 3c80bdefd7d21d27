"""The UDP echo prober where the runner cannot open sockets in the nodes (a site over SSH): the
sender and the reflector run on the hosts themselves (siteproof.probes.echo, left running with
Backend.start) and the runner reads the echoes' arrival times as they come.

Times: gaps are measured on the sending host's own clock (exact); to compare an echo with a
moment of the runner (a fault's start), the host's clock is mapped to the runner's by the moment
its first line was seen here, so an echo may read late by that line's delivery (milliseconds in
a lab, one SSH round trip at a site): never early.
"""

from __future__ import annotations

import inspect
import json
import shutil
import tempfile
import time
from pathlib import Path

from siteproof.backends.background import Background
from siteproof.backends.base import Backend, require_program
from siteproof.errors import SiteproofError
from siteproof.probes import echo
from siteproof.probes.gap import longest_gap
from siteproof.probes.prober import ProbeResult
from siteproof.wait import wait_until

SCRIPT = inspect.getsource(echo)
TTL_S = 900.0  # the most a prober left by a runner that died runs on its host


class RemoteUdpProber:
    """start()/stop(), arrivals, received_since and sent as siteproof.probes.prober.UdpProber."""

    def __init__(self, backend: Backend, client: tuple[str, str, int], server: tuple[str, str, int],
                 interval: float = 0.005) -> None:
        self.backend = backend
        self.client, self.server = client, server  # (node, address, port)
        self.interval = interval
        self._sent = 0
        self.started = self.stopped = 0.0
        self._offset = 0.0
        self._scratch = Path(tempfile.mkdtemp(prefix="siteproof-prober-"))
        self._sender: Background | None = None
        self._reflector: Background | None = None
        self._read_to = 0
        self._arrivals: list[float] = []
        self._end: dict[str, float] | None = None

    def _start(self, role: str, node: str, job: dict) -> Background:
        require_program(self.backend, node, "python3", "python3")
        out = self._scratch / f"{role}.out"
        proc = self.backend.start(node, ["python3", "-c", SCRIPT, role, json.dumps(job)], out, out.with_suffix(".err"), TTL_S)
        ready = wait_until(lambda: _first(out) or (None if proc.running() else {"died": proc.errors()}), "daemon_ready",
                           expected=f"the echo {role} on {node}").value
        if "died" in ready:
            raise SiteproofError(f"the echo {role} on {node} exited: {ready['died'].strip()[-300:]}")
        return proc

    def start(self) -> RemoteUdpProber:
        (cnode, caddr, cport), (snode, saddr, sport) = self.client, self.server
        self._reflector = self._start("reflect", snode, {"bind": saddr, "port": sport, "seconds": TTL_S})
        self._sender = self._start("probe", cnode, {"bind": caddr, "sport": cport, "target": saddr, "port": sport,
                                                     "interval": self.interval, "seconds": TTL_S})
        self.started = time.monotonic()
        self._offset = self.started - float(_first(self._scratch / "probe.out")["ready"])
        return self

    def _read(self) -> None:
        path = self._scratch / "probe.out"
        if not path.exists():  # not started, or stopped and read to its end
            return
        with path.open("rb") as fh:
            fh.seek(self._read_to)
            data = fh.read()
        complete = data[:data.rfind(b"\n") + 1]  # a line still being written is read next time
        self._read_to += len(complete)
        for line in complete.decode(errors="replace").splitlines():
            item = json.loads(line) if line.strip() else {}
            if "a" in item:
                self._arrivals.append(float(item["a"]) + self._offset)
            elif "s" in item:
                self._sent = int(item["s"])
            elif "sent" in item:
                self._end = item
                self._sent = int(item["sent"])

    @property
    def sent(self) -> int:
        """Datagrams sent so far (as the sender last said; all of them once stopped)."""
        self._read()
        return self._sent

    @property
    def arrivals(self) -> list[float]:
        self._read()
        return self._arrivals

    def received_since(self, since: float) -> int:
        return sum(1 for t in self.arrivals if t >= since)

    def stop(self) -> ProbeResult:
        self.stopped = time.monotonic()
        time.sleep(self.interval * 4)  # let the echoes in flight arrive
        for proc in (self._sender, self._reflector):
            if proc is not None:
                proc.stop()
        self._read()
        shutil.rmtree(self._scratch, ignore_errors=True)
        if self._end is None:
            raise SiteproofError(f"the echo prober on {self.client[0]} ended without its count: "
                                 f"{self._sender.errors().strip()[-300:] if self._sender else ''}")
        return self.result()

    def result(self) -> ProbeResult:
        gap = longest_gap(self.arrivals, self.started, self.stopped, over=self.interval * 3)
        return ProbeResult(self.sent, len(self.arrivals), self.interval * 1000, gap.seconds * 1000, gap.start,
                           [(start, seconds * 1000) for start, seconds in gap.long_ones])


def _first(path: Path) -> dict | None:
    """The first JSON line of a file, once it is complete."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return None
    return json.loads(text.split("\n", 1)[0]) if "\n" in text else None
