"""The kernel floor for the one-bridge shape: what N hosts on one bridge cost with nothing but
the kernel calls (no lab engine), to hold the engine's bring-up and teardown against.

One process, one thread for namespace work: each namespace made as `ip netns add` makes it
(a file under /run/netns, unshare, bind mount), the bridge and every port made in the switch
namespace with pyroute2 (a port in one request: the veth with its peer in the host, enslaved
and up), then in each host lo up, the address on eth1 and eth1 up; torn down by unmounting and
removing the files. Phases are timed as the lab times its own (namespaces, links, configure).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from pyroute2 import IPRoute

from siteproof.backends.netns.namespaces import ensure_shared_dir, path
from siteproof.backends.netns.syscalls import CLONE_NEWNET, MNT_DETACH, MS_BIND, check
from siteproof.backends.netns.syscalls import libc as _libc


def one_bridge(hosts: int) -> dict[str, float]:
    """Build and tear down the floor's lab of `hosts` hosts; seconds per phase."""
    tag = f"spfloor{secrets.token_hex(3)}"
    switch, names = f"{tag}-sw", [f"{tag}-h{i}" for i in range(hosts)]
    pool = ThreadPoolExecutor(max_workers=1)
    root = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)

    def inside(name: str, fn: Callable[[], None]) -> None:
        def call() -> None:
            fd = os.open(path(name), os.O_RDONLY | os.O_CLOEXEC)
            try:
                check(_libc.setns(fd, CLONE_NEWNET), f"setns {name}")
            finally:
                os.close(fd)
            try:
                fn()
            finally:
                check(_libc.setns(root, CLONE_NEWNET), "setns back")
        pool.submit(call).result()

    def make_namespaces() -> None:
        for name in [switch, *names]:
            target = path(name)
            os.close(os.open(target, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444))
            try:
                check(_libc.unshare(CLONE_NEWNET), "unshare")
                check(_libc.mount(b"/proc/thread-self/ns/net", target.encode(), None, MS_BIND, None), "bind mount")
            finally:
                check(_libc.setns(root, CLONE_NEWNET), "setns back")

    def links() -> None:
        with IPRoute() as ipr:
            ipr.link("add", ifname="br0", kind="bridge", br_forward_delay=0, state="up")
            master = ipr.link_lookup(ifname="br0")[0]
            for i, name in enumerate(names):
                ipr.link("add", ifname=f"p{i}", kind="veth", peer={"ifname": "eth1", "net_ns_fd": path(name)},
                         master=master, state="up")

    def configure(i: int) -> None:
        with IPRoute() as ipr:
            ipr.link("set", index=1, state="up")
            index = ipr.link_lookup(ifname="eth1")[0]
            ipr.addr("add", index=index, address=f"10.50.{i // 250}.{i % 250 + 1}", prefixlen=22)
            ipr.link("set", index=index, state="up")

    phases: dict[str, float] = {}
    ensure_shared_dir()
    t0 = time.perf_counter()
    try:
        pool.submit(make_namespaces).result()
        phases["namespaces"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        inside(switch, links)
        phases["links"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        for i, name in enumerate(names):
            inside(name, lambda i=i: configure(i))
        phases["configure"] = time.perf_counter() - t2
        phases["network"] = time.perf_counter() - t0
    finally:
        t3 = time.perf_counter()
        for name in [switch, *names]:
            _libc.umount2(path(name).encode(), MNT_DETACH)
            if os.path.exists(path(name)):
                os.unlink(path(name))
        phases["down"] = time.perf_counter() - t3
        pool.shutdown()
        os.close(root)
    return phases
