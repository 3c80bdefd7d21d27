"""The one backend interface: what suites may ask of a site, a lab or real hosts alike.

Every backend runs commands and reads files on its nodes and hands out testinfra hosts.
What only some backends can do is a capability; a test asks for the capability and is
skipped, with the backend and the capability named, where it is missing. No suite asks
which backend it has.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar, runtime_checkable

from testinfra.host import Host

from siteproof.backends.background import Background
from siteproof.errors import SiteproofError

T = TypeVar("T")

# Capabilities (the words tests ask for).
FAULTS = "faults"  # kill, stop, freeze daemons; pull cables; reconfigure nodes
TRAFFIC_COUNTERS = "traffic counters"  # install counting rules on nodes (changes their rulesets)
SOCKETS = "sockets in nodes"  # open a socket inside a node and send from its addresses
DAEMON_FILES = "daemon files"  # read the files of a node's daemons directly (logs, status)
CAPABILITIES = (FAULTS, TRAFFIC_COUNTERS, SOCKETS, DAEMON_FILES)


class MissingCapability(Exception):
    """A test asked for something this backend cannot do; the test is skipped with this."""


@runtime_checkable
class Backend(Protocol):
    """A place where a site's nodes live: a netns lab, or real hosts over SSH."""

    kind: str  # "netns" or "ssh"
    capabilities: frozenset[str]
    shared_dir: Path | None  # files the whole lab shares (with DAEMON_FILES)

    def host(self, node: str) -> Host:
        """The node as a testinfra host."""
        ...

    def nodes(self) -> list[str]:
        ...

    def run(self, node: str, *argv: str, check: bool = True, timeout: float = 30,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command on the node (no shell); check=True raises on a non-zero exit."""
        ...

    def read_file(self, node: str, path: str) -> str:
        ...

    def addresses(self, nodes: list[str]) -> dict[str, set[str]]:
        """Every address on each node right now."""
        ...

    def daemon_dir(self, node: str, kind: str) -> Path | None:
        """Where the node's daemon of this kind keeps its run files, if the backend knows."""
        ...

    def start(self, node: str, argv: list[str], stdout: Path, stderr: Path, ttl: float) -> Background:
        """Leave a command running on the node (a capture, a server), its output in files here;
        it ends by Background.stop or, whatever happens to the runner, after ttl seconds."""
        ...

    def start_piped(self, node: str, argv: list[str], stderr: Path, ttl: float) -> Background:
        """Leave a command running on the node with its stdin and stdout as pipes here (proc.stdin,
        proc.stdout) and its stderr in a file; ends as start's."""
        ...

    def has_program(self, node: str, program: str) -> bool:
        """Whether the node can run the program (a probe's tool: tcpdump, iperf3, python3)."""
        ...

    # Only with SOCKETS:
    def socket(self, node: str, family: int, kind: int) -> socket.socket:
        ...

    def call_in(self, node: str, fn: Callable[[], T]) -> T:
        """Call fn inside the node's network namespace."""
        ...

    # Only with FAULTS: the fault primitives siteproof.faults.Faults is made of.
    def data_interfaces(self, node: str) -> list[str]:
        """The node's interfaces a fault may take down (never lo, never the runner's own way in)."""
        ...

    def set_link(self, node: str, ifname: str, up: bool) -> None:
        """A cable pulled (up=False) or put back: the node sees its link lose and regain carrier."""
        ...

    def clock_offset(self, node: str) -> float:
        """The node's clock minus the runner's, in seconds (0 in a lab): faults are logged in host time."""
        ...

    def last_fault_at(self) -> float | None:
        """When the last fault primitive sent the change that is the fault itself (monotonic), if it
        first prepared it (armed its undo, saved state); None: it took effect when called."""
        ...

    def crash_daemon(self, node: str, kind: str) -> str:
        """Kill the daemon without a chance to clean up (SIGKILL); returns what was killed."""
        ...

    def stop_daemons(self, nodes: list[str], kind: str) -> None:
        """A clean stop (as `systemctl stop`) of the daemon on every node at once; returns when all are down."""
        ...

    def start_daemon(self, node: str, kind: str) -> None:
        """Start the daemon and return when it is ready."""
        ...

    def start_stopped(self, nodes: list[str], kind: str) -> None:
        """Start the daemon wherever it is not running, all at once; return when each is ready."""
        ...

    def add_table(self, node: str, family: str, table: str, body: str) -> None:
        """A fault made of rules: an nft table of siteproof's own (siteproof_*; its chains in body)
        on the node, replacing any earlier one of that name; removed by delete_table."""
        ...

    def delete_table(self, node: str, family: str, table: str) -> None:
        """Remove a table add_table made (nothing if it is not there)."""
        ...

    def power_off(self, node: str) -> str:
        """The host powered off (MissingCapability where the backend has no power to cut: a netns
        lab, a site whose inventory names no power commands); returns how."""
        ...

    def power_on(self, node: str) -> None:
        """The host powered on again; returns when it answers."""
        ...

    def freeze(self, node: str) -> None:
        """A hung host: its processes stopped and its data interfaces dropping everything."""
        ...

    def thaw(self, node: str) -> None:
        """The hung host resumes: its network first, then its processes."""
        ...


def require(backend: Backend, capability: str) -> None:
    """Raise MissingCapability unless the backend has the capability."""
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r} (known: {', '.join(CAPABILITIES)})")
    if capability not in backend.capabilities:
        raise MissingCapability(f"needs {capability!r}, which the {backend.kind} backend does not offer")


class MissingProgram(MissingCapability):
    """A site host lacks a program a probe runs there; the test is skipped naming both."""


def require_program(backend: Backend, node: str, program: str, package: str) -> None:
    """A probe's program on the node: at a site its absence skips the test, naming the host and
    the program; in a lab it is an error (the set-up installs every package the suites use)."""
    if backend.has_program(node, program):
        return
    if backend.kind == "netns":
        raise SiteproofError(f"{program} is not installed (Debian package {package!r}; the README's set-up installs it)")
    raise MissingProgram(f"site host {node} has no {program} (Debian package {package!r}), which this test runs there")
