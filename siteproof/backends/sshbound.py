"""testinfra's SSH backend with a bound on every command.

testinfra waits for ssh for ever: a site host that accepts the connection and then stalls (a
hung sshd, a half-open path) would hang the whole run. Here every command has a time limit;
past it the local ssh (and anything it started) is killed and the test fails with one line
naming the host, the command and the limit. ServerAlive settings end an established
connection that stops answering before the limit does.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
from collections.abc import Iterator
from typing import Any

from testinfra.backend.base import CommandResult
from testinfra.backend.ssh import SshBackend as TestinfraSsh
from testinfra.host import Host

from siteproof.errors import SiteproofError

DEFAULT_COMMAND_TIMEOUT_S = 60.0
# An established connection that stops answering ends after 3 x 5 s (ssh's own check).
KEEPALIVE = "-o ServerAliveInterval=5 -o ServerAliveCountMax=3"


def ssh_argv(line: str) -> list[str]:
    """testinfra's ssh line as the words a shell would make of it, to run with no shell at all:
    every value in it (host, user, port, ssh_config, the remote command) is shlex-quoted by
    testinfra, and its literal options hold no shell syntax, so splitting undoes exactly that
    quoting and nothing on the line is ever interpreted."""
    return shlex.split(line)


class SiteTimeout(SiteproofError):
    """A command on a site host ran past its bound."""


class BoundedSsh(TestinfraSsh):
    NAME = "ssh"

    def __init__(self, hostspec: str, *, command_timeout: float = DEFAULT_COMMAND_TIMEOUT_S, **kwargs: Any) -> None:
        super().__init__(hostspec, **kwargs)
        self.command_timeout = command_timeout

    @contextlib.contextmanager
    def bound(self, seconds: float) -> Iterator[None]:
        """Commands run inside take this bound instead of the default."""
        saved, self.command_timeout = self.command_timeout, seconds
        try:
            yield
        finally:
            self.command_timeout = saved

    def run_ssh(self, command: str) -> CommandResult:
        self._asked = command  # for the timeout's message: what the host was asked, not the ssh line
        return super().run_ssh(command)

    def run_local(self, command: str, *args: str) -> CommandResult:
        command = self.quote(command, *args)
        cmd = self.encode(command)
        # Its own session, so that a timeout kills ssh and anything ssh started (a ProxyCommand).
        proc = subprocess.Popen(ssh_argv(command), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            stdout, stderr = proc.communicate(timeout=self.command_timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise SiteTimeout(f"site host {self.host.name}: no answer within {self.command_timeout:g} s to: "
                              f"{getattr(self, '_asked', command)}") from None
        return self.result(proc.returncode, cmd, stdout, stderr)

    def popen(self, command: str, stdout: int, stderr: int, stdin: int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
        """The ssh carrying a command left running (its output into the given descriptors or
        pipes), in its own session; the caller bounds it (a remote `timeout`) and stops it."""
        cmd, cmd_args = self._build_ssh_command(command)
        return subprocess.Popen(ssh_argv(self.quote(" ".join(cmd), *cmd_args)), stdin=stdin, stdout=stdout,
                                stderr=stderr, start_new_session=True)


def bounded_host(target: str, *, connect_timeout: int, command_timeout: float = DEFAULT_COMMAND_TIMEOUT_S,
                 ssh_config: str | None = None, fresh_connection: bool = False) -> Host:
    """A testinfra host over SSH whose every command is bounded (target: [user@]host[:port],
    already checked: siteproof.backends.ssh.check_ssh_targets). fresh_connection: never through a
    multiplexed master another run left (ControlPath in an ssh_config): a reachability check
    must open its own connection from where it runs."""
    fresh = " -o ControlMaster=no -o ControlPath=none" if fresh_connection else ""
    backend = BoundedSsh(target, ssh_config=ssh_config, timeout=connect_timeout, command_timeout=command_timeout,
                         ssh_extra_args=f"-o ConnectTimeout={connect_timeout} -o BatchMode=yes {KEEPALIVE}{fresh}")
    host = Host(backend)
    backend.set_host(host)
    return host
