"""The one way to load an nftables ruleset, wherever the `nft` command runs.

A runner takes an argv and the text for its standard input and returns
(exit code, stdout, stderr): a lab node, a testinfra host or this process's own namespace.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from typing import Any

from siteproof.cmdline import command_line
from siteproof.errors import SiteproofError

Runner = Callable[[list[str], str], tuple[int, str, str]]


def local_runner(argv: list[str], stdin: str) -> tuple[int, str, str]:
    """Run in this process's namespace (a service inside a node uses this)."""
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def host_runner(host: Any) -> Runner:
    """A runner for a testinfra host (a lab node or a real site host alike)."""

    def run(argv: list[str], stdin: str) -> tuple[int, str, str]:
        result = host.run(command_line(*argv, stdin=stdin))
        return result.rc, result.stdout, result.stderr

    return run


def load(run: Runner, script: str, where: str, check: bool = True) -> str:
    """Load `script` with `nft -f -`; a refused ruleset raises with nft's own reason."""
    code, out, err = run(["nft", "-f", "-"], script)
    if check and code != 0:
        raise SiteproofError(f"{where}: nftables ruleset refused: {err.strip() or out.strip()}")
    return out


OWN_TABLE = re.compile(r"^siteproof_[a-z0-9_]{1,40}$")
FAMILIES = ("ip", "ip6", "inet", "arp", "bridge", "netdev")


def own_table(family: str, table: str) -> str:
    """`FAMILY TABLE` of a table of siteproof's own (a fault made of rules); anything else refused:
    a site's own tables are never replaced or deleted by a run."""
    if family not in FAMILIES or not OWN_TABLE.match(table):
        raise SiteproofError(f"nft table {family!r} {table!r}: refused, not a table of siteproof's own "
                             f"(family one of {', '.join(FAMILIES)}, name siteproof_[a-z0-9_]+)")
    return f"{family} {table}"


def own_table_script(family: str, table: str, body: str) -> str:
    """The script that loads (or replaces) a table of siteproof's own with these chains."""
    name = own_table(family, table)
    return replace_table(family, table, f"table {name} {{\n{body}}}\n")


def replace_table(family: str, table: str, body: str) -> str:
    """A script that swaps a whole table in one transaction (created first so delete works)."""
    return f"table {family} {table}\ndelete table {family} {table}\n{body}"
