"""The service manager of a lab played as a site: what `systemctl` is on a real host.

A lab's daemons have no service manager, so a site run's daemon faults (stop, start, crash)
could not be applied over SSH. Each daemon leaves a record of how it runs in its directory
(siteproof.daemons.base.SERVICE_RECORD); this command, run in the node over SSH, acts on it:

    python3 .../siteproof/backends/netns/labservice.py stop|start|crash|freeze|thaw|running DIR

stop: SIGTERM to the daemon's process group, SIGKILL past STOP_GRACE_S; crash: SIGKILL to its
worker where it has one (keepalived's VRRP process, respawned by its parent), else to the whole
group; start: the recorded command again, in a session of its own, its output appended to the
daemon's log, returning once it runs (and its worker, where it has one); freeze and thaw: SIGSTOP
and SIGCONT to its process group (a frozen host's services); running: exit 0 if so.
The lab's teardown ends whatever this started (every process of the lab's namespaces).

It runs as a file under the system's python3 and needs only the standard library and
siteproof.procs: the management sshd gives each session a private /root, which hides a Python
installed there (and so the project's environment, and the daemons written in Python: those
are not restarted here). A daemon the lab runs with private directories gets them here too.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: the checkout's siteproof (procs only) on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from siteproof import procs
from siteproof.procs import SERVICE_RECORD

# $1 how many directories follow; each gets an empty tmpfs; the rest is the daemon's command.
PRIVATE_MOUNTS = ('n=$1; shift; while [ "$n" -gt 0 ]; do mount -t tmpfs -o mode=0755 tmpfs "$1" || exit 1; shift; '
                  'n=$((n - 1)); done; exec "$@"')
STOP_GRACE_S = 10.0
START_WAIT_S = 10.0
POLL_S = 0.05


def _alive(pid: int | None, start_time: int | None = None) -> bool:
    """A live process (not a zombie waiting for its parent) that is still the one recorded."""
    if not pid or not procs.alive(pid, start_time):
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _record(directory: Path) -> dict[str, Any]:
    return json.loads((directory / SERVICE_RECORD).read_text())


def _worker(directory: Path, record: dict[str, Any]) -> int | None:
    """The worker's pid, if it is one of the daemon's own processes."""
    if not record.get("crash_pidfile"):
        return None
    try:
        pid = int((directory / record["crash_pidfile"]).read_text().split()[0])
        return pid if _alive(pid) and os.getpgid(pid) == record["pid"] else None
    except (OSError, ValueError, IndexError):
        return None


def running(directory: Path) -> bool:
    record = _record(directory)
    return _alive(record.get("pid"), record.get("start_time"))


def _wait(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(POLL_S)
    return bool(condition())


def stop(directory: Path) -> str:
    record = _record(directory)
    if not running(directory):
        return f"{record['kind']} was not running"
    with contextlib.suppress(ProcessLookupError):
        os.killpg(record["pid"], signal.SIGCONT)  # a frozen daemon must be able to act on SIGTERM
        os.killpg(record["pid"], signal.SIGTERM)
    if not _wait(lambda: not running(directory), STOP_GRACE_S):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(record["pid"], signal.SIGKILL)
        _wait(lambda: not running(directory), STOP_GRACE_S)
        return f"{record['kind']} (pid {record['pid']}) killed after {STOP_GRACE_S:g} s"
    return f"{record['kind']} (pid {record['pid']}) stopped"


def crash(directory: Path) -> str:
    record = _record(directory)
    if not running(directory):
        raise RuntimeError(f"{record['kind']} is not running: nothing to crash")
    worker = _worker(directory, record)
    if worker is not None:
        os.kill(worker, signal.SIGKILL)
        return f"{record['kind']} worker {worker} killed"
    with contextlib.suppress(ProcessLookupError):
        os.killpg(record["pid"], signal.SIGKILL)
    return f"{record['kind']} process group {record['pid']} killed"


def start(directory: Path) -> str:
    record = _record(directory)
    if running(directory):
        return f"{record['kind']} already running"
    argv = list(record["argv"])
    if record.get("private_dirs"):
        # As the lab's launcher gives them: an empty tmpfs over each, in a mount namespace of its own.
        dirs = list(record["private_dirs"])
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", PRIVATE_MOUNTS, "siteproof-private",
                str(len(dirs)), *dirs, *argv]
    if not os.access(record["argv"][0], os.X_OK):
        raise RuntimeError(f"{record['kind']}'s program {record['argv'][0]} cannot be run from this session "
                           "(a daemon in the project's Python environment, hidden by the session's private /root)")
    with open(record["log"], "ab") as log:
        proc = subprocess.Popen(argv, cwd=record["cwd"], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    record.update(pid=proc.pid, start_time=procs.process_start_time(proc.pid))
    tmp = directory / f".{SERVICE_RECORD}.tmp"
    tmp.write_text(json.dumps(record))
    tmp.chmod(0o600)
    tmp.replace(directory / SERVICE_RECORD)
    started = _wait(lambda: proc.poll() is None and (not record.get("crash_pidfile") or _worker(directory, record)),
                    START_WAIT_S)
    if proc.poll() is not None:
        raise RuntimeError(f"{record['kind']} exited at start (code {proc.returncode}); its log: {record['log']}")
    if not started:
        raise RuntimeError(f"{record['kind']} started, but its worker did not appear within {START_WAIT_S:g} s")
    return f"{record['kind']} started (pid {proc.pid})"


def freeze(directory: Path) -> str:
    return _signal_group(directory, signal.SIGSTOP, "frozen")


def thaw(directory: Path) -> str:
    return _signal_group(directory, signal.SIGCONT, "resumed")


def _signal_group(directory: Path, signum: int, done: str) -> str:
    record = _record(directory)
    if not running(directory):
        return f"{record['kind']} is not running"
    with contextlib.suppress(ProcessLookupError):
        os.killpg(record["pid"], signum)
    return f"{record['kind']} (process group {record['pid']}) {done}"


ACTIONS = {"stop": stop, "start": start, "crash": crash, "freeze": freeze, "thaw": thaw}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in (*ACTIONS, "running"):
        print(f"usage: python3 labservice.py {{{'|'.join([*ACTIONS, 'running'])}}} DIR",
              file=sys.stderr)
        return 2
    directory = Path(argv[1])
    if not (directory / SERVICE_RECORD).is_file():
        print(f"{directory}: no {SERVICE_RECORD} (not a lab daemon's directory)", file=sys.stderr)
        return 2
    if argv[0] == "running":
        return 0 if running(directory) else 3
    try:
        print(ACTIONS[argv[0]](directory))
    except RuntimeError as exc:
        print(f"{directory}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
