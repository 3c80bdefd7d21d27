"""Processes by pid and start time: a pid reused by another process is never taken for ours."""

from __future__ import annotations

# How a lab daemon runs (argv, pid, start time, log), in its directory: written by the daemon's
# start (siteproof.daemons.base), read by the lab's service manager (backends/netns/labservice.py).
SERVICE_RECORD = "service.json"


def process_start_time(pid: int) -> int | None:
    """The start time of a pid in clock ticks (field 22 of /proc/pid/stat), to tell reuse."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])


def alive(pid: int, start_time: int | None) -> bool:
    """Is this the same process that had `start_time` (not a reused pid)?"""
    current = process_start_time(pid)
    return current is not None and (start_time is None or current == start_time)



def running(pid: int, start_time: int | None) -> bool:
    """Alive and not yet exited: a zombie (exited, its status not collected) is not running."""
    if not alive(pid, start_time):
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False
