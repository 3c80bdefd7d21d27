"""Daemons run inside lab nodes: one class per daemon kind, one registry."""

from __future__ import annotations

from siteproof.daemons.base import Daemon
from siteproof.daemons.etcd import Etcd
from siteproof.daemons.keepalived import Keepalived
from siteproof.daemons.knot import Knot
from siteproof.daemons.loginlb import LoginAgent
from siteproof.daemons.named import Named
from siteproof.daemons.reconciler import Reconciler
from siteproof.daemons.sshd import Sshd
from siteproof.daemons.unbound import Unbound

DAEMON_KINDS: dict[str, type[Daemon]] = {
    cls.kind: cls for cls in (Keepalived, Sshd, Named, LoginAgent, Knot, Unbound, Etcd, Reconciler)
}

__all__ = ["DAEMON_KINDS", "Daemon", "Etcd", "Keepalived", "Knot", "LoginAgent", "Named", "Reconciler", "Sshd", "Unbound"]
