"""FRR routing daemons (zebra, ospfd, bgpd) in a lab node: one set per router namespace.

Each daemon has its own config, pid file and log; the node's daemons share one directory,
`<node>/frr/`, for the zebra API socket (zserv.api) and the vty sockets, so that
`vtysh --vty_socket <that directory>` reaches all of them as it would on a router. They
log to stdout (their log file): this machine has no /dev/log, and a syslog fallback to the
serial console would stall the whole lab. They run as root: the run directories are the
lab's (0700), where FRR's user frr could not write.

A topology lists them as three daemons, ospfd and bgpd `after` the node's zebra.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from siteproof.daemons.base import Daemon, register

FRR_LIBEXEC = "/usr/lib/frr"
SHARED = "frr"  # the node's directory for the zebra API socket and the vty sockets


def vty_dir(run_dir_of_node: Path) -> Path:
    """Where a node's FRR vty sockets live, given the node's directory."""
    return run_dir_of_node / SHARED


class FrrDaemon(Daemon):
    package = "frr"
    tools: ClassVar[dict[str, str]] = {"vtysh": "frr"}
    private_dirs = ("/var/tmp",)  # FRR keeps per-process crash logs in /var/tmp/frr/<daemon>.<pid>

    @property
    def shared(self) -> Path:
        return self.context.run_dir(self.node, SHARED)

    def sockets(self) -> list[Path]:
        return [self.shared / f"{self.kind}.vty"]

    def prepare(self) -> None:
        self.shared.mkdir(mode=0o700, parents=True, exist_ok=True)
        # A crashed daemon leaves its sockets; readiness must not be read from them.
        for stale in self.sockets():
            stale.unlink(missing_ok=True)

    def command(self) -> list[str]:
        return [
            self.binary,
            "--config_file", str(self.config_path),
            "--pid_file", str(self.rundir / f"{self.kind}.pid"),
            "--socket", str(self.shared / "zserv.api"),
            "--vty_socket", str(self.shared),
            "--vty_port", "0",  # no TCP vty: vtysh reaches the daemon on its unix socket
            # root, in the vty group: FRR refuses a user outside it (Debian builds with frrvty).
            "--user", "root", "--group", "frrvty",
            "--log", "stdout",
            *self.extra_args,
        ]

    def is_ready(self) -> bool:
        return (self.shared / f"{self.kind}.vty").exists()


@register
class Zebra(FrrDaemon):
    kind = "zebra"
    binary = f"{FRR_LIBEXEC}/zebra"

    def sockets(self) -> list[Path]:
        return [*super().sockets(), self.shared / "zserv.api"]

    def is_ready(self) -> bool:
        return all(path.exists() for path in self.sockets())


@register
class Ospfd(FrrDaemon):
    kind = "ospfd"
    binary = f"{FRR_LIBEXEC}/ospfd"
    timers_from_start = True  # hellos, then the wait timer before adjacencies form


@register
class Bgpd(FrrDaemon):
    kind = "bgpd"
    binary = f"{FRR_LIBEXEC}/bgpd"
    timers_from_start = True  # connect retries and open/keepalive exchange

    def command(self) -> list[str]:
        # -p 179 is the default; -l binds BGP to the node's own addresses only (all of them).
        return [*super().command(), "--bgp_port", "179"]
