"""keepalived (VRRP only) in a lab node, with its own pid files and console log."""

from __future__ import annotations

import re

from siteproof.daemons.base import Daemon

_STATE = re.compile(r"\((?P<instance>[^)]+)\) Entering (?P<state>MASTER|BACKUP|FAULT) STATE")


class Keepalived(Daemon):
    kind = "keepalived"
    binary = "keepalived"
    package = "keepalived"

    def command(self) -> list[str]:
        r = self.rundir
        return [
            self.binary,
            "--dont-fork",
            "--log-console",
            "--log-detail",
            "--vrrp",
            f"--use-file={self.config_path}",
            f"--pid={r}/keepalived.pid",
            f"--vrrp_pid={r}/vrrp.pid",
            f"--checkers_pid={r}/checkers.pid",
            *self.extra_args,
        ]

    def instance_states(self) -> dict[str, str]:
        """The last state each VRRP instance announced in the log."""
        states: dict[str, str] = {}
        for match in _STATE.finditer(self.log()):
            states[match["instance"]] = match["state"]
        return states

    def is_ready(self) -> bool:
        # Ready once every configured instance has left INIT (announced a state).
        wanted = set(re.findall(r"^\s*vrrp_instance\s+(\S+)", self.config_text, re.M))
        return bool(wanted) and wanted <= set(self.instance_states())
