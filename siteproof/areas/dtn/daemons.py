"""The DTN area's lab daemon: the DTN service on its profile's ports."""

from __future__ import annotations

from siteproof.daemons.base import PythonDaemon, register


@register
class DtnService(PythonDaemon):
    kind = "dtnservice"
    module = "siteproof.areas.dtn.service"
