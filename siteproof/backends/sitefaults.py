"""Faults at a real site, over SSH, each armed with a dead-man switch on its own host.

A fault is applied together with its undo, scheduled on the host itself to run after the
inventory's time-to-live (`faults.ttl`): a detached `sleep TTL && UNDO` started in the same
command. Undoing the fault cancels that timer and runs the undo now; a runner that dies or
loses its SSH connection leaves a site that heals itself. Values are never parsed by a shell:
the timer's script is fixed text and the undo's words are its positional parameters.

Safety, checked before anything changes: the run must allow changes (--allow-disruptive), the
host must be one the inventory names as faultable, at most `faults.at_once` hosts are faulted at
a time, and no fault touches the interface that carries the runner's own SSH session to that
host (found with `ip route get` toward the address the host sees the runner at).

Faults offered here: a data interface down (a pulled cable, as seen by the host; what an
administrative down flushes is restored by its undo: siteproof.backends.linkfault), a frozen
host's network (every data interface drops what arrives, and the host sends and forwards
nothing), an nft table of siteproof's own (a redirect or a block: DNS-2's rogue server), and
a daemon stopped, started or crashed through its service manager: systemd by
default (`systemctl stop|start UNIT`, `systemctl kill --signal=SIGKILL UNIT`), each daemon kind's
unit and each action's command configurable in the inventory (`faults.units`, `faults.actions`:
argv lists with `{unit}`, `{kind}` and `{dir}`, the daemon's directory from the host's `dirs`).
A host is powered off and on by the inventory's commands (`faults.power`: ipmitool, a Redfish
client), run on a management host (`via`) that keeps the dead-man's power-on: never on the host
powered off.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from siteproof import budgets, nft
from siteproof.backends import linkfault
from siteproof.backends.base import MissingCapability
from siteproof.errors import SiteproofError
from siteproof.probes.ruleset import arrival_interface
from siteproof.wait import wait_until

FREEZE_TABLE = "siteproof_freeze"
budgets.register("host_boot", 900.0, "a site host powered on again answers over SSH (a server's boot)", owner="site faults")
_IFNAME = re.compile(r"^[A-Za-z0-9_.:@-]{1,15}$")
# The timer's script: fixed text. $1 is the time-to-live, the rest the undo command's words.
_DEADMAN = 'ttl=$1; shift; (sleep "$ttl" && exec "$@") </dev/null >/dev/null 2>&1 & echo $!'


class FaultRefused(SiteproofError):
    """A fault siteproof will not apply at this site; nothing was changed."""


class NotFaultable(FaultRefused, MissingCapability):
    """The host is outside what the inventory lets a run fault: the operator's scope, so the test
    that needed it is skipped (saying which host), not failed."""


# Debian's unit for each daemon kind the suites fault (FRR's daemons are one service).
SYSTEMD_UNITS = {"named": "named", "knot": "knot", "unbound": "unbound", "keepalived": "keepalived", "zebra": "frr",
                 "ospfd": "frr", "bgpd": "frr", "conntrackd": "conntrackd", "chronyd": "chrony"}
SYSTEMD_ACTIONS = {"stop": ("systemctl", "stop", "{unit}"), "start": ("systemctl", "start", "{unit}"),
                   "crash": ("systemctl", "kill", "--signal=SIGKILL", "{unit}"),
                   "running": ("systemctl", "is-active", "--quiet", "{unit}"),
                   # A frozen host's services: stopped where they stand, resumed as they were.
                   "freeze": ("systemctl", "kill", "--signal=SIGSTOP", "{unit}"),
                   "thaw": ("systemctl", "kill", "--signal=SIGCONT", "{unit}")}
# Never frozen: they carry siteproof's own session to the host.
NEVER_FROZEN = frozenset({"sshd", "mgmt-sshd"})
_UNIT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:-]*$")


_WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")  # a host name or address put into a power command


@dataclass(frozen=True)
class PowerControl:
    """The inventory's `faults.power`: the host that runs the power commands (`via`: a management
    host that reaches the BMCs; the dead-man's power-on lives there, never on the host powered
    off) and the commands, argv lists with `{host}` (the inventory's name) and `{bmc}` (the
    host's label `bmc`), for example `ipmitool -I lanplus -H {bmc} -U admin -f FILE chassis power off`
    (a password stays in a file on `via`: nothing secret is in the inventory or the report)."""

    via: str
    off: tuple[str, ...]
    on: tuple[str, ...]

    @classmethod
    def from_inventory(cls, section: dict[str, Any], labels: dict[str, dict[str, str]]) -> PowerControl:
        if section.get("via") not in labels:
            raise SiteproofError(f"inventory faults.power.via: {section.get('via')!r} is not among the hosts")
        return cls(section["via"], tuple(section["off"]), tuple(section["on"]))

    def command(self, which: str, node: str, bmc: str | None) -> list[str]:
        template = self.off if which == "off" else self.on
        if any("{bmc}" in word for word in template) and not bmc:
            raise FaultRefused(f"a power {which} of {node}: refused, faults.power.{which} names {{bmc}} and {node} has no label bmc")
        for value in (node, bmc or ""):
            if value and not _WORD.match(value):
                raise FaultRefused(f"a power {which} of {node}: refused, {value!r} is not a host name or address")
        return [word.replace("{host}", node).replace("{bmc}", bmc or "") for word in template]


@dataclass(frozen=True)
class FaultPolicy:
    """The inventory's `faults:` section."""

    ttl: float = 300.0
    hosts: frozenset[str] = frozenset()
    at_once: int = 1
    units: dict[str, str] = field(default_factory=dict)
    actions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    power: PowerControl | None = None
    bmcs: dict[str, str] = field(default_factory=dict)  # each host's label `bmc`, for the power commands

    @classmethod
    def from_inventory(cls, section: dict[str, Any], labels: dict[str, dict[str, str]]) -> FaultPolicy:
        roles = set(section.get("roles") or [])
        hosts = set(section.get("hosts") or []) | {h for h, lab in labels.items() if lab.get("role") in roles}
        unknown = sorted(hosts - set(labels))
        if unknown:
            raise SiteproofError(f"inventory faults.hosts: {', '.join(unknown)} not among the hosts")
        power = PowerControl.from_inventory(section["power"], labels) if section.get("power") else None
        return cls(float(section.get("ttl", 300.0)), frozenset(hosts), int(section.get("at_once", 1)),
                   dict(section.get("units") or {}), {k: tuple(v) for k, v in (section.get("actions") or {}).items()},
                   power, {h: lab["bmc"] for h, lab in labels.items() if lab.get("bmc")})

    def command(self, action: str, kind: str, directory: str | None = None) -> list[str]:
        """An action's argv for a daemon kind: the inventory's, else systemd's. `{dir}` is the
        daemon's directory on the host (the inventory's `dirs`), for actions that need it."""
        unit = self.units.get(kind) or SYSTEMD_UNITS.get(kind, kind)
        if not _UNIT.match(unit):
            raise SiteproofError(f"inventory faults.units.{kind}: {unit!r} is not a unit name")
        template = self.actions.get(action) or SYSTEMD_ACTIONS[action]
        if any("{dir}" in word for word in template) and not directory:
            raise FaultRefused(f"inventory faults.actions.{action} names {{dir}}, and the host has no dirs.{kind}")
        return [word.replace("{unit}", unit).replace("{kind}", kind).replace("{dir}", directory or "") for word in template]


@dataclass
class Armed:
    """A fault in place on a host: its timer's pid there and the undo it will run."""

    node: str
    what: str
    timer_pid: int
    undo: list[str]
    victim: str = ""  # the host faulted, where the timer lives elsewhere (a power-on on the `via` host)

    @property
    def faulted(self) -> str:
        return self.victim or self.node


@dataclass
class SiteFaults:
    backend: Any  # siteproof.backends.ssh.SshBackend
    policy: FaultPolicy
    armed: list[Armed] = field(default_factory=list)
    applied_at: float | None = None  # when the last fault's own command was sent (after its preparation)
    _ssh_ifs: dict[str, str] = field(default_factory=dict)
    _offsets: dict[str, float] = field(default_factory=dict)

    def clock_offset(self, node: str) -> float:
        """The host's clock minus the runner's (read once, at the middle of the round trip)."""
        if node not in self._offsets:
            before = time.time()
            said = self.backend.run(node, "date", "+%s.%N", timeout=10).stdout.strip()
            self._offsets[node] = float(said) - (before + time.time()) / 2
        return self._offsets[node]

    # --- safety ---------------------------------------------------------------------
    def runner_interface(self, node: str) -> str:
        """The host's interface toward the runner's SSH session ('' if it cannot be told)."""
        if node not in self._ssh_ifs:
            seen = self.backend.run(node, "printenv", "SSH_CONNECTION", check=False).stdout.split()
            try:
                client = str(ipaddress.ip_address(seen[0])) if seen else ""
            except ValueError:
                client = ""
            self._ssh_ifs[node] = (arrival_interface(self.backend, node, client) or "") if client else ""
        return self._ssh_ifs[node]

    def _may_fault(self, node: str, what: str) -> None:
        if node not in self.policy.hosts:
            raise NotFaultable(f"{what} on {node}: refused, {node} is not a faultable host "
                               f"(inventory faults.hosts or faults.roles: {', '.join(sorted(self.policy.hosts)) or 'none'})")
        faulted = {a.faulted for a in self.armed}
        if node not in faulted and len(faulted) >= self.policy.at_once:
            raise FaultRefused(f"{what} on {node}: refused, {', '.join(sorted(faulted))} already faulted "
                               f"(inventory faults.at_once {self.policy.at_once})")
        self.clock_offset(node)  # read now, not between the fault and what the test times after it
        if not self.runner_interface(node):
            raise FaultRefused(f"{what} on {node}: refused, the interface carrying siteproof's SSH session to it "
                               "cannot be told (no SSH_CONNECTION, or no route back)")

    def data_interfaces(self, node: str) -> list[str]:
        links = json.loads(self.backend.run(node, "ip", "-j", "link", "show").stdout or "[]")
        keep = self.runner_interface(node)
        return [n for link in links if (n := link.get("ifname", "")) and n not in ("lo", keep) and _IFNAME.match(n)]

    # --- the dead-man switch --------------------------------------------------------------
    def _arm(self, node: str, what: str, undo: list[str], victim: str = "") -> Armed:
        out = self.backend.run(node, "sh", "-c", _DEADMAN, "siteproof-deadman", f"{self.policy.ttl:g}", *undo)
        pid = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
        if not pid.isdigit():
            raise SiteproofError(f"{node}: the dead-man timer for {what} did not start: {out.stderr.strip()[:200]}")
        armed = Armed(node, what, int(pid), undo, victim)
        self.armed.append(armed)
        return armed

    def _disarm(self, node: str, what: str) -> None:
        """Cancel the timer and run the undo now."""
        for armed in [a for a in self.armed if a.node == node and a.what == what]:
            self.backend.run(node, "kill", str(armed.timer_pid), check=False)
            self.backend.run(node, *armed.undo, check=False)
            self.armed.remove(armed)

    # --- faults -----------------------------------------------------------------------------
    def set_link(self, node: str, ifname: str, up: bool) -> None:
        what = f"link {ifname}"
        if up:
            self._disarm(node, what)
            self.backend.run(node, "ip", "link", "set", "dev", ifname, "up")
            return
        if not _IFNAME.match(ifname):
            raise FaultRefused(f"{what} on {node}: refused, not an interface name")
        self._may_fault(node, f"a pulled cable ({ifname})")
        if ifname == self.runner_interface(node):
            raise FaultRefused(f"a pulled cable ({ifname}) on {node}: refused, {ifname} carries siteproof's own SSH "
                               "session to the host (the fault would cut the runner off, and its undo with it)")
        # What the down takes away is saved first, and the undo armed before any change: if the
        # runner dies between two commands, the host still heals (siteproof.backends.linkfault).
        keep, routes = linkfault.saved_state(self.backend.run, node, ifname)
        saved = f"{linkfault.RESTORE_DIR}/{ifname}.routes"
        self.backend.run(node, "sh", "-c", linkfault.SAVE_SCRIPT, "siteproof-save", linkfault.RESTORE_DIR, saved,
                         stdin="\n".join(routes))
        self._arm(node, what, ["sh", "-c", linkfault.UNDO_SCRIPT, "siteproof-undo", ifname, keep, saved])
        if keep:
            self.backend.run(node, "sysctl", "-q", "-w", f"net/ipv6/conf/{ifname}/keep_addr_on_down=1")
        self.applied_at = time.monotonic()
        self.backend.run(node, "ip", "link", "set", "dev", ifname, "down")

    def freeze(self, node: str) -> None:
        self._may_fault(node, "a frozen host")
        ifnames = self.data_interfaces(node)
        chains = "".join(f'  chain in_{k} {{ type filter hook ingress device "{i}" priority -500; policy drop; }}\n'
                         for k, i in enumerate(ifnames))
        out_rule = f"oifname {{ {', '.join(f'{chr(34)}{i}{chr(34)}' for i in ifnames)} }} drop; " if ifnames else ""
        ruleset = (f"table netdev {FREEZE_TABLE} {{\n{chains}}}\n"
                   f"table inet {FREEZE_TABLE} {{\n"
                   f"  chain freeze_out {{ type filter hook output priority -500; policy accept; {out_rule}}}\n"
                   f"  chain freeze_forward {{ type filter hook forward priority -500; policy drop; }}\n}}\n")
        self._arm(node, "freeze", ["nft", f"delete table netdev {FREEZE_TABLE}; delete table inet {FREEZE_TABLE}"])
        self.applied_at = time.monotonic()
        out = self.backend.run(node, "nft", "-f", "-", stdin=ruleset, check=False)
        if out.returncode != 0:
            self._disarm(node, "freeze")
            raise SiteproofError(f"{node}: the freeze ruleset was refused: {(out.stderr or out.stdout).strip()[:300]}")
        # Then its services stop where they stand (a hung host's daemons do not run on in
        # isolation: a VRRP member or a health agent that did would come back with a view of
        # its own), each with its own resume armed first.
        for kind in self.frozen_services(node):
            stop, resume = self._command(node, "freeze", kind), self._command(node, "thaw", kind)
            self._arm(node, f"freeze {kind}", resume)
            done = self.backend.run(node, *stop, check=False)
            if done.returncode != 0:
                self.thaw(node)
                raise SiteproofError(f"{node}: freezing {kind} ({' '.join(stop)}) failed: "
                                     f"{(done.stderr or done.stdout).strip()[:300]}")

    def add_table(self, node: str, family: str, table: str, body: str) -> None:
        """A fault made of rules (a redirect, a block): an nft table of siteproof's own, its
        deletion armed as the dead-man's undo before it is loaded."""
        name = nft.own_table(family, table)
        self._may_fault(node, f"a ruleset of siteproof's own ({name})")
        what = f"table {name}"
        self._arm(node, what, ["nft", f"delete table {name}"])
        self.applied_at = time.monotonic()
        out = self.backend.run(node, "nft", "-f", "-", stdin=nft.own_table_script(family, table, body), check=False)
        if out.returncode != 0:
            self._disarm(node, what)
            raise SiteproofError(f"{node}: the ruleset {name} was refused: {(out.stderr or out.stdout).strip()[:300]}")

    def delete_table(self, node: str, family: str, table: str) -> None:
        self._disarm(node, f"table {nft.own_table(family, table)}")

    def power_off(self, node: str) -> str:
        """The host powered off by the inventory's power command, run on `via`, where the power-on
        is armed first: a runner that dies leaves a host that is powered on again after the TTL."""
        power = self.policy.power
        if power is None:
            raise NotFaultable(f"a power off of {node}: the inventory names no power commands (faults.power)")
        if power.via == node:
            raise FaultRefused(f"a power off of {node}: refused, {node} is faults.power.via itself (nothing would power it on)")
        self._may_fault(node, "a power off")
        bmc = self.policy.bmcs.get(node)
        off, on = power.command("off", node, bmc), power.command("on", node, bmc)
        self._arm(power.via, f"power {node}", on, victim=node)
        self.applied_at = time.monotonic()
        done = self.backend.run(power.via, *off, check=False)
        if done.returncode != 0:
            self._disarm(power.via, f"power {node}")
            raise SiteproofError(f"{node}: the power off ({power.via}: {off[0]}) failed: "
                                 f"{(done.stderr or done.stdout).strip()[:300]}")
        return f"via {power.via}"

    def power_on(self, node: str) -> None:
        """The power-on now (its timer cancelled); returns once the host answers over SSH again."""
        power = self.policy.power
        if power is None:
            raise NotFaultable(f"a power on of {node}: the inventory names no power commands (faults.power)")
        if any(a.node == power.via and a.what == f"power {node}" for a in self.armed):
            self._disarm(power.via, f"power {node}")
        else:
            self.backend.run(power.via, *power.command("on", node, self.policy.bmcs.get(node)))
        wait_until(lambda: self.backend.run(node, "true", check=False, timeout=10).returncode == 0, "host_boot",
                   expected=f"{node} answers over SSH after its power-on", interval=5)

    def frozen_services(self, node: str) -> list[str]:
        """The daemon kinds a freeze stops: those the inventory lists for the host (configs, dirs)."""
        return [k for k in self.backend.services(node) if k not in NEVER_FROZEN]

    def thaw(self, node: str) -> None:
        # The network first, as in a lab: services that wake to deaf interfaces would each
        # declare every peer dead and take over.
        self._disarm(node, "freeze")
        for armed in [a for a in self.armed if a.node == node and a.what.startswith("freeze ")]:
            self._disarm(node, armed.what)

    # --- daemons, through the host's service manager ----------------------------------------
    def _service(self, node: str, kind: str, what: str) -> str:
        if kind in ("sshd", "mgmt-sshd"):
            raise FaultRefused(f"{what} of {kind} on {node}: refused, sshd carries siteproof's own session to the host")
        self._may_fault(node, f"{what} of {kind}")
        return f"service {kind}"

    def _command(self, node: str, action: str, kind: str) -> list[str]:
        directory = self.backend.daemon_dir(node, kind)
        return self.policy.command(action, kind, str(directory) if directory else None)

    def crash_daemon(self, node: str, kind: str) -> str:
        key = self._service(node, kind, "a crash")
        crash, start = self._command(node, "crash", kind), self._command(node, "start", kind)
        self._arm(node, key, start)
        self.applied_at = time.monotonic()
        self.backend.run(node, *crash)
        return f"{kind} ({' '.join(crash)})"

    def stop_daemons(self, nodes: list[str], kind: str) -> None:
        keys = {node: self._service(node, kind, "a clean stop") for node in nodes}  # every check before any change
        commands = {node: (self._command(node, "stop", kind), self._command(node, "start", kind)) for node in nodes}
        for node, key in keys.items():
            self._arm(node, key, commands[node][1])
        self.applied_at = time.monotonic()  # every undo armed first; then the stops, one after another
        for node in keys:
            self.backend.run(node, *commands[node][0])

    def start_daemon(self, node: str, kind: str) -> None:
        if any(a.node == node and a.what == f"service {kind}" for a in self.armed):
            self._disarm(node, f"service {kind}")  # its undo is the start itself
        else:
            self.backend.run(node, *self._command(node, "start", kind))

    def start_stopped(self, nodes: list[str], kind: str) -> None:
        for node in nodes:
            if any(a.node == node and a.what == f"service {kind}" for a in self.armed):
                self._disarm(node, f"service {kind}")
            elif self.backend.run(node, *self._command(node, "running", kind), check=False).returncode != 0:
                self.backend.run(node, *self._command(node, "start", kind))

    def undo_everything(self) -> None:
        """Every fault still armed, undone now (the runner's own clean-up)."""
        for armed in list(reversed(self.armed)):
            self._disarm(armed.node, armed.what)
