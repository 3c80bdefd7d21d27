"""The lab's launcher: one small process per lab that starts daemons in nodes by fork and setns.

Why not `ip netns exec` per daemon: each one is a fork and exec of `ip`, a new mount
namespace and a sysfs mount, and then the exec of the daemon; a daemon written in Python
then pays interpreter start-up and its imports again on every node (40 login health
agents: 40 x 80 ms of imports on a 2-core machine). The launcher imports a Python
daemon's module once and forks it per node; every other daemon is fork, enter, exec.

In the child, before anything runs: a new session (the daemon's process group is its
own), the node's network namespace (setns), a private mount namespace with the node's own
sysfs (what `ip netns exec` gives: /sys/class/net shows the node's interfaces), the run
directory, the log on stdout and stderr, default signal dispositions.

It lives in the lab's switch namespace, so the reaper finds and kills it with every other
process of the lab. It is single-threaded (fork is safe) and speaks one JSON object per
line on stdin and stdout: {"op": "start", ...} -> {"pid": N}, {"op": "poll", "pid": N} ->
{"code": exit code or null while it runs}, {"op": "stop", "grace": {pid: seconds}} -> {"stopped":
N, "killed": M} once every process it started is gone and reaped.

The teardown owns its processes: the launcher is the daemons' subreaper (what a daemon forks
and leaves behind comes back to it, not to init), and `stop` signals every daemon's process
group at once (SIGTERM, SIGKILL past each one's grace) and reaps each exit itself. Killed
first, it would leave its daemons to init, which reaps on its own schedule (seconds on a
loaded machine) while the teardown waits for their namespaces to empty.

Run: ip netns exec SWITCH_NS python -m siteproof.backends.netns.launcher
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from siteproof.backends.netns.syscalls import (
    CLONE_NEWNET,
    CLONE_NEWNS,
    MNT_DETACH,
    MS_REC,
    MS_SLAVE,
    PR_SET_CHILD_SUBREAPER,
    PR_SET_NAME,
    check,
)
from siteproof.backends.netns.syscalls import libc as _libc


# --- the launcher process ------------------------------------------------------------
def _enter_node(netns_path: str, private: list[str]) -> None:
    """Become a process of the node: its network namespace, its own view of /sys, and an
    empty tmpfs of its own over each `private` directory (a daemon that writes to a fixed
    machine path, as FRR's crash logs in /var/tmp/frr, leaves nothing there: the mount dies
    with the process)."""
    fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        check(_libc.setns(fd, CLONE_NEWNET), f"setns into {netns_path}")
    finally:
        os.close(fd)
    check(_libc.unshare(CLONE_NEWNS), "unshare the mount namespace")
    # Our mounts must never propagate back to the machine's mount namespace.
    check(_libc.mount(b"none", b"/", None, MS_SLAVE | MS_REC, None), "make / a slave mount")
    _libc.umount2(b"/sys", MNT_DETACH)
    check(_libc.mount(b"sysfs", b"/sys", b"sysfs", 0, None), "mount the node's sysfs")
    for directory in private:
        check(_libc.mount(b"tmpfs", directory.encode(), b"tmpfs", 0, b"mode=0755"), f"mount a private tmpfs on {directory}")


def _child(request: dict[str, Any], entry: Any) -> None:
    """Runs in the forked child; never returns."""
    code = 127 if entry is None else 1  # exec failed / the Python daemon raised
    try:
        os.setsid()
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.closerange(3, 1 << 16)
        for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        _enter_node(request["netns"], request.get("private") or [])
        os.chdir(request["cwd"])
        argv = request["argv"]
        if entry is None:
            # What an exec'd program expects, as subprocess restores it (Python ignores SIGPIPE).
            for sig in (signal.SIGPIPE, signal.SIGXFSZ):
                signal.signal(sig, signal.SIG_DFL)
            os.execv(argv[0], argv)
        sys.argv = list(argv)
        # Its name in top and `ps -e` (its command line stays the launcher's: a fork, no exec).
        _libc.prctl(PR_SET_NAME, argv[0].rsplit(".", 1)[-1][:15].encode(), 0, 0, 0)
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - the process's own stdout
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        try:
            code = int(entry(argv) or 0)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - whatever went wrong goes to the daemon's own log
        with contextlib.suppress(BaseException):
            os.write(2, f"siteproof launcher: {traceback.format_exc()}".encode())
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _load_entry(name: str, cache: dict[str, Any]) -> Any:
    if name not in cache:
        module, _, func = name.partition(":")
        cache[name] = getattr(importlib.import_module(module), func)
    return cache[name]


STOP_GRACE_S = 0.5  # SIGTERM to SIGKILL for a daemon that names no grace of its own
KILLED_GONE_S = 2.0  # after SIGKILL: the kernel frees a process in well under this


def _signal_group(pid: int, sig: int) -> None:
    """A daemon's process group (it made its own session): what it forked goes with it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def stop_all(started: set[int], exits: dict[int, int], reap: Any, grace: dict[int, float]) -> dict[str, int]:
    """SIGTERM every live daemon at once, SIGKILL each one still there past its grace, and
    return once every process the launcher has is reaped: its daemons, and what they left
    behind that came back to it as their subreaper (an ssh ControlMaster a daemon started
    detaches into a session of its own, out of reach of its group's signal)."""
    live = {pid for pid in started if pid not in exits}
    began = time.monotonic()
    due = {pid: began + grace.get(pid, STOP_GRACE_S) for pid in live}  # when SIGKILL follows
    for pid in live:
        _signal_group(pid, signal.SIGTERM)
    killed: set[int] = set()
    while True:
        reap()
        now, children = time.monotonic(), _children()  # one read of /proc per pass
        for orphan in children - set(due):
            _signal_group(orphan, signal.SIGTERM)
            due[orphan] = now + STOP_GRACE_S
        waiting = {pid for pid in due if pid not in exits and pid in children | live}
        for pid in waiting - killed:
            if now >= due[pid]:
                _signal_group(pid, signal.SIGKILL)
                killed.add(pid)
        if not waiting and not children:
            break
        if now > max(due.values(), default=began) + KILLED_GONE_S:
            break  # the teardown's own pass finds and names what is left
        time.sleep(0.005)
    return {"stopped": len(due) - len(killed), "killed": len(killed)}


def _children() -> set[int]:
    """The launcher's children, running or zombies (daemons, and orphans it took in)."""
    me = os.getpid()
    try:
        return {int(p) for p in Path(f"/proc/{me}/task/{me}/children").read_text().split()}
    except OSError:
        return set()


def _fork(request: dict[str, Any], entries: dict[str, Any], started: set[int]) -> int:
    entry = _load_entry(request["entry"], entries) if request.get("entry") else None
    pid = os.fork()
    if pid == 0:
        _child(request, entry)
    started.add(pid)
    return pid


def serve(requests: Any, answers: Any) -> None:
    exits: dict[int, int] = {}
    started: set[int] = set()
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # a daemon's orphans come back here, not to init

    def reap(*_: object) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            exits[pid] = os.waitstatus_to_exitcode(status)

    signal.signal(signal.SIGCHLD, reap)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the lab's teardown ends it, not a terminal's Ctrl-C
    entries: dict[str, Any] = {}
    for line in requests:
        request = json.loads(line)
        try:
            if request["op"] == "start":
                answer: dict[str, Any] = {"pid": _fork(request, entries, started)}
            elif request["op"] == "start_many":  # a wave of daemons, one round trip
                answer = {"pids": [_fork(each, entries, started) for each in request["requests"]]}
            elif request["op"] == "poll":
                reap()
                answer = {"code": exits.get(request["pid"])}
            elif request["op"] == "stop":
                answer = stop_all(started, exits, reap, {int(k): float(v) for k, v in request.get("grace", {}).items()})
            else:
                answer = {"error": f"unknown request {request['op']!r}"}
        except Exception as exc:  # noqa: BLE001 - answered, the launcher carries on
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


# --- the lab's side ------------------------------------------------------------------
class LauncherGone(RuntimeError):
    """The launcher is no longer there (the lab is being torn down)."""


class Launcher:
    """The client: starts the launcher in the lab's switch namespace, then asks it."""

    def __init__(self, switch_ns: str, log: Path) -> None:
        # Its stderr goes to a file: a lab kept by `siteproof up` must not hold the caller's
        # terminal or pipe open.
        with open(log, "ab") as err:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", switch_ns, sys.executable, "-m", "siteproof.backends.netns.launcher"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True,
            )
        self._lock = threading.Lock()

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            try:
                assert self.proc.stdin and self.proc.stdout
                self.proc.stdin.write(json.dumps(request) + "\n")
                self.proc.stdin.flush()
                line = self.proc.stdout.readline()
            except (BrokenPipeError, OSError, ValueError) as exc:
                raise LauncherGone(f"the lab's launcher is gone ({exc})") from None
        if not line:
            raise LauncherGone(f"the lab's launcher exited (code {self.proc.poll()})")
        answer = json.loads(line)
        if "error" in answer:
            raise OSError(answer["error"])
        return answer

    def start(self, netns_path: str, argv: list[str], cwd: Path, log: Path, entry: str | None = None,
              private: tuple[str, ...] = ()) -> Launched:
        return self.start_many([request(netns_path, argv, cwd, log, entry, private)])[0]

    def start_many(self, requests: list[dict[str, Any]]) -> list[Launched]:
        """Start daemons in one round trip (each made by `request`), in order."""
        if not requests:
            return []
        answer = self.ask({"op": "start_many", "requests": requests})
        return [Launched(self, int(pid)) for pid in answer["pids"]]

    def stop_all(self, grace: dict[int, float]) -> dict[str, int]:
        """Stop and reap every process this launcher started (siteproof.backends.netns.launcher)."""
        return self.ask({"op": "stop", "grace": {str(k): v for k, v in grace.items()}})

    def close(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                if pipe:
                    pipe.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=2)  # it ends at EOF; the teardown has signalled it already
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def request(netns_path: str, argv: list[str], cwd: Path, log: Path, entry: str | None = None,
            private: tuple[str, ...] = ()) -> dict[str, Any]:
    """What the launcher needs to start one daemon."""
    return {"netns": netns_path, "argv": argv, "cwd": str(cwd), "log": str(log), "entry": entry, "private": list(private)}


class Launched:
    """A daemon the launcher started: the part of subprocess.Popen's interface a Daemon uses."""

    def __init__(self, launcher: Launcher, pid: int) -> None:
        self.launcher = launcher
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                self.returncode = self.launcher.ask({"op": "poll", "pid": self.pid})["code"]
            except LauncherGone:
                # The launcher died with the lab; the process is gone if its pid is.
                if not Path(f"/proc/{self.pid}").exists():
                    self.returncode = -signal.SIGKILL
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0)
            time.sleep(0.01)
        return self.returncode  # type: ignore[return-value]


if __name__ == "__main__":
    serve(sys.stdin, sys.stdout)
