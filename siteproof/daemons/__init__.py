"""Daemons run inside lab nodes: one module per daemon kind, each registering itself.

The core kinds are imported here; an area registers its own services (the login health
agent, the DNS reconciler) in its package. `daemon_kinds()` is the complete registry.
"""

from __future__ import annotations

from siteproof.daemons import chrony, container, etcd, frr, http, keepalived, knot, named, sshd, unbound  # noqa: F401 - they register
from siteproof.daemons.base import DAEMON_KINDS, Daemon, DaemonContext, register


def daemon_kinds() -> dict[str, type[Daemon]]:
    """Every registered daemon kind, the areas' included."""
    from siteproof import areas

    areas.load_all()
    return DAEMON_KINDS


__all__ = ["DAEMON_KINDS", "Daemon", "DaemonContext", "daemon_kinds", "register"]
