"""A command left running on a node (tcpdump, an iperf3 server) while a test does its work.

Every backend starts one the same way (Backend.start): the command's stdout and stderr go to
files on the runner, so a capture's pcap (`tcpdump -w -`) or a server's messages are read here
whether the node is a namespace or a host over SSH. Stopping sends SIGINT (tcpdump flushes, an
iperf3 server ends its test) and, after a grace, SIGKILL; the process is always reaped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

STOP_GRACE_S = 5.0  # SIGINT to SIGKILL
# Over SSH the command runs under `timeout`: a runner that dies leaves nothing running at the
# site past this bound (the command's own `ttl`). The remote pid is the first line of stderr.
REMOTE_SCRIPT = 'echo "siteproof-pid $$" >&2; ttl=$1; shift; exec timeout -k 2 "$ttl" "$@"'
PID_MARK = "siteproof-pid "
# Stopping it over SSH: SIGINT to the pid it reported, only if that pid is still the `timeout`
# REMOTE_SCRIPT became (a pid reused since is left alone). The pid is the one parameter.
STOP_SCRIPT = ('case "$1" in *[!0-9]*|"") exit 2;; esac; '
               'case "$(tr "\\0" " " < "/proc/$1/cmdline" 2>/dev/null)" in "timeout -k 2 "*) exec kill -INT "$1";; esac; '
               'echo "pid $1 is not a command siteproof started" >&2; exit 3')
# Whether a host has a program: a lookup, fixed text, the program's name its one parameter.
WHICH_SCRIPT = 'command -v "$1"'


@dataclass
class Background:
    """A started command: `proc` runs here (the command itself, or the ssh carrying it);
    `interrupt` asks the command itself to stop (a signal to it wherever it runs)."""

    node: str
    argv: list[str]
    proc: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    interrupt: Callable[[], None] | None = None
    _stopped: bool = field(default=False, repr=False)

    def running(self) -> bool:
        return self.proc.poll() is None

    def returncode(self) -> int | None:
        return self.proc.poll()

    def errors(self) -> str:
        """What the command said on stderr (without the remote pid line)."""
        text = self.stderr.read_text(errors="replace") if self.stderr.exists() else ""
        return "\n".join(line for line in text.splitlines() if not line.startswith(PID_MARK))

    def stop(self) -> None:
        """SIGINT, then SIGKILL after a grace; reaped either way."""
        if self._stopped:
            return
        self._stopped = True
        if self.proc.poll() is None:
            if self.interrupt is not None:
                with contextlib.suppress(Exception):  # the local kill below still ends it here
                    self.interrupt()
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def remote_pid(stderr: Path) -> int | None:
    """The pid REMOTE_SCRIPT reported, once it has."""
    if not stderr.exists():
        return None
    for line in stderr.read_text(errors="replace").splitlines():
        if line.startswith(PID_MARK) and line[len(PID_MARK):].strip().isdigit():
            return int(line[len(PID_MARK):].strip())
    return None


def open_outputs(stdout: Path, stderr: Path) -> tuple[int, int]:
    """The two files a started command writes (created afresh); the caller closes both."""
    stdout.parent.mkdir(parents=True, exist_ok=True)
    stderr.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    return os.open(stdout, flags, 0o600), os.open(stderr, flags, 0o600)
