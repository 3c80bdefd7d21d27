"""The stranded-record reconciler (siteproof.dnsreconcile) as a lab daemon."""

from __future__ import annotations

import sys

from siteproof.daemons.base import Daemon


class Reconciler(Daemon):
    kind = "reconciler"
    binary = sys.executable
    package = "python3"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "siteproof.dnsreconcile", str(self.config_path)]

    def is_ready(self) -> bool:
        return " ready: " in self.log_of_this_run()
