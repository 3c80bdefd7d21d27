"""Helpers for siteproof's own tests: small topology folders, root checks, leftovers."""

from __future__ import annotations

import contextlib
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces")

TWO_HOSTS = """
name: tiny
topology:
  nodes:
    sw1: {kind: bridge}
    a:
      kind: linux
      labels: {role: client}
      interfaces:
        eth1: {addresses: ["10.9.0.1/24", "2001:db8:9::1/64"]}
    b:
      kind: linux
      labels: {role: server}
      interfaces:
        eth1: {addresses: ["10.9.0.2/24", "2001:db8:9::2/64"]}
  links:
    - endpoints: ["a:eth1", "sw1:p-a"]
    - endpoints: ["b:eth1", "sw1:p-b"]
"""


def make_topology(tmp_path: Path, text: str = TWO_HOSTS, parameters: str | None = None, name: str = "tiny") -> Path:
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "topology.yml").write_text(textwrap.dedent(text))
    if parameters is not None:
        (folder / "parameters.yml").write_text(textwrap.dedent(parameters))
    return folder


def root_snapshot() -> dict[str, str]:
    """The root namespace's links, addresses, routes and a few sysctls."""
    def run(*cmd: str) -> str:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout

    return {
        "links": run("ip", "-br", "link"),
        "addresses": run("ip", "-br", "addr"),
        "routes": run("ip", "route", "show", "table", "all"),
        "forwarding": Path("/proc/sys/net/ipv4/ip_forward").read_text(),
        "hash_policy": Path("/proc/sys/net/ipv4/fib_multipath_hash_policy").read_text(),
    }


def lab_leftovers(lab_id: str) -> dict[str, list[str]]:
    from siteproof.backends.netns import registry

    names = registry.lab_namespaces(lab_id)
    folder = str(registry.STATE_ROOT / lab_id)
    # A lab's folder may be a tmpfs of its own (backends/netns/labdir.py): its mount is state too.
    mounts = [f"mount {point}" for point in mount_points() if point == folder or point.startswith(folder + "/")]
    return {
        "namespaces": names,
        "state": ([folder] if os.path.exists(folder) else []) + mounts,
    }


def mount_points() -> list[str]:
    """Every mount point of this process's mount namespace (octal escapes as the kernel writes them)."""
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]


# Machine-wide sysctls that move on their own (counters, entropy, pids): not a lab's doing.
_VOLATILE = ("kernel/random/", "kernel/ns_last_pid", "kernel/pty/nr", "fs/dentry-state", "fs/inode-nr",
             "fs/inode-state", "fs/file-nr", "fs/aio-nr", "fs/quota/", "kernel/tainted", "vm/stat_refresh",
             "fs/binfmt_misc/", "kernel/sched_domain/", "net/")


def machine_sysctls() -> dict[str, str]:
    """Every readable sysctl that is not kept per network namespace (kernel.*, vm.*, fs.*, ...),
    less the ones that change by themselves."""
    values = {}
    root = Path("/proc/sys")
    for path in root.rglob("*"):
        key = str(path.relative_to(root))
        if not path.is_file() or key.startswith(_VOLATILE):
            continue
        try:
            values[key] = path.read_text()
        except OSError:
            continue  # write-only or refused to read
    return values


def stop_lab(lab_id: str, budget_s: float = 30.0) -> None:
    """Tear a lab down whoever holds it: its CLI keeper is told to stop (as `siteproof down`
    does), then whatever is left is destroyed. For finalizers: a failing test leaves nothing."""
    import signal
    import time

    from siteproof.backends.netns import registry

    try:
        state = registry.LabState.load(lab_id)
    except (FileNotFoundError, ValueError, TypeError):
        state = None
    if state is not None and state.owner_kind == "cli" and state.owner_alive():
        os.kill(state.owner_pid, signal.SIGTERM)
        deadline = time.monotonic() + budget_s
        while state.dir.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    registry.destroy(lab_id)


# Where the private lab registries of running tests are listed (tests/conftest.py private_state).
PRIVATE_REGISTRIES = Path("/run/siteproof/test-registries")


def unexplained_namespaces(before: set[str]) -> list[str]:
    """Namespaces made since `before` that no registered lab owns: what a refused build left
    behind, outside the registry's reach. Labs that other tests build meanwhile (parallel
    workers) are registered before their first namespace and until their last is gone, so they
    do not count, even in the moment their owner has exited and its parent is removing them (a
    child pytest that left a lab on purpose)."""
    from siteproof.backends.netns import namespaces as netns
    from siteproof.backends.netns import registry

    known = [f"{registry.NS_PREFIX}{s.id}-" for s in registry.all_labs()]
    # Labs of private registries (tests of reaping, beside this one) are registered there.
    for listed in (PRIVATE_REGISTRIES.iterdir() if PRIVATE_REGISTRIES.is_dir() else []):
        with contextlib.suppress(OSError):
            known += [f"{registry.NS_PREFIX}{d.name}-" for d in Path(listed.read_text()).iterdir()]
    return sorted(n for n in set(netns.list_names()) - before if not n.startswith(tuple(known)))


