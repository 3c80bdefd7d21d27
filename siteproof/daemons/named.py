"""BIND 9 named in a lab node: config and zone files in its run directory, log on stderr."""

from __future__ import annotations

import re

from siteproof.daemons.base import Daemon

_RUNNING = re.compile(r" running$", re.M)


class Named(Daemon):
    kind = "named"
    binary = "named"
    package = "bind9"

    def command(self) -> list[str]:
        # -g: foreground, log to stderr; the config's paths are relative to the run directory.
        return [self.check_installed(), "-g", "-c", str(self.config_path), *self.extra_args]

    def is_ready(self) -> bool:
        return bool(_RUNNING.search(self.log_of_this_run()))
