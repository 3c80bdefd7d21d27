"""The IB area's lab daemon: the address monitor on every EPN host namespace (IB-4)."""

from __future__ import annotations

from siteproof.daemons.base import PythonDaemon, register

EVENTS_FILE = "events.jsonl"


@register
class AddrWatch(PythonDaemon):
    kind = "addrwatch"
    module = "siteproof.probes.addrwatch"
