"""One daemon in one lab node: render, start, wait ready, stop, kill, freeze, restart, log.

A daemon runs as its own session (process group) inside its node, with its own run
directory, so signals reach it and its children and nothing else. It is started through
its context (the backend's one way to spawn a process in a node) and reaches other nodes'
files only through the context's declared paths. Adding a daemon kind (FRR, conntrackd)
is a subclass that says how to start it and how to tell it is ready, registered with
@register: the schema, the preflight and the lab all learn of it from there.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol, TypeVar

from siteproof import budgets, procs
from siteproof.errors import DaemonError
from siteproof.wait import WaitTimeout, wait_until


class Process(Protocol):
    """What a daemon needs of its started process (subprocess.Popen has it; so does the
    netns launcher's handle)."""

    pid: int
    returncode: int | None

    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int: ...


@dataclass(frozen=True)
class PythonEntry:
    """A daemon written in Python: `function` (module:name) called with `argv`, which a
    backend may run in a process forked from one that imported the module already."""

    function: str
    argv: list[str]


# (argv, cwd, log file, python entry or None, private directories) -> a process in the node,
# in its own session
Spawn = Callable[[list[str], Path, Path, "PythonEntry | None", tuple[str, ...]], Process]


@dataclass(frozen=True)
class DaemonContext:
    """What a daemon may know of its lab: its node, the lab's files, how to start a process."""

    node: str
    lab_dir: Path
    spawn: Spawn
    # The name of a node's network namespace (under /run/netns): a container's start helper
    # moves an interface out of its host's.
    netns_of: Callable[[str], str] | None = None

    def run_dir(self, node: str, kind: str) -> Path:
        """Where NODE's daemon of KIND keeps its files (this node's own, or a peer's)."""
        return self.lab_dir / "nodes" / node / kind

    @property
    def shared_dir(self) -> Path:
        """Files the whole lab shares (an ssh host key that every login node presents)."""
        return self.lab_dir / "shared"


# A daemon that must use a fixed host path (sshd's privilege-separation directory /run/sshd)
# appends it to the lab's HOST_PATHS file, and when it makes the path it leaves CREATED_MARK
# inside: the last lab using the path removes it at teardown, and only if siteproof made it.
HOST_PATHS = "host-paths"
CREATED_MARK = ".made-by-siteproof"
# One lock for the whole machine, whatever folder a lab's state is in (tests use private ones).
HOST_PATHS_LOCK = Path("/run/siteproof/host-paths.lock")


@contextlib.contextmanager
def host_paths_lock() -> Iterator[None]:
    """Serialises the use and release of shared host paths between labs built at once (parallel
    test workers): without it a lab going down could remove /run/sshd between another lab's
    check and its sshd's start."""
    HOST_PATHS_LOCK.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(HOST_PATHS_LOCK, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)

DAEMON_KINDS: dict[str, type[Daemon]] = {}
D = TypeVar("D", bound="type[Daemon]")


def register(cls: D) -> D:
    """Class decorator: make a daemon kind known to topologies, the schema and the lab."""
    DAEMON_KINDS[cls.kind] = cls
    return cls


def find_binary(binary: str) -> str | None:
    return shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/bin:/sbin:/bin")

# A rendered config may carry more files for the daemon's run directory (zone files, keys):
# each starts at a line "### file: NAME" and runs to the next such line.
_FILE_MARK = re.compile(r"^### file: (?P<name>[A-Za-z0-9_.-]+)\n", re.M)

# Secrets in configs and logs (TSIG keys, VRRP auth) never reach a report.
_SECRET = re.compile(r"(?i)(secret|auth_pass|password|psk)(\"?\s*[:=]?\s*\"?)[^\s\";,]+")


def split_files(text: str) -> tuple[str, dict[str, str]]:
    """The main config and the extra files of a rendered daemon config."""
    parts = _FILE_MARK.split(text)
    return parts[0], dict(zip(parts[1::2], parts[2::2], strict=True))


# How daemons announce that they stop, and lines that say nothing about why.
_STOPPING = re.compile(r"(?i)(exiting|terminating|stopped|exited with|shutting down|fatal error)")
_GENERIC = re.compile(r"(?i)(loading configuration: failure|^\S* ?notice|starting |command line|running on|^\s*'--)")
_TIMESTAMP = re.compile(r"^(\w{3} \w{3} +\d+ [\d:]+ \d{4}: |[\d.]+ |\d{2}-\w{3}-\d{4} [\d:.]+ |\d{4}-\d{2}-\d{2}T\S+ )")


def reason_line(log: str) -> str:
    """The daemon's own reason for stopping, on one line: the last line that says something
    before it announces that it stops (keepalived, BIND, Knot, Unbound, etcd, sshd alike).
    Secrets redacted."""
    lines = [_TIMESTAMP.sub("", line).strip() for line in log.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return "it logged nothing"
    stop = next((i for i, line in enumerate(lines) if _STOPPING.search(line)), len(lines))
    before = [line for line in lines[:stop] if not _GENERIC.search(line)]
    return redact((before or lines)[-1])[:400]


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read: rendered configs hold TSIG keys and VRRP passwords."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older file of the same name keeps its mode otherwise
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def redact(text: str) -> str:
    return _SECRET.sub(r"\1\2<redacted>", text)


READY_POLL_S = 0.02


class Daemon:
    kind: ClassVar[str] = ""
    binary: ClassVar[str] = ""
    package: ClassVar[str] = ""  # the Debian package that provides `binary`
    tools: ClassVar[dict[str, str]] = {}  # other programs it needs at start -> Debian package
    # Machine directories the daemon writes to whatever its options say: each gets a private
    # empty tmpfs in the daemon's own mount namespace, so nothing of it stays on the machine.
    private_dirs: ClassVar[tuple[str, ...]] = ()
    # The budget its readiness waits on: a daemon whose start does work that grows with the
    # site (the NAT tracker routes every compute first) names its own.
    ready_budget: ClassVar[str] = "daemon_ready"
    # SIGTERM to SIGKILL when its lab is torn down: its namespace, addresses and files go
    # with it, so a clean stop has nothing to keep; most daemons are gone within this anyway.
    stop_grace: ClassVar[float] = 0.2
    # A daemon that reads other daemons' files as it prepares (named: its children's keys for
    # their DS records) is prepared alone; the rest of a wave are prepared in parallel.
    prepares_alone: ClassVar[bool] = False
    # A daemon whose parent supervises a worker names the worker's pid file: what a crash kills.
    crash_pidfile: ClassVar[str | None] = None
    # A protocol daemon whose election or adjacency runs on timers from its start: spawned ahead
    # of the rest of its wave, so its timers run while the others start up.
    timers_from_start: ClassVar[bool] = False

    def __init__(self, context: DaemonContext, config: str, args: tuple[str, ...] = ()) -> None:
        self.context = context
        self.node = context.node
        self.rundir = context.run_dir(context.node, self.kind)
        self.config_text = config
        self.extra_args = args
        self.proc: Process | None = None
        self.pid: int | None = None
        self.start_time: int | None = None
        self.frozen = False
        self.log_start = 0

    # --- what a subclass provides -------------------------------------------------
    def command(self) -> list[str]:
        raise NotImplementedError

    def is_ready(self) -> bool:
        raise NotImplementedError

    def prepare(self) -> None:
        """Anything the daemon needs in its run directory before it starts (keys, markers)."""

    def python_entry(self) -> PythonEntry | None:
        """Set by daemons written in Python (PythonDaemon)."""
        return None

    # --- paths ----------------------------------------------------------------------
    def placed(self, text: str) -> str:
        """A rendered config with its lab paths filled in: templates cannot know where the lab
        lives, so they name this daemon's run directory @RUNDIR@ and its node's @NODEDIR@
        (where the node's other daemons keep theirs: @NODEDIR@/conntrackd/...)."""
        return text.replace("@RUNDIR@", str(self.rundir)).replace("@NODEDIR@", str(self.rundir.parent))

    @property
    def config_path(self) -> Path:
        return self.rundir / f"{self.kind}.conf"

    @property
    def log_path(self) -> Path:
        return self.rundir / f"{self.kind}.log"

    # --- lifecycle ------------------------------------------------------------------
    @classmethod
    def missing_programs(cls) -> list[str]:
        """What this kind needs and the machine lacks, each with its Debian package."""
        wanted = {cls.binary: cls.package, **cls.tools}
        return [f"{program} (Debian package {package!r})" for program, package in wanted.items() if find_binary(program) is None]

    def check_installed(self) -> str:
        path = find_binary(self.binary)
        if path is None:
            raise DaemonError(
                f"node {self.node}: daemon {self.kind!r} needs {self.binary!r}, which is not installed "
                f"(Debian package {self.package!r}; the README's first command installs it)"
            )
        return path

    def start(self, wait: bool = True) -> None:
        self.started(self.context.spawn(*self.start_request()))
        if wait:
            self.wait_ready()

    def start_request(self) -> tuple[list[str], Path, Path, PythonEntry | None, tuple[str, ...]]:
        """Everything before the spawn (its files written, its folder made), and what to spawn:
        argv, folder, log, Python entry, private folders. A lab spawns a wave's daemons in one
        request to its launcher, then hands each its process (`started`)."""
        self.check_installed()
        self.rundir.mkdir(mode=0o700, parents=True, exist_ok=True)
        main, files = split_files(self.placed(self.config_text))
        write_private(self.config_path, main)
        for name, content in files.items():
            write_private(self.rundir / name, content)
        self.prepare()
        # Where this run's log begins: readiness must not be read from an earlier run's lines.
        self.log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        return self.command(), self.rundir, self.log_path, self.python_entry(), self.private_dirs

    def started(self, proc: Process) -> None:
        """The daemon's process, spawned from its start_request."""
        self.proc = proc
        self.pid = self.proc.pid
        self.start_time = procs.process_start_time(self.pid)
        self.frozen = False
        self._write_service_record()

    def _write_service_record(self) -> None:
        """How this daemon runs, for a service manager in the node (a lab played as a site stops,
        starts and crashes it over SSH: siteproof.backends.netns.labservice)."""
        entry = self.python_entry()
        argv = [sys.executable, "-m", "siteproof.node", "entry", entry.function, *entry.argv] if entry else self.command()
        if entry is None and not os.path.isabs(argv[0]):
            argv = [find_binary(argv[0]) or argv[0], *argv[1:]]
        record = {"kind": self.kind, "node": self.node, "argv": argv, "cwd": str(self.rundir), "log": str(self.log_path),
                  "pid": self.pid, "start_time": self.start_time, "crash_pidfile": self.crash_pidfile,
                  "private_dirs": list(self.private_dirs)}
        write_private(self.rundir / procs.SERVICE_RECORD, json.dumps(record))

    def wait_ready(self) -> float:
        def ready() -> bool | None:
            # None: it exited, which ends the wait at once (not at the end of the budget).
            return self.is_ready() if self.running() else None

        try:
            # A short interval: a wave's next daemons wait on this one (reading a log is cheap).
            waited = wait_until(ready, self.ready_budget, expected=f"{self.kind} on {self.node} ready",
                                accept=lambda state: state is None or bool(state), interval=READY_POLL_S)
        except WaitTimeout as exc:
            raise DaemonError(f"node {self.node}: {self.kind} not ready within {exc.seconds:.0f} s ({exc.budget}): "
                              f"{reason_line(self.log_of_this_run())} (whole log: {self.log_path})") from None
        if waited.value is None:
            raise DaemonError(
                f"node {self.node}: {self.kind} exited during start (code {self.returncode()}): "
                f"{reason_line(self.log_of_this_run())} (whole log: {self.log_path})"
            )
        return waited.elapsed

    def returncode(self) -> int | None:
        return self.proc.poll() if self.proc else None

    def running(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return self.pid is not None and procs.alive(self.pid, self.start_time)

    def _signal_group(self, sig: int) -> None:
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)

    def stop(self) -> None:
        """Clean stop: SIGTERM, wait for exit (SIGKILL past the budget)."""
        if not self.running():
            return
        if self.frozen:
            self.thaw()
        self._signal_group(signal.SIGTERM)
        try:
            wait_until(lambda: not self.running(), "daemon_exit", expected=f"{self.kind} on {self.node} exited")
        except WaitTimeout:
            self._signal_group(signal.SIGKILL)
        self._reap()

    def terminate(self) -> None:
        """Send SIGTERM without waiting (to stop many daemons at once)."""
        if self.running():
            self._signal_group(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the daemon and its children at once (nothing of it survives)."""
        self._signal_group(signal.SIGKILL)
        self._reap()

    def crash(self) -> str:
        """What a crash of this daemon does (a kind whose parent process supervises a worker
        overrides this to kill the worker); returns what was killed."""
        self.kill()
        return f"{self.kind} (process group {self.pid})"

    def freeze(self) -> None:
        self._signal_group(signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        self._signal_group(signal.SIGCONT)
        self.frozen = False

    def restart(self) -> None:
        self.stop()
        self.start()

    def reap_exit(self) -> None:
        """Collect the exit status of a daemon that something else has killed."""
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=budgets.seconds("daemon_exit"))

    def _reap(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=budgets.seconds("daemon_exit"))
        # Children of a killed group may linger for a moment; wait until the group is empty.
        deadline = time.monotonic() + budgets.seconds("daemon_exit")
        while self.pid is not None and time.monotonic() < deadline:
            try:
                os.killpg(self.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.01)

    # --- evidence -------------------------------------------------------------------
    def log(self) -> str:
        try:
            return redact(self.log_path.read_text(errors="replace"))
        except FileNotFoundError:
            return ""

    def log_of_this_run(self) -> str:
        """The log from this run's start on (an earlier run's lines are not evidence)."""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(self.log_start)
                return fh.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def version(self) -> str:
        out = subprocess.run([self.check_installed(), "--version"], capture_output=True, text=True, check=False)
        text = (out.stdout + out.stderr).strip().splitlines()
        return text[0] if text else "?"


class PythonDaemon(Daemon):
    """A daemon that is part of the project: `module` has main(argv) with argv[1] the config."""

    binary = sys.executable
    package = "python3"
    module: ClassVar[str] = ""

    def command(self) -> list[str]:
        return [sys.executable, "-m", self.module, str(self.config_path)]

    def python_entry(self) -> PythonEntry:
        return PythonEntry(f"{self.module}:main", [self.module, str(self.config_path)])

    def is_ready(self) -> bool:
        return " ready: " in self.log_of_this_run()
