"""A node's containerlab `exec` commands, run in order once its links are up."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from siteproof.errors import LabError
from siteproof.topology.model import Node

EXEC_TIMEOUT_S = 60.0  # one exec command (containerlab waits for each; a daemon must detach)
# What a container's shell starts with; the node's env is added to it.
BASE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}


def command_line(namespace: str, node: Node, node_dir: Path, command: str) -> list[str]:
    """The argv that runs one exec command in the node: split as containerlab splits it (no
    shell, unless the command names one), with the node's binds in place."""
    argv = shlex.split(command)
    if node.binds:
        binds = [arg for bind in node.binds for arg in ("--bind", bind)]
        argv = [sys.executable, "-m", "siteproof.backends.netns.binds", "--upper", str(node_dir / "binds"), *binds,
                "--", *argv]
    return ["ip", "netns", "exec", namespace, *argv]


def run_exec(lab_id: str, namespace: str, node: Node, node_dir: Path) -> None:
    """Each command in turn; its output goes to the node's exec.log (a daemon it starts may keep
    the file open: nothing waits on a pipe). A failure stops the build with the command, its
    exit status and its last lines: verdicts about a half-configured node would mislead."""
    log_path = node_dir / "exec.log"
    for command in node.exec:
        with log_path.open("a") as log:
            log.write(f"$ {command}\n")
            log.flush()
            start = log.tell()
            try:
                proc = subprocess.run(command_line(namespace, node, node_dir, command), stdin=subprocess.DEVNULL,
                                      stdout=log, stderr=subprocess.STDOUT, env={**BASE_ENV, **node.env},
                                      timeout=EXEC_TIMEOUT_S, check=False)
            except subprocess.TimeoutExpired:
                raise LabError(f"lab {lab_id}: node {node.name}: exec {command!r} did not finish within "
                               f"{EXEC_TIMEOUT_S:.0f} s (a daemon must detach, as in containerlab)") from None
        if proc.returncode != 0:
            with log_path.open() as log:
                log.seek(start)
                tail = " | ".join(log.read().strip().splitlines()[-3:])
            raise LabError(f"lab {lab_id}: node {node.name}: exec {command!r} exited {proc.returncode}"
                           + (f": {tail}" if tail else ""))
