"""chronyd in a lab node: an NTP server on its own clock, never setting the machine's (-x)."""

from __future__ import annotations

from siteproof.daemons.base import Daemon, register


@register
class Chronyd(Daemon):
    kind = "chronyd"
    binary = "chronyd"
    package = "chrony"

    def command(self) -> list[str]:
        # -d: foreground, log to stderr (our log file); -x: never touch the system clock;
        # -u root: its run directory is the lab's. The pid file is the lab's too (not /run/chrony).
        return [self.check_installed(), "-d", "-x", "-u", "root", "-f", str(self.config_path), *self.extra_args]

    def prepare(self) -> None:
        # chronyd's default pid file and command socket are the machine's (/run/chrony/chronyd.pid,
        # chronyd.sock): two labs, and the host's own chronyd, would share them. A pid file per lab
        # node, and no command socket at all ("/" turns it off; nothing here runs chronyc).
        with open(self.config_path, "a") as fh:
            fh.write(f"pidfile {self.rundir / 'chronyd.pid'}\nbindcmdaddress /\n")

    def is_ready(self) -> bool:
        return "starting" in self.log_of_this_run() and (self.rundir / "chronyd.pid").exists()
