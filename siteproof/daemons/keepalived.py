"""keepalived (VRRP only) in a lab node, with its own pid files and console log."""

from __future__ import annotations

import os
import re
import signal

from siteproof.daemons.base import Daemon, register
from siteproof.errors import DaemonError

_STATE = re.compile(r"\((?P<instance>[^)]+)\) Entering (?P<state>MASTER|BACKUP|FAULT) STATE")


@register
class Keepalived(Daemon):
    kind = "keepalived"
    binary = "keepalived"
    crash_pidfile = "vrrp.pid"  # its VRRP process: the parent respawns it (see crash)
    package = "keepalived"
    # Its clean stop (about 1 s: VIPs withdrawn, priority-0 adverts) speaks only to peers in
    # the lab being torn down with it: killed at once.
    stop_grace = 0.0
    timers_from_start = True  # master-down: 3 adverts and a skew before a VIP goes home

    def command(self) -> list[str]:
        r = self.rundir
        return [
            self.binary,
            "--dont-fork",
            "--log-console",
            "--no-syslog",
            # No --log-detail: it logs every gratuitous ARP, and in a 24-gateway lab that
            # volume of log writes can stall keepalived long enough to miss its own timers.
            "--vrrp",
            f"--use-file={self.config_path}",
            f"--pid={r}/keepalived.pid",
            f"--vrrp_pid={r}/vrrp.pid",
            f"--checkers_pid={r}/checkers.pid",
            *self.extra_args,
        ]

    def crash(self) -> str:
        """A crash of the VRRP process (what a segfault does): SIGKILL to keepalived's VRRP
        child. keepalived's parent respawns it, and the new child first drops the VIPs the dead
        one left, so the node stops answering for them. (Killing the parent too, as an OOM kill of
        the whole service would, leaves the VIPs on the node until keepalived is started again:
        only a service manager that restarts it, which Debian's unit does not, clears them.)"""
        try:
            child = int((self.rundir / "vrrp.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError) as exc:
            raise DaemonError(f"node {self.node}: keepalived's VRRP process id is unreadable ({exc})") from None
        try:
            ours = self.pid is not None and os.getpgid(child) == self.pid  # never signal another's process
        except ProcessLookupError:
            ours = False
        if not ours:
            raise DaemonError(f"node {self.node}: pid {child} in vrrp.pid is not keepalived's VRRP process")
        os.kill(child, signal.SIGKILL)
        return f"keepalived VRRP process {child}"

    def instance_states(self) -> dict[str, str]:
        """The last state each VRRP instance announced in the log (read incrementally)."""
        if getattr(self, "_read_pid", None) != self.pid:  # a new run: start at its first line
            self._states: dict[str, str] = {}
            self._read_pid = self.pid
            self._offset = self.log_start
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except FileNotFoundError:
            return self._states
        whole = chunk.rfind(b"\n") + 1  # only complete lines; the rest is read next time
        self._offset += whole
        for match in _STATE.finditer(chunk[:whole].decode(errors="replace")):
            self._states[match["instance"]] = match["state"]
        return self._states

    def is_ready(self) -> bool:
        # Ready once every configured instance has left INIT (announced a state). A config with
        # no instance (a member whose instance was removed) runs, and announces nothing.
        wanted = set(re.findall(r"^\s*vrrp_instance\s+(\S+)", self.config_text, re.M))
        if not wanted:
            return self.running()
        return wanted <= set(self.instance_states())
