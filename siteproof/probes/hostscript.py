"""One role of a shipped standard-library script (siteproof.probes.echo, .tcphost) left running on
a node with Backend.start, its JSON lines read here as they come.

The first line is {"ready": T} on the host's monotonic clock. `offset` maps the host's clock to
the runner's by the moment that line was seen here: a later time may read late by one line's
delivery (milliseconds in a lab, one SSH round trip at a site), never early.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from siteproof.backends.background import Background
from siteproof.backends.base import Backend, require_program
from siteproof.errors import SiteproofError
from siteproof.wait import wait_until

TTL_S = 900.0  # the most a script left by a runner that died runs on its host


class HostScript:
    def __init__(self, backend: Backend, node: str, source: str, role: str, job: dict, scratch: Path,
                 what: str) -> None:
        self.backend, self.node, self.source, self.role, self.job = backend, node, source, role, job
        self.what = what  # for messages: "the echo reflector on gw01"
        self.out = scratch / f"{role}-{node}.out"
        self.proc: Background | None = None
        self.ready: dict = {}
        self.offset = 0.0
        self._read_to = 0

    def start(self) -> HostScript:
        """Started and ready (its first line read), or one error with what it said."""
        require_program(self.backend, self.node, "python3", "python3")
        proc = self.proc = self.backend.start(self.node, ["python3", "-c", self.source, self.role, json.dumps(self.job)],
                                              self.out, self.out.with_suffix(".err"), TTL_S)
        ready = wait_until(lambda: _first(self.out) or (None if proc.running() else {"died": proc.errors()}),
                           "daemon_ready", expected=self.what).value
        if "died" in ready:
            raise SiteproofError(f"{self.what} exited: {ready['died'].strip()[-300:]}")
        self.offset = time.monotonic() - float(ready["ready"])
        self.ready = ready
        return self

    def lines(self) -> list[dict]:
        """The lines written since the last call (a line still being written comes next time)."""
        if not self.out.exists():
            return []
        with self.out.open("rb") as fh:
            fh.seek(self._read_to)
            data = fh.read()
        complete = data[:data.rfind(b"\n") + 1]
        self._read_to += len(complete)
        return [json.loads(line) for line in complete.decode(errors="replace").splitlines() if line.strip()]

    def local(self, host_time: float) -> float:
        """A host monotonic time as the runner's."""
        return host_time + self.offset

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def errors(self) -> str:
        return self.proc.errors().strip()[-300:] if self.proc else ""


class HostScriptPair:
    """A sending end and an answering end run by their hosts, read as one: the sender's arrival
    times and its final count. A subclass starts `self.sender` and `self.answerer` and reads their
    lines in `_read`."""

    def __init__(self, scratch_prefix: str) -> None:
        self.started = self.stopped = 0.0
        self.sender: HostScript | None = None
        self.answerer: HostScript | None = None
        self._scratch = Path(tempfile.mkdtemp(prefix=scratch_prefix))
        self._arrivals: list[float] = []
        self._end: dict | None = None

    def _read(self) -> None:
        raise NotImplementedError

    @property
    def arrivals(self) -> list[float]:
        self._read()
        return self._arrivals

    def received_since(self, since: float) -> int:
        return sum(1 for t in self.arrivals if t >= since)

    def _finish(self, what: str) -> None:
        """Both ends stopped, their last lines read and their files gone; one error naming `what`
        if the sender never gave its final count."""
        for script in (self.sender, self.answerer):
            if script is not None:
                script.stop()
        self._read()
        shutil.rmtree(self._scratch, ignore_errors=True)
        if self._end is None:
            raise SiteproofError(f"{what} ended without its count: {self.sender.errors() if self.sender else ''}")


def _first(path: Path) -> dict | None:
    """The first JSON line of a file, once it is complete."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return None
    return json.loads(text.split("\n", 1)[0]) if "\n" in text else None
