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
    version: int = 2  # the instance's `version`, else vrrp_version of global_defs (keepalived's default 2)
    tracks: tuple[str, ...] = ()  # track_interface names: losing one gives every VIP of the instance up
    devices: tuple[str, ...] = ()  # the interfaces its VIPs live on (`interface`, or a VIP's own `dev`)


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


_NUMBER = re.compile(r"^\d+(\.\d+)?$")


class KeepalivedSyntaxError(ValueError):
    """A value keepalived would read that siteproof cannot: named, never guessed."""


def _strip_comments(text: str) -> str:
    """keepalived's comments: `#` or `!` to the end of the line, outside double quotes."""
    out = []
    for line in text.splitlines():
        quoted = False
        for pos, char in enumerate(line):
            if char == '"':
                quoted = not quoted
            elif char in "#!" and not quoted:
                line = line[:pos]
                break
        out.append(line)
    return "\n".join(out)


def _value(body: str, key: str) -> str | None:
    found = re.search(rf"^\s*{key}\s+(\S+)", body, re.M)
    return found.group(1) if found else None


def _number(value: str, key: str, where: str, text: str, start: int) -> float:
    """A number as keepalived writes it; else an error naming the line (counted in the config
    as read, includes expanded) and the block."""
    if not _NUMBER.match(value):
        found = re.compile(rf"^\s*{key}\s+{re.escape(value)}", re.M).search(text, start)
        line = text.count("\n", 0, found.start() if found else start) + 1
        raise KeepalivedSyntaxError(f"line {line}: {where}: {key} {value!r} is not a number")
    return float(value)


def parse_keepalived(text: str) -> dict[str, VrrpInstance]:
    """The vrrp_instance blocks of a keepalived.conf (comments stripped). A timer or version
    keepalived reads in a form siteproof cannot is a KeepalivedSyntaxError naming the instance."""
    text = _strip_comments(text)
    version = re.search(r"^\s*vrrp_version\s+(\S+)", text, re.M)
    default_version = int(_number(version.group(1), "vrrp_version", "global_defs", text, 0)) if version else 2
    result: dict[str, VrrpInstance] = {}
    for match in _INSTANCE.finditer(text):
        body, _ = _block(text, match.start())
        name = match.group(1)
        where = f"vrrp_instance {name}"
        # Keys of nested blocks (track_interface's `weight`) must not be read as the instance's.
        top = _top_level(body)
        inst = VrrpInstance(name)
        inst.interface = _value(top, "interface") or ""
        vrid, priority, state = (_value(top, k) for k in ("virtual_router_id", "priority", "state"))
        inst.vrid = int(_number(vrid, "virtual_router_id", where, text, match.start())) if vrid else 0
        inst.priority = int(_number(priority, "priority", where, text, match.start())) if priority else 100
        inst.state = state or "BACKUP"
        inst.nopreempt = re.search(r"^\s*nopreempt\b", top, re.M) is not None
        advert = _value(top, "advert_int")
        inst.advert = _number(advert, "advert_int", where, text, match.start()) if advert else 1.0
        own_version = _value(top, "version")
        inst.version = int(_number(own_version, "version", where, text, match.start())) if own_version else default_version
        tracks = []
        for track_at in re.finditer(r"^\s*track_interface\s*\{", body, re.M):
            tblock, _ = _block(body, track_at.start())
            # `eth2`, `eth2 weight -10`, `eth2 weight 10 reverse`: the name is the first word.
            tracks += [line.split()[0] for line in tblock.splitlines() if line.strip()]
        inst.tracks = tuple(sorted(set(tracks)))
        devices: set[str] = set()
        # Both blocks float with the instance (the excluded one carries the other address family).
        for vip_at in re.finditer(r"virtual_ipaddress(?:_excluded)?\s*\{", body):
            vblock, _ = _block(body, vip_at.start())
            for line in vblock.splitlines():
                words = line.split()
                if words:
                    inst.vips.append(words[0].split("/")[0])
                    devices.add(words[words.index("dev") + 1] if "dev" in words[:-1] else inst.interface)
        inst.devices = tuple(sorted(d for d in devices if d))
        result[inst.name] = inst
    return result


def _top_level(body: str) -> str:
    """The lines of a block outside its nested blocks."""
    out, depth = [], 0
    for char in body:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif depth == 0:
            out.append(char)
    return "".join(out)


@dataclass(frozen=True)
class Group:
    """One VIP's VRRP group across all members: what each member's instance says."""

    vip: str
    instance: str
    priorities: dict[str, int]
    states: dict[str, str]
    nopreempt: dict[str, bool]
    adverts: dict[str, float] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    tracks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    devices: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def disagreements(self) -> list[str]:
        """What the members of this one group do not agree on (they must, or elections misfire,
        or one member keeps a VIP it can no longer serve). Host names are abstracted away."""
        found = []
        for what, values, show in (
            ("advert_int", self.adverts, lambda v: f"{v:g}"),
            ("vrrp_version", self.versions, str),
            ("nopreempt", self.nopreempt, lambda v: "yes" if v else "no"),
            ("track_interface", self.tracks, lambda v: " ".join(v) or "none"),
        ):
            if len(set(values.values())) > 1:
                found.append(f"{what} differs: " + _by_value(values, show))
        return found

    def ranked(self) -> list[str]:
        """Members in takeover order: priority, then higher primary address wins ties (RFC 5798)."""
        return sorted(self.priorities, key=lambda gw: self.priorities[gw], reverse=True)

    def expected_holder(self, live: Iterable[str]) -> str | None:
        live = set(live)
        for gw in self.ranked():
            if gw in live:
                return gw
        return None


def _by_value(values: dict[str, object], show: Callable[[object], str]) -> str:
    """`eth1 eth2` on gw01, gw02 (22 members); `none` on gw03: the odd ones out are easy to see."""
    by: dict[str, list[str]] = {}
    for member, value in sorted(values.items()):
        by.setdefault(show(value), []).append(member)
    parts = sorted(by.items(), key=lambda kv: -len(kv[1]))
    return "; ".join(f"{value} on {', '.join(members[:4])}{' ...' if len(members) > 4 else ''} ({len(members)})"
                     for value, members in parts)


def _address_key(text: str) -> tuple[int, int]:
    addr = ipaddress.ip_address(text)
    return addr.version, int(addr)


def groups_from_configs(configs: dict[str, str]) -> dict[str, Group]:
    """Merge every member's keepalived.conf into one Group per VIP."""
    merged: dict[str, dict] = {}
    for gw, text in configs.items():
        for inst in parse_keepalived(text).values():
            for vip in inst.vips:
                entry = merged.setdefault(vip, {"instance": inst.name, "prio": {}, "state": {}, "nopreempt": {},
                                                "advert": {}, "version": {}, "tracks": {}, "devices": {}})
                entry["prio"][gw] = inst.priority
                entry["state"][gw] = inst.state
                entry["nopreempt"][gw] = inst.nopreempt
                entry["advert"][gw] = inst.advert
                entry["version"][gw] = inst.version
                entry["tracks"][gw] = inst.tracks
                entry["devices"][gw] = inst.devices
    return {
        vip: Group(vip, e["instance"], e["prio"], e["state"], e["nopreempt"], e["advert"], e["version"], e["tracks"],
                   e["devices"])
        for vip, e in sorted(merged.items(), key=lambda kv: _address_key(kv[0]))
    }


def host_addresses(host: Host) -> set[str]:
    out = host.check_output("ip -o addr show")
    return {line.split()[3].split("/")[0] for line in out.splitlines() if len(line.split()) > 3}
