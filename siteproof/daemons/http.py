"""An HTTP listener in a lab node (Python's http.server): an API gateway or a BMC's web port.

Config: KEY=VALUE lines, `bind` (the address) and `port`.
"""

from __future__ import annotations

import sys

from siteproof.daemons.base import Daemon, register


@register
class Http(Daemon):
    kind = "http"
    binary = sys.executable
    package = "python3"

    def settings(self) -> dict[str, str]:
        lines = [line.strip() for line in self.config_text.splitlines() if line.strip() and not line.startswith("#")]
        return dict(line.split("=", 1) for line in lines)

    def command(self) -> list[str]:
        s = self.settings()
        return [sys.executable, "-u", "-m", "http.server", s["port"], "--bind", s["bind"], "--directory", str(self.rundir)]

    def is_ready(self) -> bool:
        return "Serving HTTP on" in self.log_of_this_run()
