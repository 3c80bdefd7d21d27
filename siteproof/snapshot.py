"""What a site looks like, host by host, before and after a disruptive run, and what changed.

Every host: its addresses and link states (which VIPs it holds is its VRRP state), routes and
rules of both families, the nft ruleset, and the services its `services` label names (systemd).
Areas add sections of their own (the DNS area: every zone's records and SOA serials).
What moves by itself is left out before comparing, as pyATS/Genie's diff has excludes: counters,
rule handles, lifetimes and expiries, the elements of sets that fill with traffic. A section an
area marks informational (SOA serials: every update moves them) is shown but does not fail.
"""

from __future__ import annotations

import contextlib
import html
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from siteproof import budgets
from siteproof.site import Site
from siteproof.wait import WaitTimeout, wait_until

budgets.register("snapshot_settle", 15.0, "after the last undo, what heals by itself (an IPv6 address out of DAD and "
                 "its local route, a VIP coming home) is back before the post snapshot calls the site changed",
                 owner="snapshot")

Sections = dict[str, list[str]]  # section -> sorted lines
Snapshot = dict[str, Sections]  # host -> its sections

# Keys that change without anyone changing the host.
VOLATILE = frozenset({"handle", "packets", "bytes", "expires", "valid_life_time", "preferred_life_time", "used",
                      "lastused", "cacheinfo"})


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def addresses(text: str) -> list[str]:
    """`ip -j addr` as 'ifname state' and 'ifname address/prefix' lines (no lifetimes)."""
    lines = []
    for link in json.loads(text or "[]"):
        lines.append(f"{link['ifname']} {link.get('operstate', '?')}")
        lines += [f"{link['ifname']} {a['local']}/{a['prefixlen']}" for a in link.get("addr_info", []) if "local" in a]
    return sorted(lines)


def entries(text: str) -> list[str]:
    """`ip -j route` or `ip -j rule` entries, each a sorted-key JSON line without expiries or cache data.
    An IPv6 link-local address's own local route is left out: the kernel adds it when the address
    leaves DAD (a host's link just up), and the address itself is compared under addresses."""
    return sorted(json.dumps(_strip(r), sort_keys=True) for r in json.loads(text or "[]") if not _link_local_own(r))


def _link_local_own(route: dict[str, Any]) -> bool:
    return route.get("table") == "local" and route.get("type") == "local" and str(route.get("dst", "")).startswith("fe80:")


def ruleset(text: str) -> list[str]:
    """`nft -j list ruleset` objects without handles, counter values or the elements of sets that
    fill by themselves (dynamic or with timeouts)."""
    lines = []
    for obj in json.loads(text or '{"nftables": []}').get("nftables", []):
        if "metainfo" in obj:
            continue
        obj = _strip(obj)
        found = obj.get("set") or obj.get("map")
        if found and ("timeout" in found or "dynamic" in found.get("flags", [])):
            found.pop("elem", None)
        lines.append(json.dumps(obj, sort_keys=True))
    return sorted(lines)


HOST_SECTIONS: dict[str, tuple[list[str], Callable[[str], list[str]]]] = {
    "addresses": (["ip", "-j", "addr", "show"], addresses),
    "routes": (["ip", "-j", "-4", "route", "show", "table", "all"], entries),
    "routes6": (["ip", "-j", "-6", "route", "show", "table", "all"], entries),
    "rules": (["ip", "-j", "-4", "rule", "show"], entries),
    "rules6": (["ip", "-j", "-6", "rule", "show"], entries),
    "nft": (["nft", "-j", "list", "ruleset"], ruleset),
}


@dataclass(frozen=True)
class Area:
    """An area's part of the snapshot: sections read through the site, for the site as a whole."""

    name: str
    read: Callable[[Site], Sections]
    applies: Callable[[Site], bool]
    informational: frozenset[str] = frozenset()  # shown, never failing


AREAS: dict[str, Area] = {}


@dataclass(frozen=True)
class Owned:
    """Entries of a host section that one of the site's own daemons sets and moves by design (the
    NAT tracker's default route on each compute): compared apart, in a section of their own
    (`routes-by-nattracker`), shown but informational."""

    role: str  # the hosts they are on
    section: str  # the host section they are read in
    owner: str  # the daemon that sets them
    matches: Callable[[str], bool]  # a line of that section it owns

    @property
    def name(self) -> str:
        return f"{self.section}-by-{self.owner}"


OWNED: list[Owned] = []


def register_area(area: Area) -> None:
    AREAS[area.name] = area


def register_owned(owned: Owned) -> None:
    OWNED.append(owned)


# The kernel's subnet-router anycast routes (RFC 4291 2.6.1, a forwarding host's per-prefix
# anycast): bookkeeping the kernel derives from the addresses and the forwarding setting, both
# compared. Seen in CI: after a disruptive gateway run a gateway's two anycast routes stayed
# gone although every address and VIP was back; shown, informational, never failing.
SUBNET_ANYCAST = "routes6-subnet-anycast"


def _subnet_anycast(line: str) -> bool:
    return '"type": "anycast"' in line and '"table": "local"' in line and '"protocol": "kernel"' in line


def informational_sections() -> set[str]:
    return {s for a in AREAS.values() for s in a.informational} | {o.name for o in OWNED} | {SUBNET_ANYCAST}


def _set_apart(site: Site, node: str, sections: Sections) -> Sections:
    if "routes6" in sections:
        lines = sections["routes6"]
        sections[SUBNET_ANYCAST] = [line for line in lines if _subnet_anycast(line)]
        sections["routes6"] = [line for line in lines if not _subnet_anycast(line)]
    for owned in OWNED:
        if site.labels[node].get("role") == owned.role and owned.section in sections:
            lines = sections[owned.section]
            sections[owned.name] = [line for line in lines if owned.matches(line)]
            sections[owned.section] = [line for line in lines if not owned.matches(line)]
    return sections


def _host(site: Site, node: str) -> Sections:
    found: Sections = {}
    for section, (argv, normalise) in HOST_SECTIONS.items():
        proc = site.backend.run(node, *argv, check=False, timeout=30)
        try:
            found[section] = normalise(proc.stdout) if proc.returncode == 0 else [f"unreadable: {proc.stderr.strip()[:200]}"]
        except (ValueError, KeyError, TypeError) as exc:
            found[section] = [f"unparsable: {exc}"]
    services = [s for s in site.labels[node].get("services", "").split(",") if s]
    if services:
        proc = site.backend.run(node, "systemctl", "is-active", *services, check=False, timeout=30)
        found["services"] = sorted(f"{s} {state}" for s, state in zip(services, proc.stdout.split(), strict=False))
    return found


def take(site: Site) -> Snapshot:
    """Every host of the site (in parallel), then every area that applies."""
    nodes = sorted(site.labels)
    with ThreadPoolExecutor(max_workers=8) as pool:
        snap: Snapshot = dict(zip(nodes, pool.map(lambda n: _set_apart(site, n, _host(site, n)), nodes), strict=True))
    for area in AREAS.values():
        if area.applies(site):
            snap[f"({area.name})"] = {f"{area.name} {k}": v for k, v in area.read(site).items()}
    return snap


def settled_after(site: Site, before: Snapshot) -> tuple[Snapshot, list[Change]]:
    """The post snapshot and its changes: taken again while it differs from `before`, within the
    snapshot_settle budget, so a state still healing is not called a change; what stays is."""
    taken: list[tuple[Snapshot, list[Change]]] = []

    def again() -> bool:
        after = take(site)
        taken.append((after, diff(before, after)))
        return left_as_found(taken[-1][1])

    with contextlib.suppress(WaitTimeout):
        wait_until(again, "snapshot_settle", expected="the site as found", interval=1.0)
    return taken[-1]


@dataclass
class Change:
    host: str
    section: str
    removed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    informational: bool = False


def diff(before: Snapshot, after: Snapshot, informational: set[str] | None = None) -> list[Change]:
    informational = informational_sections() if informational is None else informational
    changes = []
    for host in sorted(set(before) | set(after)):
        b, a = before.get(host, {}), after.get(host, {})
        for section in sorted(set(b) | set(a)):
            old, new = set(b.get(section, [])), set(a.get(section, []))
            if old != new:
                changes.append(Change(host, section, sorted(old - new), sorted(new - old),
                                      section.split(" ", 1)[-1] in informational))
    return changes


def left_as_found(changes: list[Change]) -> bool:
    return not any(not c.informational for c in changes)


def summary(changes: list[Change]) -> list[str]:
    """Terminal lines: one per changed section, with what went and what came."""
    if left_as_found(changes):
        return ["siteproof: the site was left as found (pre/post snapshot)"] + [
            f"  {c.host} {c.section} (informational): -{len(c.removed)} +{len(c.added)}" for c in changes]
    lines = ["siteproof: the site was NOT left as found (pre/post snapshot):"]
    for c in changes:
        tag = " (informational)" if c.informational else ""
        lines.append(f"  {c.host} {c.section}{tag}:")
        lines += [f"    - {line[:200]}" for line in c.removed[:10]] + [f"    + {line[:200]}" for line in c.added[:10]]
    return lines


def html_section(changes: list[Change]) -> str:
    verdict = ("<p>Left as found: the hosts' addresses, routes, rules, rulesets, services and zones are as "
               "before the run.</p>" if left_as_found(changes) else
               "<p style='color:#b00'><b>Not left as found</b>: the run changed the site (below).</p>")
    rows = "".join(
        f"<tr><td>{html.escape(c.host)}</td><td>{html.escape(c.section)}{' (informational)' if c.informational else ''}</td>"
        f"<td><pre>{html.escape(chr(10).join(c.removed))}</pre></td><td><pre>{html.escape(chr(10).join(c.added))}</pre></td></tr>"
        for c in changes)
    table = (f"<table><tr><th>host</th><th>section</th><th>before only</th><th>after only</th></tr>{rows}</table>"
             if changes else "")
    return f"<h2>Pre/post snapshot</h2>{verdict}{table}"
