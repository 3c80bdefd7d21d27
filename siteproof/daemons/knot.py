"""Knot DNS (knotd) in a lab node: the secondary on a second implementation."""

from __future__ import annotations

from siteproof.daemons.base import Daemon, register


@register
class Knot(Daemon):
    kind = "knot"
    binary = "knotd"
    package = "knot"

    def command(self) -> list[str]:
        return [self.check_installed(), "-c", str(self.config_path), *self.extra_args]

    def is_ready(self) -> bool:
        return "server started" in self.log_of_this_run()
