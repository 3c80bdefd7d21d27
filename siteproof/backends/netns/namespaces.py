"""Network namespaces on raw syscalls and netlink, without parsing `ip` output.

Namespaces are made the way `ip netns add` makes them (a bind mount under /run/netns, which
is first made a shared mount point of its own), so that `ip netns exec` and testinfra reach
them, but in-process: one unshare and one mount each, no fork.

Why the shared mount point matters: iproute2 makes /run/netns one before its first
namespace. If it finds the directory a plain directory while a lab's namespaces already
live there, it bind-mounts the directory over itself, every namespace file of the lab gets
a second, hidden mount, and the lab's files can no longer be removed ("Device or resource
busy"). Doing what iproute2 does before our first namespace means it never has to. Netlink work runs in one worker thread that enters the target
namespace, opens a pyroute2 socket there and returns to the root namespace, so the
main thread never changes namespace and nothing is ever created in the root namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from pyroute2 import IPRoute

from siteproof.backends.netns.syscalls import CLONE_NEWNET, MNT_DETACH, MS_BIND, MS_REC, MS_SHARED
from siteproof.backends.netns.syscalls import check as _check
from siteproof.backends.netns.syscalls import libc as _libc
from siteproof.errors import LabError
from siteproof.procs import alive, process_start_time  # noqa: F401 - re-exported for the registry

NETNS_DIR = "/run/netns"
_MAX_STACKED_MOUNTS = 16
T = TypeVar("T")


def path(name: str) -> str:
    return os.path.join(NETNS_DIR, name)


def exists(name: str) -> bool:
    return os.path.exists(path(name))


def list_names() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def ensure_shared_dir() -> None:
    """Make /run/netns a shared mount point, exactly as `ip netns add` does, if it is not yet."""
    os.makedirs(NETNS_DIR, exist_ok=True)
    target = NETNS_DIR.encode()
    if _libc.mount(b"none", target, None, MS_SHARED | MS_REC, None) == 0:
        return
    if ctypes.get_errno() != 22:  # EINVAL: not a mount point yet
        _check(-1, f"make {NETNS_DIR} a shared mount")
    _check(_libc.mount(target, target, None, MS_BIND | MS_REC, None), f"bind mount {NETNS_DIR}")
    _check(_libc.mount(b"none", target, None, MS_SHARED | MS_REC, None), f"make {NETNS_DIR} a shared mount")


def is_mount_point(target: str) -> bool:
    """Is something mounted on target (a namespace file, a lab's folder)? A plain file or folder
    lives on its directory's own device."""
    try:
        return os.stat(target).st_dev != os.stat(os.path.dirname(target)).st_dev
    except FileNotFoundError:
        return False


class NetnsWorker:
    """Runs functions inside named namespaces, on one dedicated thread.

    Only this thread ever calls setns; it returns to the root namespace after every call.
    """

    def __init__(self) -> None:
        self._root_fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="siteproof-netns")
        self._lock = threading.Lock()

    def _enter(self, name: str) -> None:
        fd = os.open(path(name), os.O_RDONLY | os.O_CLOEXEC)
        try:
            _check(_libc.setns(fd, CLONE_NEWNET), f"setns into {name}")
        finally:
            os.close(fd)

    def _leave(self) -> None:
        # Returning to the root namespace must not fail silently: later work would land there.
        if _libc.setns(self._root_fd, CLONE_NEWNET) != 0:
            os._exit(70)

    def run(self, name: str, fn: Callable[[], T]) -> T:
        """Call fn() with the worker thread inside namespace `name`."""
        return self._later(name, fn).result()

    def _later(self, name: str, fn: Callable[[], T]) -> Future[T]:
        def call() -> T:
            self._enter(name)
            try:
                return fn()
            finally:
                self._leave()

        return self._pool.submit(call)

    def netlink(self, name: str, fn: Callable[[IPRoute], T]) -> T:
        """Call fn(ipr) with a netlink socket opened inside namespace `name`."""
        return self.netlink_later(name, fn).result()

    def netlink_later(self, name: str, fn: Callable[[IPRoute], T]) -> Future[T]:
        """netlink, queued: the caller gets on with other work (files, folders) meanwhile."""

        def call() -> T:
            with IPRoute() as ipr:
                return fn(ipr)

        return self._later(name, call)

    def create(self, name: str) -> None:
        """Create a named namespace (like `ip netns add`), in-process."""
        self.create_all([name])

    def create_all(self, names: list[str]) -> None:
        """Create named namespaces in one pass on the worker thread (one hand-over, one check
        of /run/netns): a lab of 400 hosts paid both per namespace."""
        ensure_shared_dir()

        def make_all() -> None:
            for name in names:
                target = path(name)
                fd = os.open(target, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
                os.close(fd)
                try:
                    _check(_libc.unshare(CLONE_NEWNET), "unshare")
                    _check(_libc.mount(b"/proc/thread-self/ns/net", target.encode(), None, MS_BIND, None),
                           f"bind mount {target}")
                except OSError as exc:
                    _remove_file(target)
                    raise LabError(f"cannot create namespace {name}: {exc}") from exc
                finally:
                    self._leave()

        self._pool.submit(make_all).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        os.close(self._root_fd)


def _remove_file(target: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(target)


def delete(name: str) -> str | None:
    """Remove a named namespace (like `ip netns del`); its links go with it.

    Unmounts until the file is a plain file (another tool may have stacked a second mount
    on it), then removes it. Returns None, or what stopped the removal.
    """
    target = path(name)
    for _ in range(_MAX_STACKED_MOUNTS):
        if not is_mount_point(target):
            break
        if _libc.umount2(target.encode(), MNT_DETACH) != 0:
            break
    try:
        os.unlink(target)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"{target}: {exc.strerror}"
    return None


def inode(name: str) -> int | None:
    try:
        return os.stat(path(name)).st_ino
    except FileNotFoundError:
        return None


def pids_in(name: str) -> list[int]:
    """Every process whose network namespace is `name` (found by inode, not by name)."""
    return pids_by_namespace([name]).get(name, [])


def pids_by_namespace(names: list[str]) -> dict[str, list[int]]:
    """The processes of each named namespace, from one scan of /proc."""
    inodes = {ino: name for name in names if (ino := inode(name)) is not None}
    found: dict[str, list[int]] = {}
    if not inodes:
        return found
    for pid in _all_pids():
        name = inodes.get(_netns_inode(pid))  # type: ignore[arg-type]
        if name is not None:
            found.setdefault(name, []).append(pid)
    return found


def _all_pids() -> Iterator[int]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def _netns_inode(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def kill_all_in(name: str, sig: int = signal.SIGKILL) -> list[int]:
    """Signal every process living in namespace `name`; returns their pids."""
    pids = pids_in(name)
    signal_all(pids, sig)
    return pids
