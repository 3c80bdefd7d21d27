"""Daemons run inside lab nodes: one class per daemon kind, one registry."""

from __future__ import annotations

from siteproof.daemons.base import Daemon
from siteproof.daemons.keepalived import Keepalived
from siteproof.daemons.loginlb import LoginAgent
from siteproof.daemons.named import Named
from siteproof.daemons.sshd import Sshd

DAEMON_KINDS: dict[str, type[Daemon]] = {cls.kind: cls for cls in (Keepalived, Sshd, Named, LoginAgent)}

__all__ = ["DAEMON_KINDS", "Daemon", "Keepalived", "LoginAgent", "Named", "Sshd"]
