"""Packet captures in lab nodes: tcpdump writes a pcap in the lab's directory; reading it back."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from siteproof.backends.netns.lab import Lab
from siteproof.probes.ssh import SSH_PORT
from siteproof.wait import wait_until

_RST_LINE = re.compile(r"IP (?P<src>[\d.]+)\.(?P<sport>\d+) > (?P<dst>[\d.]+)\.(?P<dport>\d+): Flags \[R")


@dataclass
class RstCapture:
    """tcpdump of every TCP RST to or from port 22 at a client namespace, in the lab's directory."""

    lab: Lab
    node: str
    path: Path
    proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> RstCapture:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        err = self.path.with_suffix(".stderr")
        with open(err, "wb") as fh:
            self.proc = self.lab.spawn(
                self.node, ["tcpdump", "-i", "eth1", "-nn", "-U", "-w", str(self.path),
                            f"tcp port {SSH_PORT} and (tcp[tcpflags] & tcp-rst != 0)"],
                cwd=self.path.parent, stdout=subprocess.DEVNULL, stderr=fh,
            )
        wait_until(lambda: "listening on" in err.read_text(errors="replace") or self.proc.poll() is not None,  # type: ignore[union-attr]
                   "daemon_ready", expected="tcpdump listening")
        if self.proc.poll() is not None:
            raise RuntimeError(f"tcpdump exited: {err.read_text(errors='replace')}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def resets(self) -> list[tuple[str, int, str, int]]:
        """(src, sport, dst, dport) of every RST captured so far."""
        out = subprocess.run(["tcpdump", "-nn", "-r", str(self.path)], capture_output=True, text=True, check=False)
        return [(m["src"], int(m["sport"]), m["dst"], int(m["dport"])) for m in _RST_LINE.finditer(out.stdout)]

    def resets_of(self, source: tuple[str, int]) -> int:
        return sum(1 for src, sport, dst, dport in self.resets() if (src, sport) == source or (dst, dport) == source)
