"""What a read-only run may ask a site host to run: the allowlist, command by command.

A read-only run (a site without --allow-disruptive) reads state and sends probes; it never
changes a host. This module says which command lines keep to that: the programs siteproof's
read-only tests run, each with the rule its arguments must meet (`ip` without a verb that
changes, `nft list`, `vtysh -c 'show ...'`, the shipped standard-library probes fed on stdin).
A lab played as a site logs every command its hosts receive (siteproof.cmdlog) and the project's
test checks each against this list. A site can use it too: it is what to allow a read-only
siteproof account to run.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from types import ModuleType

from siteproof.areas.ce import monalisa
from siteproof.areas.ib import pkeys
from siteproof.backends import background
from siteproof.probes import banner, dnswire, flowsend, framesend, reach, remote, remote_prober, remote_tcp, whoami

# Probes shipped to a host as a script on stdin (`python3 - JOB`): each sends packets and reads
# answers, and changes nothing there.
SHIPPED_PROBES: tuple[ModuleType, ...] = (dnswire, reach, banner, whoami, flowsend, framesend)
# Fixed `python3 -c` programs, their inputs as arguments: testinfra's question for the host's
# encoding, the CE's MonALISA datagram sender, the UDP echo prober and reflector (siteproof.probes.echo),
# the TCP listener, echo server and stream client (siteproof.probes.tcphost).
FIXED_PROGRAMS = ("import locale;print(locale.getpreferredencoding())", monalisa.SENDER, remote_prober.SCRIPT,
                  remote_tcp.SCRIPT)
IP_WRITE_VERBS = frozenset({"add", "del", "delete", "change", "replace", "set", "flush", "append", "prepend", "exec",
                            "restore", "attach", "detach", "update", "save", "monitor"})
NFT_WRITE_VERBS = frozenset({"add", "delete", "flush", "insert", "replace", "create", "reset", "destroy", "rename", "import"})
SEPARATORS = frozenset({"|", ";", "&&", "||", "&"})
Rule = Callable[[list[str], str | None], str | None]


def not_read_only(command: str) -> str | None:
    """None if every part of the command line only reads; otherwise why not."""
    try:
        parts = _simple_commands(command)
    except ValueError as exc:
        return f"cannot be read as a command line ({exc})"
    stdin: str | None = None
    for argv, piped in parts:
        why = _check(argv, stdin if piped else None)
        if why:
            return why
        stdin = _printed(argv)
    return None


def _simple_commands(command: str) -> list[tuple[list[str], bool]]:
    """The simple commands of a line, each with whether it reads the one before it (a pipe)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    parts: list[tuple[list[str], bool]] = []
    current: list[str] = []
    piped = False
    for token in lexer:
        if token in SEPARATORS:
            if current:
                parts.append((current, piped))
            current, piped = [], token == "|"  # noqa: S105 - a shell token, not a password
        else:
            current.append(token)
    if current:
        parts.append((current, piped))
    return parts


def _printed(argv: list[str]) -> str | None:
    """What `printf '%s\\n' TEXT` writes: the next command's standard input."""
    if argv[:2] == ["printf", "%s\\n"] and len(argv) == 3:
        return argv[2]
    return None


def _check(argv: list[str], stdin: str | None) -> str | None:
    for i, token in enumerate(argv):
        if token in (">", ">>", ">|", "<>") and (i + 1 >= len(argv) or argv[i + 1] != "/dev/null"):
            return f"{shlex.join(argv)}: writes a file"
    argv = _unwrapped(argv)
    if not argv:
        return None
    program = os.path.basename(argv[0])
    rule = RULES.get(program)
    if rule is None:
        return f"{program}: not a read-only command siteproof runs"
    return rule(argv, stdin)


def _unwrapped(argv: list[str]) -> list[str]:
    """The command inside `timeout [-k N] DURATION ...` and `env VAR=VALUE ...`."""
    while argv:
        name = os.path.basename(argv[0])
        if name == "timeout":
            rest = argv[1:]
            while rest and rest[0].startswith("-"):
                rest = rest[2:] if rest[0] in ("-k", "-s", "--kill-after", "--signal") else rest[1:]
            argv = rest[1:]  # past the duration
        elif name == "env":
            rest = argv[1:]
            while rest and "=" in rest[0]:
                rest = rest[1:]
            argv = rest
        else:
            return argv
    return argv


def _always(argv: list[str], stdin: str | None) -> str | None:
    return None


def _ip(argv: list[str], stdin: str | None) -> str | None:
    words = set(argv[1:])
    if "-batch" in argv and stdin is not None:
        words |= {w for line in stdin.splitlines() for w in line.split()}
    changing = sorted(words & IP_WRITE_VERBS)
    return f"{shlex.join(argv)}: ip {changing[0]} changes the host" if changing else None


def _nft(argv: list[str], stdin: str | None) -> str | None:
    if "-f" in argv or "--file" in argv:
        return f"{shlex.join(argv)}: loads a ruleset"
    changing = sorted(set(argv[1:]) & NFT_WRITE_VERBS)
    if changing or "list" not in argv:
        return f"{shlex.join(argv)}: nft may only list"
    return None


def _sysctl(argv: list[str], stdin: str | None) -> str | None:
    if any(a in ("-w", "--write", "-p", "--load", "--system") or "=" in a for a in argv[1:]):
        return f"{shlex.join(argv)}: sets a sysctl"
    return None


def _conntrack(argv: list[str], stdin: str | None) -> str | None:
    reads = {"-L", "--dump", "-S", "--stats", "-C", "--count", "-G", "--get"}
    return None if reads & set(argv[1:]) and not {"-D", "--delete", "-F", "--flush", "-I", "--create", "-U", "--update"} & set(argv) \
        else f"{shlex.join(argv)}: conntrack may only list, count or show statistics"


def _conntrackd(argv: list[str], stdin: str | None) -> str | None:
    options = [a for a in argv[1:] if a.startswith("-")]
    reads = {"-C", "-s", "-i", "-e", "-v", "-h", "-x"}  # config path, statistics, the caches (-x: as XML)
    return None if set(options) <= reads else f"{shlex.join(argv)}: conntrackd may only show its caches and statistics"


def _vtysh(argv: list[str], stdin: str | None) -> str | None:
    commands = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "-c"]
    if not commands or any(not c.strip().startswith("show ") for c in commands) or {"-f", "-b", "-w"} & set(argv):
        return f"{shlex.join(argv)}: vtysh may only run show commands"
    return None


def _python(argv: list[str], stdin: str | None) -> str | None:
    if len(argv) >= 3 and argv[1] == "-c" and argv[2] in FIXED_PROGRAMS:
        return None
    if len(argv) >= 2 and argv[1] == "-" and stdin is not None and stdin in {remote.script(m) for m in SHIPPED_PROBES}:
        return None
    return f"{shlex.join(argv)[:120]}: python3 may only run the shipped read-only probes"


def _sh(argv: list[str], stdin: str | None) -> str | None:
    if len(argv) >= 3 and argv[1] == "-c" and argv[2] in (pkeys.SYSFS_SCRIPT, background.WHICH_SCRIPT):
        return None
    if len(argv) == 5 and argv[1] == "-c" and argv[2] == background.STOP_SCRIPT and argv[4].isdigit():
        return None  # stops only a command siteproof itself left running (it checks the pid's command)
    if len(argv) >= 6 and argv[1] == "-c" and argv[2] == background.REMOTE_SCRIPT:
        return _check(argv[5:], stdin)  # a command left running (past $0 and its time-to-live): judged itself
    return f"{shlex.join(argv)[:120]}: a shell may only run siteproof's fixed read-only scripts"


def _xrdfs(argv: list[str], stdin: str | None) -> str | None:
    return None if len(argv) >= 3 and argv[2] in ("query", "stat", "ls", "locate", "spaceinfo") \
        else f"{shlex.join(argv)}: xrdfs may only ask"


def _tcpdump(argv: list[str], stdin: str | None) -> str | None:
    written = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "-w"]
    return None if all(w == "-" for w in written) else f"{shlex.join(argv)}: tcpdump may only write to its stdout"


def _command(argv: list[str], stdin: str | None) -> str | None:
    return None if argv[1:2] == ["-v"] else f"{shlex.join(argv)}: only `command -v` (a lookup)"


RULES: dict[str, Rule] = {
    # Reading, looking up, and probing the network.
    **dict.fromkeys(("true", "uname", "cat", "echo", "hostname", "id", "stat", "readlink", "ls", "ss", "ping", "modinfo",
                     "printf", "test", "[", "printenv", "date"), _always),
    "command": _command,
    "ip": _ip,
    "nft": _nft,
    "sysctl": _sysctl,
    "conntrack": _conntrack,
    "conntrackd": _conntrackd,
    "vtysh": _vtysh,
    "python3": _python,
    "sh": _sh,
    "xrdfs": _xrdfs,
    "tcpdump": _tcpdump,
}
