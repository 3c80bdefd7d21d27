"""The stranded-record reconciler (siteproof.areas.dns.reconciler) as a lab daemon."""

from __future__ import annotations

from siteproof.daemons.base import PythonDaemon, register


@register
class Reconciler(PythonDaemon):
    kind = "reconciler"
    module = "siteproof.areas.dns.reconciler"
