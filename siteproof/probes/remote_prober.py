"""The UDP echo prober where the runner cannot open sockets in the nodes (a site over SSH): the
sender and the reflector run on the hosts themselves (siteproof.probes.echo, left running with
Backend.start) and the runner reads the echoes' arrival times as they come.

Times: gaps are measured on the sending host's own clock (exact); to compare an echo with a
moment of the runner (a fault's start), the host's clock is mapped to the runner's
(siteproof.probes.hostscript): an echo may read late by one line's delivery, never early.
"""

from __future__ import annotations

import inspect
import time

from siteproof.backends.base import Backend
from siteproof.probes import echo
from siteproof.probes.gap import longest_gap
from siteproof.probes.hostscript import TTL_S, HostScript, HostScriptPair
from siteproof.probes.prober import ProbeResult

SCRIPT = inspect.getsource(echo)


class RemoteUdpProber(HostScriptPair):
    """start()/stop(), arrivals, received_since and sent as siteproof.probes.prober.UdpProber."""

    def __init__(self, backend: Backend, client: tuple[str, str, int], server: tuple[str, str, int],
                 interval: float = 0.005) -> None:
        super().__init__("siteproof-prober-")
        self.backend = backend
        self.client, self.server = client, server  # (node, address, port)
        self.interval = interval
        self._sent = 0

    def start(self) -> RemoteUdpProber:
        (cnode, caddr, cport), (snode, saddr, sport) = self.client, self.server
        self.answerer = HostScript(self.backend, snode, SCRIPT, "reflect", {"bind": saddr, "port": sport, "seconds": TTL_S},
                                     self._scratch, f"the echo reflector on {snode}").start()
        self.sender = HostScript(self.backend, cnode, SCRIPT, "probe",
                                  {"bind": caddr, "sport": cport, "target": saddr, "port": sport,
                                   "interval": self.interval, "seconds": TTL_S},
                                  self._scratch, f"the echo prober on {cnode}").start()
        self.started = time.monotonic()
        return self

    def _read(self) -> None:
        if self.sender is None:
            return
        for item in self.sender.lines():
            if "a" in item:
                self._arrivals.append(self.sender.local(float(item["a"])))
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

    def stop(self) -> ProbeResult:
        self.stopped = time.monotonic()
        time.sleep(self.interval * 4)  # let the echoes in flight arrive
        self._finish(f"the echo prober on {self.client[0]}")
        return self.result()

    def result(self) -> ProbeResult:
        gap = longest_gap(self.arrivals, self.started, self.stopped, over=self.interval * 3)
        return ProbeResult(self.sent, len(self.arrivals), self.interval * 1000, gap.seconds * 1000, gap.start,
                           [(start, seconds * 1000) for start, seconds in gap.long_ones])
