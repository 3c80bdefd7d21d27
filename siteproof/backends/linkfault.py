"""A pulled cable on a real host, and everything its undo must put back.

On a host the cable is pulled as `ip link set dev IF down` (siteproof cannot reach the switch).
An administrative down takes more than carrier: the kernel flushes the interface's IPv6
addresses (unless keep_addr_on_down) and every route through it, and `ip link set up` restores
neither (a network manager might; ifupdown does not). So before the down, the interface's
IPv6 keep_addr_on_down is set (its old value kept for the undo) and its static routes are
written to a file on the host; the undo (a fixed script, its values as parameters) brings the
link up, puts the setting back, re-adds the routes with `ip -force -batch`, and removes the file.
Only configured routes (proto boot or static) of the main table through the interface are
saved, one next hop each: a routing daemon re-learns its own.
"""

from __future__ import annotations

import json
from typing import Any

RESTORE_DIR = "/run/siteproof-faults"
# $1 interface, $2 keep_addr_on_down before the fault ('' if the host has no IPv6), $3 the routes' file.
UNDO_SCRIPT = ('ip link set dev "$1" up; '
               '[ -n "$2" ] && sysctl -q -w "net/ipv6/conf/$1/keep_addr_on_down=$2"; '
               '[ -s "$3" ] && ip -force -batch "$3"; rm -f "$3"')
SAVE_SCRIPT = 'umask 077; mkdir -p "$1" && cat > "$2"'
# Only configured routes: the kernel's own (connected, local) come back with the link, and a
# routing daemon's (ospf, bgp, zebra, ...) are its to re-learn.
_CONFIGURED = frozenset({"boot", "static"})


def route_lines(routes: list[dict[str, Any]], ifname: str) -> list[str]:
    """`ip -batch` lines that re-add the saved routes (both families, from `ip -j route show dev IF`)."""
    lines = []
    for route in routes:
        if route.get("protocol", "boot") not in _CONFIGURED or route.get("nexthops") or route.get("type", "unicast") != "unicast":
            continue
        words = ["route", "replace", route["dst"]]
        if route.get("gateway"):
            words += ["via", route["gateway"]]
        words += ["dev", ifname]
        for key, word in (("metric", "metric"), ("protocol", "proto"), ("prefsrc", "src"), ("scope", "scope")):
            if route.get(key) not in (None, ""):
                words += [word, str(route[key])]
        lines.append(" ".join(words))
    return lines


def saved_state(run: Any, node: str, ifname: str) -> tuple[str, list[str]]:
    """The interface's keep_addr_on_down ('' without IPv6) and the lines that restore its routes."""
    keep = run(node, "sysctl", "-n", f"net/ipv6/conf/{ifname}/keep_addr_on_down", check=False)
    routes: list[dict[str, Any]] = []
    for family in ("-4", "-6"):
        routes += json.loads(run(node, "ip", "-j", family, "route", "show", "dev", ifname).stdout or "[]")
    return (keep.stdout.strip() if keep.returncode == 0 else ""), route_lines(routes, ifname)
