"""The CE area's lab daemons: XRootD (Debian's xrootd-server) and the MonALISA receiver."""

from __future__ import annotations

import shutil

from siteproof.daemons.base import Daemon, PythonDaemon, register

COUNTS_FILE = "counts.json"


@register
class Xrootd(Daemon):
    """A real XRootD server on tcp/1094. It refuses to run as root, so it drops to the
    package's user, and works in a private /var/tmp of its own mount namespace (the lab's
    directories are root's alone); its config is copied there first."""

    kind = "xrootd"
    binary = "xrootd"
    package = "xrootd-server"
    tools = {"xrdfs": "xrootd-client"}
    private_dirs = ("/var/tmp",)
    WORK = "/var/tmp/xrootd"

    def command(self) -> list[str]:
        user = "xrootd"
        script = (f"mkdir -p {self.WORK}/data && cp {self.config_path} {self.WORK}/xrootd.cfg && "
                  f"chown -R {user}: {self.WORK} && cd {self.WORK} && "
                  f"exec {self.check_installed()} -R {user} -c {self.WORK}/xrootd.cfg -n ce")
        return [shutil.which("sh") or "/bin/sh", "-c", script]

    def is_ready(self) -> bool:
        return "initialization completed" in self.log_of_this_run()


@register
class Monalisa(PythonDaemon):
    kind = "monalisa"
    module = "siteproof.areas.ce.monalisa"
