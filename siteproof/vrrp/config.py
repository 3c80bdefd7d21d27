"""VRRP facts read from keepalived configs and from hosts: who should hold, who holds."""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from testinfra.host import Host

_INSTANCE = re.compile(r"^\s*vrrp_instance\s+(\S+)\s*\{", re.M)


@dataclass
class VrrpInstance:
    name: str
    interface: str = ""
    vrid: int = 0
    priority: int = 100
    state: str = "BACKUP"
    nopreempt: bool = False
    vips: list[str] = field(default_factory=list)
    advert: float = 1.0  # advert_int, seconds (keepalived's default 1)
    version: int = 2  # vrrp_version of global_defs (keepalived's default 2)


def _block(text: str, start: int) -> tuple[str, int]:
    """The text inside the braces that open at or after `start`, and where it ends."""
    depth = 0
    begin = text.index("{", start)
    for pos in range(begin, len(text)):
        if text[pos] == "{":
            depth += 1
        elif text[pos] == "}":
            depth -= 1
            if depth == 0:
                return text[begin + 1 : pos], pos
    raise ValueError("unbalanced braces in keepalived config")


_INCLUDE = re.compile(r"^\s*include\s+(?P<path>\S+)\s*$", re.M)
_MAX_INCLUDE_DEPTH = 8


class IncludeError(Exception):
    """An `include` that cannot be followed: the config cannot be judged, not read as empty."""


def expand_includes(text: str, path: str, read: Callable[[str], str], depth: int = 0) -> str:
    """The config with every `include FILE` replaced by that file (relative to the including
    file's folder, as keepalived resolves it). A glob or an unreadable file is an IncludeError."""
    if depth > _MAX_INCLUDE_DEPTH:
        raise IncludeError(f"{path}: includes nest deeper than {_MAX_INCLUDE_DEPTH} (a loop?)")

    def one(m: re.Match[str]) -> str:
        target = m["path"]
        if not target.startswith("/"):
            target = posixpath.join(posixpath.dirname(path), target)
        if any(c in target for c in "*?["):
            raise IncludeError(f"{path}: include {m['path']}: a glob, which siteproof does not expand; list the files")
        try:
            included = read(target)
        except Exception as exc:  # noqa: BLE001 - whatever the backend raises, the include is unreadable
            raise IncludeError(f"{path}: include {m['path']}: cannot read {target}: {exc}") from None
        return expand_includes(included, target, read, depth + 1)

    return _INCLUDE.sub(one, text)


def parse_keepalived(text: str) -> dict[str, VrrpInstance]:
    """The vrrp_instance blocks of a keepalived.conf (comments stripped)."""
    text = re.sub(r"[#!].*", "", text)
    version = re.search(r"^\s*vrrp_version\s+(\d)", text, re.M)
    result: dict[str, VrrpInstance] = {}
    for match in _INSTANCE.finditer(text):
        body, _ = _block(text, match.start())
        inst = VrrpInstance(match.group(1))
        for key, attr, cast in (
            ("interface", "interface", str),
            ("virtual_router_id", "vrid", int),
            ("priority", "priority", int),
            ("state", "state", str),
        ):
            found = re.search(rf"^\s*{key}\s+(\S+)", body, re.M)
            if found:
                setattr(inst, attr, cast(found.group(1)))
        inst.nopreempt = re.search(r"^\s*nopreempt\b", body, re.M) is not None
        advert = re.search(r"^\s*advert_int\s+(\S+)", body, re.M)
        inst.advert = float(advert.group(1)) if advert else 1.0
        inst.version = int(version.group(1)) if version else 2
        # Both blocks float with the instance (the excluded one carries the other address family).
        for vip_at in re.finditer(r"virtual_ipaddress(?:_excluded)?\s*\{", body):
            vblock, _ = _block(body, vip_at.start())
            inst.vips += [line.split()[0].split("/")[0] for line in vblock.splitlines() if line.strip()]
        result[inst.name] = inst
    return result


@dataclass(frozen=True)
class Group:
    """One VIP's VRRP group across all gateways: priority per gateway."""

    vip: str
    instance: str
    priorities: dict[str, int]
    states: dict[str, str]
    nopreempt: dict[str, bool]
    adverts: dict[str, float] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)

    def disagreements(self) -> list[str]:
        """What the members of this one group do not agree on (they must, or elections misfire)."""
        found = []
        for what, values in (("advert_int", self.adverts), ("vrrp_version", self.versions)):
            if len(set(values.values())) > 1:
                found.append(f"{what} differs: " + ", ".join(f"{gw} {v:g}" for gw, v in sorted(values.items())))
        return found

    def ranked(self) -> list[str]:
        """Gateways in takeover order: priority, then higher primary address wins ties (RFC 5798)."""
        return sorted(self.priorities, key=lambda gw: self.priorities[gw], reverse=True)

    def expected_holder(self, live: Iterable[str]) -> str | None:
        live = set(live)
        for gw in self.ranked():
            if gw in live:
                return gw
        return None


def _address_key(text: str) -> tuple[int, int]:
    addr = ipaddress.ip_address(text)
    return addr.version, int(addr)


def groups_from_configs(configs: dict[str, str]) -> dict[str, Group]:
    """Merge every gateway's keepalived.conf into one Group per VIP."""
    merged: dict[str, dict[str, dict]] = {}
    for gw, text in configs.items():
        for inst in parse_keepalived(text).values():
            for vip in inst.vips:
                entry = merged.setdefault(vip, {"instance": inst.name, "prio": {}, "state": {}, "nopreempt": {}, "advert": {},
                                                "version": {}})
                entry["prio"][gw] = inst.priority
                entry["state"][gw] = inst.state
                entry["nopreempt"][gw] = inst.nopreempt
                entry["advert"][gw] = inst.advert
                entry["version"][gw] = inst.version
    return {
        vip: Group(vip, e["instance"], e["prio"], e["state"], e["nopreempt"], e["advert"], e["version"])
        for vip, e in sorted(merged.items(), key=lambda kv: _address_key(kv[0]))
    }


def host_addresses(host: Host) -> set[str]:
    out = host.check_output("ip -o addr show")
    return {line.split()[3].split("/")[0] for line in out.splitlines() if len(line.split()) > 3}
