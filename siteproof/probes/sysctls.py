"""The kernel settings that decide how a node forwards and answers (forwarding, reverse-path
filtering, ARP replies, multipath hashing, redirects), read alike on every member of a
redundant set and compared member against member (siteproof.peers): a member that differs
shows in traffic only when a flow happens to cross it.

Per-interface keys are compared for the interfaces every member has (a member's extra
interface is not a difference of settings); `all` and `default` always.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from siteproof import peers

_KEYS = re.compile(
    r"^net\.ipv4\.(?:ip_forward|ip_nonlocal_bind|fib_multipath_hash_policy|fib_multipath_hash_fields"
    r"|fib_multipath_use_neigh|conf\.(?P<if4>[^.]+)\.(?:rp_filter|arp_ignore|arp_announce|arp_filter|forwarding"
    r"|accept_local|send_redirects|accept_redirects|proxy_arp|src_valid_mark))$"
    r"|^net\.ipv6\.(?:fib_multipath_hash_policy|ip_nonlocal_bind"
    r"|conf\.(?P<if6>[^.]+)\.(?:forwarding|disable_ipv6|accept_ra|accept_redirects))$")
_SHARED = ("all", "default")


def routing_sysctls(backend: Any, node: str) -> dict[str, str]:
    """The node's forwarding and answering settings, key -> value (`sysctl -a`, read-only)."""
    out = backend.run(node, "sysctl", "-a", check=False, timeout=20)
    found = {}
    for line in out.stdout.splitlines():
        key, sep, value = line.partition(" = ")
        if sep and _KEYS.match(key.strip()):
            found[key.strip()] = value.strip()
    return found


def _interface(key: str) -> str | None:
    m = _KEYS.match(key)
    return (m["if4"] or m["if6"]) if m else None


def compare_members(backend: Any, nodes: list[str]) -> tuple[peers.Comparison, dict[str, dict[str, str]]]:
    """Every member's settings (on the interfaces all of them have) against the form most share."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        read = dict(zip(nodes, pool.map(lambda n: routing_sysctls(backend, n), nodes), strict=True))
    per_node = [{i for k in keys if (i := _interface(k))} for keys in read.values()]
    common = set.intersection(*per_node) if per_node else set()
    kept = {n: {k: v for k, v in values.items() if _interface(k) in (*_SHARED, *common) or _interface(k) is None}
            for n, values in read.items()}
    return peers.compare({n: [f"{k} = {v}" for k, v in sorted(values.items())] for n, values in kept.items()}), kept


def members_differ(backend: Any, nodes: list[str], evidence: Any, what: str) -> str:
    """Compare the members, put what was compared and each odd member's lines in the report, and
    return the failure ('' when they agree): '<what> differ in their kernel settings: gw07: ...'."""
    comparison, _ = compare_members(backend, nodes)
    evidence.record(f"{what}: kernel settings compared on each of {len(nodes)} members", len(comparison.reference))
    evidence.table(f"{what}: kernel settings that differ from the other members'", ["member", "changed lines"],
                   [[n, "; ".join(d)] for n, d in comparison.differing.items()] or [["none", "every member alike"]])
    return f"{what} differ in their kernel settings: {comparison.summary()}" if comparison.differing else ""
