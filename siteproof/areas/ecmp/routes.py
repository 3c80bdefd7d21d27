"""ECMP facts read from hosts through testinfra: routes, next hops, hash policy, predictions.

Everything here only reads, so it runs the same on a lab node and on a real compute.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from testinfra.host import Host

from siteproof.cmdline import command_line
from siteproof.probes.flowcount import Flow

# Per address family: the site parameter with the storage prefix, the HSN and storage VIP labels.
FAMILIES = {
    4: {"storage_prefix": "storage_prefix", "hsn_vip": "hsn_vip", "storage_vip": "storage_vip"},
    6: {"storage_prefix": "storage_prefix6", "hsn_vip": "hsn_vip6", "storage_vip": "storage_vip6"},
}


@dataclass(frozen=True)
class RouteEntry:
    dst: str
    next_hops: tuple[str, ...]
    raw: dict
    weights: tuple[int, ...] = ()  # per next hop, as the kernel reports them (1 when not shown)

    @property
    def table(self) -> str:
        return str(self.raw.get("table", "main"))


def routes_to(host: Host, prefix: str, family: int) -> list[RouteEntry]:
    """The routes a host has for exactly this prefix in any routing table (a policy-routing
    table can divert traffic that the main table's route looks right for), next hops in order."""
    listing = json.loads(host.check_output(command_line("ip", "-j", f"-{family}", "route", "show", "table", "all", "exact", prefix)) or "[]")
    entries = []
    for route in listing:
        hops = [h for h in route.get("nexthops") or [route] if "gateway" in h]
        entries.append(RouteEntry(route.get("dst", prefix), tuple(h["gateway"] for h in hops), route,
                                  tuple(int(h.get("weight", 1)) for h in hops)))
    return entries


def hash_policy(host: Host, family: int) -> int | None:
    key = f"net.ipv{family}.fib_multipath_hash_policy"
    result = host.run(command_line("sysctl", "-n", key))
    return int(result.stdout.strip()) if result.rc == 0 and result.stdout.strip().isdigit() else None


def predicted_next_hops(host: Host, flows: list[Flow], batch: int = 200) -> list[str | None]:
    """The next hop the host's kernel picks for each flow (`ip route get`, batched)."""
    hops: list[str | None] = []
    for start in range(0, len(flows), batch):
        chunk = flows[start : start + batch]
        lines = [f"route get {f.dst} from {f.src} ipproto {f.proto} sport {f.sport} dport {f.dport}" for f in chunk]
        out = host.run(command_line("ip", "-j", "-batch", "-", stdin="\n".join(lines)))
        answers = [json.loads(line) for line in out.stdout.splitlines() if line.strip().startswith("[")]
        if len(answers) != len(chunk):
            raise RuntimeError(f"ip route get answered {len(answers)} of {len(chunk)} lookups: {out.stderr.strip()[:300]}")
        hops += [answer[0].get("gateway") if answer else None for answer in answers]
    return hops


def bar(count: int, top: int, width: int = 40) -> str:
    """A text bar for the report (reads in HTML and in JUnit properties alike)."""
    return "█" * max(1 if count else 0, round(width * count / top)) if top else ""
