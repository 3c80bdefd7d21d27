"""A container's first process (siteproof.containers): it builds the container's network
inside its own namespace, then stays until stopped. Config: the helper's JSON spec, with
"host" naming the host node; the lab fills in that node's namespace."""

from __future__ import annotations

import json

from siteproof.daemons.base import PythonDaemon, register
from siteproof.errors import DaemonError


@register
class Container(PythonDaemon):
    kind = "container"
    module = "siteproof.containers"
    tools = {"ip": "iproute2"}

    def prepare(self) -> None:
        spec = json.loads(self.config_path.read_text())
        if self.context.netns_of is None:
            raise DaemonError(f"node {self.node}: a container needs its host's namespace, which this backend has not")
        spec["host_netns"] = self.context.netns_of(spec["host"])
        self.config_path.write_text(json.dumps(spec, indent=1))
