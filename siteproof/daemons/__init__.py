"""Daemons run inside lab nodes: one class per daemon kind, one registry."""

from __future__ import annotations

from siteproof.daemons.base import Daemon
from siteproof.daemons.keepalived import Keepalived

DAEMON_KINDS: dict[str, type[Daemon]] = {cls.kind: cls for cls in (Keepalived,)}

__all__ = ["DAEMON_KINDS", "Daemon", "Keepalived"]
