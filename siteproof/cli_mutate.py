"""`siteproof mutate`: what the suites would miss on this topology, by mutation testing."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from siteproof.kv import parse_pairs


def _names(values: list[str]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def cmd_mutate(args: argparse.Namespace) -> int:
    from siteproof.mutate import OPERATORS
    from siteproof.mutate.campaign import Request, run
    from siteproof.mutate.runner import SUITES, RunSettings

    if args.list_operators:
        for name, op in sorted(OPERATORS.items()):
            print(f"{name:32} threatens {', '.join(op.threatens)}\n{'':32} {op.doc}")
        return 0
    from siteproof.backends.netns.lab import ensure_root
    from siteproof.cli import _topology_path

    if not args.topology:
        raise SystemExit("siteproof mutate: a topology (a built-in name or a folder) is required")
    ensure_root()
    settings = RunSettings(overrides=parse_pairs(args.set, "--set"), profile=args.profile, workers=args.workers,
                           suites=tuple(str(Path(s).resolve()) for s in args.suites) or (str(SUITES),),
                           victim_seed=args.seed)
    # Stopped by Ctrl-C, cron or systemd (SIGTERM), and also when started in the background with
    # SIGINT ignored: the running mutant's pytest is stopped and its lab destroyed on the way out.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        doc = run(Request(_topology_path(args.topology).resolve(), _names(args.operators), args.sample, args.seed,
                          _names(args.nodes), settings, Path(args.output).resolve()))
    except KeyboardInterrupt:
        # The running mutant's pytest was killed and its lab destroyed (siteproof.childrun).
        print("siteproof mutate: interrupted; the running mutant's lab was torn down, no results written", file=sys.stderr)
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    # A survivor is what the suites miss: a nightly job may gate on it.
    return 1 if doc["score"]["counts"].get("survived") or doc["score"]["counts"].get("crashed") else 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    m = sub.add_parser("mutate", help="mutation testing: change the topology's configs one fault at a time and "
                                      "report which faults the suites miss")
    m.add_argument("topology", nargs="?", help="a built-in topology name or a topology folder (its name picks the suites)")
    m.add_argument("--operators", action="append", default=[], metavar="NAME[,NAME]",
                   help="only these operators (default: all; see --list-operators)")
    m.add_argument("--sample", type=int, default=20, help="how many mutants (0: every candidate; default 20)")
    m.add_argument("--seed", type=int, default=1, help="seed of the choice of mutants and of the fault tests' victims")
    m.add_argument("--nodes", action="append", default=[], metavar="NODE[,NODE]", help="mutate only these nodes")
    m.add_argument("--suites", nargs="+", default=[], metavar="PATH", help="suite folders or files (default: all)")
    m.add_argument("-n", "--workers", type=int, default=0, help="pytest-xdist workers per mutant's run (default: serial)")
    m.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a parameter")
    m.add_argument("--profile", default="lab", choices=["lab", "production"],
                   help="lab (default): lab-speed protocol timers; production: the topology's defaults")
    m.add_argument("-o", "--output", default="mutate-report", help="folder for mutate.html and mutate.json")
    m.add_argument("--list-operators", action="store_true", help="list the operators and what each threatens")
    m.set_defaults(fn=cmd_mutate)
