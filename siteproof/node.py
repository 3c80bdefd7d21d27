"""Start one of siteproof's daemons on the machine this runs on: a node of an exported lab
(a container built from images/*/Containerfile), where no siteproof lab runs it.

    python3 -m siteproof.node daemon KIND CONFIG [--after NODE[:KIND]]... [-- ARG...]

The config is the rendered one the export bound at CONFIG. The daemon starts in a session of
its own with its files under /run/siteproof-node, and the command returns once it is ready (as
containerlab's exec needs), with its exit status and the log's last lines if it is not.
`--after` is the lab's start order, which containerlab expresses with its own stages; here it
is recorded and not waited on. siteproof's own import reads this line back as the node's daemon.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from pathlib import Path

from siteproof.daemons import DaemonContext, daemon_kinds
from siteproof.daemons.base import Process, PythonEntry
from siteproof.errors import SiteproofError

RUN_ROOT = Path(os.environ.get("SITEPROOF_NODE_RUN", "/run/siteproof-node"))


def _spawn(argv: list[str], cwd: Path, log: Path, entry: PythonEntry | None, private: tuple[str, ...]) -> Process:
    """A daemon process in its own session (a container's filesystem is its own: no private
    directories needed); a Python daemon runs through `entry` below."""
    if entry is not None:
        argv = [sys.executable, "-m", "siteproof.node", "entry", entry.function, *entry.argv]
    with log.open("ab") as out:
        return subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _run_entry(function: str, argv: list[str]) -> int:
    import importlib

    module, _, name = function.partition(":")
    sys.argv = list(argv)
    return int(getattr(importlib.import_module(module), name)(argv) or 0)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["entry"] and len(argv) >= 2:
        return _run_entry(argv[1], argv[2:])
    extra: list[str] = []
    if "--" in argv:
        argv, extra = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    parser = argparse.ArgumentParser(prog="python3 -m siteproof.node", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("daemon", help="start one daemon from its rendered config and wait until it is ready")
    start.add_argument("kind", choices=sorted(daemon_kinds()))
    start.add_argument("config", type=Path)
    start.add_argument("--after", action="append", default=[], help="the lab's start order (recorded, not waited on)")
    args = parser.parse_args(argv)
    try:
        config = args.config.read_text()
    except OSError as exc:
        print(f"siteproof.node: {args.config}: {exc.strerror}", file=sys.stderr)
        return 2
    context = DaemonContext(node=socket.gethostname(), lab_dir=RUN_ROOT, spawn=_spawn)
    daemon = daemon_kinds()[args.kind](context, config, tuple(extra))
    try:
        daemon.start(wait=True)
    except SiteproofError as exc:
        print(f"siteproof.node: {exc}", file=sys.stderr)
        return 1
    print(f"siteproof.node: {args.kind} ready (pid {daemon.pid}, files in {daemon.rundir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
