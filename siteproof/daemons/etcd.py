"""etcd (single member) in a lab node: the internal record source, as CSM feeds CoreDNS.

The config is a list of etcd command-line flags, one per line (`#` starts a comment).
"""

from __future__ import annotations

from siteproof.daemons.base import Daemon, register


@register
class Etcd(Daemon):
    kind = "etcd"
    binary = "etcd"
    package = "etcd-server"

    def command(self) -> list[str]:
        flags = [line.strip() for line in self.config_path.read_text().splitlines()
                 if line.strip() and not line.strip().startswith("#")]
        return [self.check_installed(), *flags, *self.extra_args]

    def is_ready(self) -> bool:
        log = self.log_of_this_run()  # the message differs between etcd's loggers
        return "serving client traffic" in log or "ready to serve client requests" in log
