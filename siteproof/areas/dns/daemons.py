"""The stranded-record reconciler (siteproof.areas.dns.reconciler) as a lab daemon."""

from __future__ import annotations

import sys

from siteproof.daemons.base import Daemon, register


@register
class Reconciler(Daemon):
    kind = "reconciler"
    binary = sys.executable
    package = "python3"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "siteproof.areas.dns.reconciler", str(self.config_path)]

    def is_ready(self) -> bool:
        return " ready: " in self.log_of_this_run()
