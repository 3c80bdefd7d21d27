"""testinfra hosts whose commands run inside a lab node's network namespace.

A suite gets the same testinfra `Host` API in a lab (this backend) and at a real site
(testinfra's ssh backend), so reading addresses, routes, sysctls and files is one code.
"""

from __future__ import annotations

from typing import Any

import testinfra.host
from testinfra.backend.base import CommandResult
from testinfra.backend.local import LocalBackend


class NetnsBackend(LocalBackend):
    """testinfra's local backend, with every command entered into one namespace."""

    NAME = "netns"

    def __init__(self, namespace: str, node: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.namespace = namespace
        self.node = node

    def get_pytest_id(self) -> str:
        return self.node

    def get_hostname(self) -> str:
        return self.node

    def run(self, command: str, *args: str, **kwargs: Any) -> CommandResult:
        inner = self.get_command(command, *args)
        return self.run_local("ip netns exec %s /bin/sh -c %s", self.namespace, inner)


def netns_host(namespace: str, node: str) -> testinfra.host.Host:
    return testinfra.host.Host(NetnsBackend(namespace, node))
