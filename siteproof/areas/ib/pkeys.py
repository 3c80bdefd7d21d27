"""InfiniBand partition membership as a fabric states it (IB-8): each port's pkey table in
sysfs, and the subnet manager's partitions.conf (OpenSM's format); compared with what the
inventory expects.

A pkey is 16 bits: the partition is the low 15, the top bit says full (set) or limited
membership. Slot 0 of a port's table is its default partition: the parent IPoIB interface
(ib0) joins it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

FULL = 0x8000
BASE = 0x7FFF
DEFAULT_SYSFS = "/sys/class/infiniband"


def base(pkey: int) -> int:
    return pkey & BASE


def text(pkey: int) -> str:
    return f"0x{pkey:04x}"


# --- sysfs ---------------------------------------------------------------------------
@dataclass
class Port:
    device: str  # mlx5_0
    port: int
    guid: str = ""  # the port GUID, 16 hex digits, from gids/0
    pkeys: dict[int, int] = field(default_factory=dict)  # slot -> pkey, zeros left out
    netdevs: list[str] = field(default_factory=list)  # ib0, ...

    def table(self) -> list[int]:
        return [self.pkeys[i] for i in sorted(self.pkeys)]


# Prints every pkey slot, port GID 0 and netdev name under the sysfs root given as $1: the
# script is fixed text and the root an argument (`sh -c SCRIPT sh ROOT`), never spliced in.
SYSFS_SCRIPT = (f'w="${{1%/}}{DEFAULT_SYSFS}"; '
                'for f in "$w"/*/ports/*/pkeys/* "$w"/*/ports/*/gids/0; do [ -e "$f" ] && '
                'printf \'%s=%s\\n\' "$f" "$(cat "$f" 2>/dev/null)"; done; '
                'for d in "$w"/*/device/net/*; do [ -e "$d" ] && printf \'%s\\n\' "$d"; done; true')


def sysfs_argv(root: str) -> list[str]:
    """The argv that reads the pkey tables under root (/ at a site, a node's folder in the lab)."""
    return ["sh", "-c", SYSFS_SCRIPT, "sh", root]


_PKEY = re.compile(r"/(?P<dev>[^/]+)/ports/(?P<port>\d+)/pkeys/(?P<slot>\d+)=(?P<value>\S*)$")
_GID = re.compile(r"/(?P<dev>[^/]+)/ports/(?P<port>\d+)/gids/0=(?P<value>\S*)$")
_NET = re.compile(r"/(?P<dev>[^/]+)/device/net/(?P<netdev>[^/]+)$")


def parse_sysfs(lines: list[str]) -> dict[str, Port]:
    """Ports by "device/port" from the output of SYSFS_SCRIPT."""
    ports: dict[str, Port] = {}
    nets: dict[str, list[str]] = {}

    def port(dev: str, num: str) -> Port:
        return ports.setdefault(f"{dev}/{num}", Port(dev, int(num)))

    for line in lines:
        line = line.strip()
        if m := _PKEY.search(line):
            value = int(m["value"], 16) if m["value"] else 0
            if value:
                port(m["dev"], m["port"]).pkeys[int(m["slot"])] = value
        elif m := _GID.search(line):
            groups = m["value"].split(":")
            port(m["dev"], m["port"]).guid = "".join(g.rjust(4, "0") for g in groups[4:8]).lower() if len(groups) == 8 else ""
        elif m := _NET.search(line):
            nets.setdefault(m["dev"], []).append(m["netdev"])
    for p in ports.values():
        p.netdevs = sorted(nets.get(p.device, []))
    return ports


# --- partitions.conf ------------------------------------------------------------------
@dataclass
class Partition:
    name: str
    pkey: int  # the partition (low 15 bits)
    defmember: str = "limited"
    members: dict[str, str] = field(default_factory=dict)  # GUID (16 hex) or ALL/ALL_CAS/SELF... -> membership

    def membership(self, guid: str) -> str | None:
        """full / limited / both for this port, or None if it is not a member."""
        if guid in self.members:
            return self.members[guid]
        for group in ("ALL", "ALL_CAS"):
            if group in self.members:
                return self.members[group]
        return None


_IN_MGID = re.compile(r"\s*mgid=[0-9A-Fa-f:]*")  # a colon right inside an IPv6-style multicast GID
_GROUPS = {"ALL", "ALL_CAS", "ALL_SWITCHES", "ALL_ROUTERS", "SELF"}


def _split_header(statement: str) -> tuple[str, str] | None:
    """Header and members of one statement: the first ':' that is not inside an mgid=... flag."""
    for i, ch in enumerate(statement):
        if ch == ":" and not _IN_MGID.fullmatch(statement[:i].rsplit(",", 1)[-1]):
            return statement[:i], statement[i + 1:]
    return None


def parse_partitions(conf: str) -> list[Partition]:
    """OpenSM partitions.conf: `Name=PKey[, flag[=value]...] : [member[=full|limited|both]], ... ;`"""
    body = "\n".join(line.split("#", 1)[0] for line in conf.splitlines())
    found = []
    for statement in body.split(";"):
        statement = " ".join(statement.split())
        if not statement:
            continue
        parts = _split_header(statement)
        if parts is None:
            raise ValueError(f"partitions.conf: no ':' in {statement[:80]!r}")
        header, members = parts
        fields = [f.strip() for f in header.split(",") if f.strip()]
        name, _, pkey = fields[0].partition("=")
        if not pkey:
            raise ValueError(f"partitions.conf: partition {name.strip()!r} has no pkey")
        flags = dict([*f.split("=", 1), ""][:2] for f in fields[1:])
        part = Partition(name.strip(), base(int(pkey.strip(), 16)), flags.get("defmember", "limited").strip().lower())
        for member in (m.strip() for m in members.split(",") if m.strip()):
            who, _, how = member.partition("=")
            who = who.strip()
            key = who.upper() if who.upper() in _GROUPS else who.lower().removeprefix("0x").rjust(16, "0")
            part.members[key] = (how.strip().lower() or part.defmember)
        found.append(part)
    return found


# --- expectations ----------------------------------------------------------------------
def parse_expected(label: str) -> dict[str, list[int]]:
    """An inventory label "ib0=0xffff vhca0=0x0001" (netdev or device = its table, slot 0
    first, '/' between slots)."""
    found = {}
    for item in label.replace(",", " ").split():
        who, _, table = item.partition("=")
        found[who] = [int(p, 16) for p in table.split("/") if p]
    return found


def port_for(ports: dict[str, Port], who: str) -> Port | None:
    return next((p for p in ports.values() if who in p.netdevs or who == p.device), None)


def table_problems(node: str, ports: dict[str, Port], expected: dict[str, list[int]]) -> list[str]:
    problems = []
    for who, want in sorted(expected.items()):
        port = port_for(ports, who)
        if port is None:
            problems.append(f"{node} {who}: no such port in sysfs")
            continue
        have = port.table()
        if have[:1] != want[:1]:
            problems.append(f"{node} {who}: pkey table slot 0 (its default partition) is "
                            f"{text(have[0]) if have else 'empty'}, expected {text(want[0])}")
        elif have != want:
            problems.append(f"{node} {who}: pkey table is {[text(p) for p in have]}, expected {[text(p) for p in want]}")
    return problems


def sm_problems(partitions: list[Partition], members: dict[str, tuple[str, list[int]]]) -> list[str]:
    """The SM's partitions against the expected tables; members: "node who" -> (GUID, pkeys)."""
    by_pkey = {p.pkey: p for p in partitions}
    problems = []
    for who, (guid, want) in sorted(members.items()):
        for pkey in want:
            part = by_pkey.get(base(pkey))
            how = part.membership(guid) if part else None
            need = "full" if pkey & FULL else "limited"
            if part is None:
                problems.append(f"{who}: partition {text(base(pkey))} is not in the SM's partitions.conf")
            elif how is None:
                problems.append(f"{who} (GUID {guid}): not a member of {part.name} ({text(part.pkey)}) in the SM's config")
            elif how not in (need, "both"):
                problems.append(f"{who} (GUID {guid}): {how} member of {part.name} in the SM's config, expected {need}")
    for part in partitions:
        for guid, how in part.members.items():
            owner = next((w for w, (g, want) in members.items() if g == guid), None)
            if owner and base(part.pkey) not in {base(p) for p in members[owner][1]}:
                problems.append(f"{owner} (GUID {guid}): {how} member of {part.name} ({text(part.pkey)}) in the SM's config, "
                                "not expected there")
    return problems
